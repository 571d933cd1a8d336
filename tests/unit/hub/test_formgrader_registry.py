"""The chart's formgrader Secret as the hub reads it (``coursehub.hub.formgrader_registry``):
URLs and tokens by course, and problems that name the file and field."""

from __future__ import annotations

import json

import pytest
from traitlets.config import Config

from coursehub.hub.config import configured_services
from coursehub.hub.formgrader_registry import RegistryError, parse_registry, read_registry
from coursehub.hub.settings import HubSettings, SettingsError


def write(folder, listing: dict | str, tokens: dict[str, str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    text = listing if isinstance(listing, str) else json.dumps(listing)
    (folder / "formgraders.json").write_text(text)
    for course, token in tokens.items():
        (folder / f"{course}.token").write_text(token)


def test_reads_each_courses_url_and_token(tmp_path):
    write(
        tmp_path,
        {"ai-101": {"url": "http://coursehub-service:9000"}, "ml-201": {"url": "http://x:9001"}},
        {"ai-101": "secret-a", "ml-201": "secret-m\n"},
    )
    assert read_registry(tmp_path) == {
        "ai-101": ("http://coursehub-service:9000", "secret-a"),
        "ml-201": ("http://x:9001", "secret-m"),
    }


def test_an_empty_or_absent_mount_means_no_formgraders(tmp_path):
    # formgrader.enabled false: the optional Secret volume is an empty folder.
    assert read_registry(tmp_path) == {}
    assert read_registry(tmp_path / "absent") == {}


@pytest.mark.parametrize(
    ("listing", "tokens", "named"),
    [
        ("{not json", {}, "formgraders.json: not JSON"),
        ("[]", {}, "formgraders.json: expected an object of courses"),
        ({"AI 101": {"url": "http://x:1"}}, {"AI 101": "t"}, "'AI 101': not a course id"),
        ({"ai-101": {"url": "ftp://x"}}, {"ai-101": "t"}, "ai-101.url: expected an http(s) URL"),
        ({"ai-101": "http://x:1"}, {"ai-101": "t"}, "ai-101.url"),
        ({"ai-101": {"url": "http://x:1"}}, {}, "ai-101.token: missing or empty"),
        ({"ai-101": {"url": "http://x:1"}}, {"ai-101": " \n"}, "ai-101.token: missing or empty"),
    ],
)
def test_problems_name_the_file_and_field(tmp_path, listing, tokens, named):
    write(tmp_path, listing, tokens)
    with pytest.raises(RegistryError) as refused:
        read_registry(tmp_path)
    assert named in str(refused.value)
    assert str(tmp_path) in str(refused.value)


def test_a_course_id_with_a_trailing_newline_is_refused(tmp_path):
    with pytest.raises(RegistryError, match="not a course id"):
        parse_registry(tmp_path, json.dumps({"ai-101\n": {"url": "http://x:1"}}), {"ai-101\n": "t"})


def test_a_broken_registry_stops_the_hub_naming_the_setting_and_the_file(tmp_path, catalog):
    write(tmp_path / "mounted", {"ai-101": {"url": "http://x:1"}}, {})
    settings = HubSettings.from_environ(
        {
            "COURSEHUB_MODE": "production",
            "CONFIGPROXY_AUTH_TOKEN": "t",
            "COURSEHUB_COURSES_DIR": str(tmp_path / "courses"),
            "COURSEHUB_STATE_DIR": str(tmp_path / "state"),
            "COURSEHUB_FORMGRADERS_DIR": str(tmp_path / "mounted"),
        }
    )
    with pytest.raises(SettingsError) as refused:
        configured_services(Config(), settings, catalog, None)
    message = str(refused.value)
    assert f"COURSEHUB_FORMGRADERS_DIR={tmp_path / 'mounted'}" in message
    assert "ai-101.token: missing or empty" in message
