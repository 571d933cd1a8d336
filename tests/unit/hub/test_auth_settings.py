"""Demo sign-in and hub settings from the environment."""

from __future__ import annotations

import json
import stat

import pytest

from coursehub.hub.auth import DemoAuthenticator, ensure_passwords
from coursehub.hub.settings import HubSettings, SettingsError


def test_passwords_are_generated_once_and_kept(tmp_path):
    path = tmp_path / "state" / "demo-passwords.json"
    first = ensure_passwords(path, {"student1", "admin"})
    assert set(first) == {"student1", "admin"}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    second = ensure_passwords(path, {"student1", "admin", "student2"})
    assert second["student1"] == first["student1"]
    assert set(second) == {"student1", "admin", "student2"}
    assert json.loads(path.read_text()) == second


def test_catalog_usernames(catalog):
    assert catalog.usernames() == {
        "instructor1",
        "ta1",
        "student1",
        "student2",
        "instructor2",
        "student3",
    }


async def test_demo_authenticator(tmp_path):
    path = tmp_path / "demo-passwords.json"
    passwords = ensure_passwords(path, {"student1"})
    known = {"student1", "admin"}
    authenticator = DemoAuthenticator(passwords_file=str(path), known_usernames=lambda: known)
    good = {"username": "student1", "password": passwords["student1"]}
    assert await authenticator.authenticate(None, good) == {"name": "student1"}
    assert await authenticator.authenticate(None, {**good, "password": "wrong"}) is None
    assert await authenticator.authenticate(None, {"username": "eve", "password": "x"}) is None
    assert authenticator.check_allowed("student1")
    assert not authenticator.check_allowed("eve")
    known.discard("student1")  # dropped from the roster: refused without a restart
    assert not authenticator.check_allowed("student1")


DEV = {"COURSEHUB_MODE": "dev", "CONFIGPROXY_AUTH_TOKEN": "t", "KUBECONFIG": "/tmp/kc"}


def test_dev_settings_defaults(tmp_path):
    settings = HubSettings.from_environ({**DEV, "COURSEHUB_STATE_DIR": str(tmp_path)})
    assert settings.is_dev
    assert settings.namespace == "default"
    assert settings.hub_connect_url == "http://127.0.0.1:8081"
    assert settings.db_url == f"sqlite:///{tmp_path / 'jupyterhub.sqlite'}"
    assert settings.demo_passwords_file == tmp_path / "demo-passwords.json"
    assert settings.start_timeout == 600
    assert settings.home_pvc is True  # the dev cluster keeps claims as folders


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({**DEV, "COURSEHUB_MODE": "staging"}, "COURSEHUB_MODE='staging'"),
        ({**DEV, "COURSEHUB_HUB_PORT": "eighty"}, "COURSEHUB_HUB_PORT='eighty': not a whole"),
        ({**DEV, "CONFIGPROXY_AUTH_TOKEN": ""}, "CONFIGPROXY_AUTH_TOKEN is not set"),
        ({**DEV, "KUBECONFIG": ""}, "KUBECONFIG is not set"),
        ({**DEV, "COURSEHUB_PUBLIC_URL": "localhost:8000"}, "COURSEHUB_PUBLIC_URL="),
        ({**DEV, "COURSEHUB_HOME_PVC": "maybe"}, "COURSEHUB_HOME_PVC='maybe'"),
        (
            {**DEV, "COURSEHUB_STAFF_PRIORITY_CLASS": "Staff_Class"},
            "COURSEHUB_STAFF_PRIORITY_CLASS='Staff_Class': not a Kubernetes object name",
        ),
        (
            {**DEV, "COURSEHUB_STUDENT_PRIORITY_CLASS": "student class"},
            "COURSEHUB_STUDENT_PRIORITY_CLASS='student class'",
        ),
        (
            {**DEV, "COURSEHUB_MODE": "production", "COURSEHUB_DEV_ADMIN_TOKEN": "abc"},
            "COURSEHUB_DEV_ADMIN_TOKEN is set but COURSEHUB_MODE is 'production'",
        ),
    ],
)
def test_bad_settings_name_the_variable(environ, message):
    with pytest.raises(SettingsError, match=message.replace("(", r"\(")):
        HubSettings.from_environ(environ)


def test_priority_classes_come_from_the_environment():
    settings = HubSettings.from_environ(
        {
            **DEV,
            "COURSEHUB_STAFF_PRIORITY_CLASS": "coursehub-staff",
            "COURSEHUB_STUDENT_PRIORITY_CLASS": "coursehub-student",
        }
    )
    assert settings.staff_priority_class == "coursehub-staff"
    assert settings.student_priority_class == "coursehub-student"
    unset = HubSettings.from_environ(DEV)
    assert unset.staff_priority_class is None and unset.student_priority_class is None


def test_production_reaches_hub_and_proxy_through_their_services():
    settings = HubSettings.from_environ(
        {"COURSEHUB_MODE": "production", "CONFIGPROXY_AUTH_TOKEN": "t"}
    )
    assert settings.hub_connect_url == "http://hub:8081"
    assert settings.proxy_api_url == "http://proxy-api:8001"
    assert settings.admin_token is None


def test_missing_courses_folder_names_the_setting(tmp_path):
    from traitlets.config import Config

    from coursehub.hub.config import configure

    settings = HubSettings.from_environ(
        {**DEV, "COURSEHUB_STATE_DIR": str(tmp_path), "COURSEHUB_COURSES_DIR": "/nonexistent"}
    )
    with pytest.raises(SettingsError, match=r"COURSEHUB_COURSES_DIR=/nonexistent: .*course\.yaml"):
        configure(Config(), settings)
