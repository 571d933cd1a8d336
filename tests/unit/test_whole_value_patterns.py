"""Review §14: every validation pattern of the catalog, the hub and the service matches the
whole value. Python's ``re.match`` with ``$`` accepts a value with a trailing newline
(``"ai-101\\n"``); each validator here gets one and must refuse it.

The course model's patterns are checked by pydantic, whose default (Rust) regex engine
reads ``$`` as the end of the text; the Python-side checks use ``re.fullmatch``.
"""

from __future__ import annotations

import copy

import pytest
from pydantic import ValidationError

from coursehub.catalog.model import Course
from coursehub.catalog.roster import row_problem
from coursehub.gpu.nodes import gpu_kind
from coursehub.hub.settings import HubSettings, SettingsError
from coursehub.service.api.base import check_username
from coursehub.service.rules import Refusal
from coursehub.signin.rules import base_username

COURSE = {
    "id": "ai-101",
    "title": "AI",
    "term": "t",
    "staff": {"instructors": ["teacher"]},
    "students": ["alice"],
    "environments": [
        {
            "slug": "gpu",
            "display_name": "GPU",
            "image": "img:1",
            "gpu": {"count": 1, "resource": "nvidia.com/gpu", "product": "A100"},
        }
    ],
    "shared_data": [{"name": "data", "claim": "data", "mount_path": "/data"}],
    "assignments": [{"name": "ps1", "title": "PS 1", "due": "2030-01-01T00:00:00+00:00"}],
    "lti": {"context_ids": ["ctx-1"]},
}


def test_the_sample_course_is_valid():
    Course.model_validate(COURSE, strict=False)


@pytest.mark.parametrize(
    "path",
    [
        ("id",),
        ("staff", "instructors", 0),
        ("students", 0),
        ("environments", 0, "slug"),
        ("environments", 0, "image"),
        ("environments", 0, "gpu", "resource"),
        ("environments", 0, "gpu", "product"),
        ("shared_data", 0, "mount_path"),
        ("assignments", 0, "name"),
        ("lti", "context_ids", 0),
    ],
    ids=lambda path: ".".join(map(str, path)),
)
def test_course_fields_refuse_a_trailing_newline(path):
    data = copy.deepcopy(COURSE)
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] += "\n"
    with pytest.raises(ValidationError) as refused:
        Course.model_validate(data, strict=False)
    assert refused.value.errors()[0]["type"] == "string_pattern_mismatch"


@pytest.mark.parametrize(
    ("record", "field"),
    [
        ({"username": "student1\n"}, "username"),
        ({"username": "student1", "email": "student1@uni.example\n"}, "email"),
    ],
)
def test_roster_rows_refuse_a_trailing_newline(record, field):
    where, message = row_problem(record, {})
    assert (where, message is not None) == (field, True)


def test_service_usernames_refuse_a_trailing_newline():
    assert check_username("student1") == "student1"
    with pytest.raises(Refusal):
        check_username("student1\n")


def test_priority_class_names_refuse_a_trailing_newline(tmp_path):
    environ = {
        "COURSEHUB_MODE": "production",
        "CONFIGPROXY_AUTH_TOKEN": "t",
        "COURSEHUB_STATE_DIR": str(tmp_path),
        "COURSEHUB_STAFF_PRIORITY_CLASS": "coursehub-staff\n",
    }
    with pytest.raises(SettingsError, match="COURSEHUB_STAFF_PRIORITY_CLASS"):
        HubSettings.from_environ(environ)


def test_a_mig_resource_with_a_trailing_newline_is_no_mig_slice():
    assert gpu_kind("nvidia.com/mig-1g.10gb", None)[0] == "MIG 1g.10gb GPU slice"
    assert "MIG" not in gpu_kind("nvidia.com/mig-1g.10gb\n", None)[0]


def test_a_derived_username_never_keeps_a_line_break():
    assert base_username("jane\n@uni.example", "sub-1").startswith("user-")
    assert base_username("student1\n", "sub-1") == "student1"  # surrounding space is trimmed
