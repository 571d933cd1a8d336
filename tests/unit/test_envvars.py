"""The one settings reader (``coursehub.envvars``): every value goes through one parser with
one error wording, defaults follow the mode, secrets stay out of sight, and the data agrees
with the settings objects that read it."""

from __future__ import annotations

import re
from dataclasses import MISSING, fields

import pytest

from coursehub import envvars
from coursehub.envvars import (
    BY_OWNER,
    VARIABLES,
    Environment,
    Invalid,
    Kind,
    SettingsError,
    Variable,
    parse,
)
from coursehub.grading.settings import GradingSettings, GradingSettingsError
from coursehub.hub.auth_settings import AuthSettings, LTISettings, OIDCSettings
from coursehub.hub.settings import HubSettings
from coursehub.service.lms_settings import LMSSettings
from coursehub.service.settings import ServiceSettings, ServiceSettingsError
from coursehub.signin.rules import DEFAULT_COURSE_PATTERN

DEV_HUB = {"COURSEHUB_MODE": "dev", "CONFIGPROXY_AUTH_TOKEN": "t", "KUBECONFIG": "/tmp/kc"}
OIDC = {
    "COURSEHUB_AUTH": "oidc",
    "COURSEHUB_OIDC_ISSUER": "https://sso.example.edu",
    "COURSEHUB_OIDC_CLIENT_ID": "c",
    "COURSEHUB_OIDC_CLIENT_SECRET": "s",
}
LTI = {
    "COURSEHUB_AUTH": "lti",
    "COURSEHUB_LTI_ISSUER": "https://canvas.instructure.com",
    "COURSEHUB_LTI_CLIENT_IDS": "1",
    "COURSEHUB_LTI_AUTHORIZE_URL": "https://lms.example.edu/authorize",
    "COURSEHUB_LTI_JWKS_URL": "https://lms.example.edu/jwks",
}


@pytest.mark.parametrize(
    ("owner", "name", "raw", "problem"),
    [
        ("HubSettings", "COURSEHUB_HUB_PORT", "0", "not a whole number of at least 1"),
        ("HubSettings", "COURSEHUB_HUB_PORT", "-5", "not a whole number of at least 1"),
        ("HubSettings", "COURSEHUB_CATALOG_POLL_SECONDS", "0", "not a number of seconds above 0"),
        (
            "HubSettings",
            "COURSEHUB_CATALOG_POLL_SECONDS",
            "nan",
            "not a number of seconds above 0",
        ),
        ("HubSettings", "COURSEHUB_HOME_PVC", "maybe", "not 1 or 0 (or true/false, yes/no)"),
        ("HubSettings", "COURSEHUB_PUBLIC_URL", "ftp://hub", "not an http(s) URL"),
        ("HubSettings", "COURSEHUB_MODE", "staging", "not one of dev, production"),
        (
            "HubSettings",
            "COURSEHUB_STAFF_PRIORITY_CLASS",
            "staff\n",
            "not a Kubernetes object name (lower-case letters, digits, '-' and '.')",
        ),
        ("ServiceSettings", "COURSEHUB_MAX_FILE_MB", "lots", "not a number of megabytes above 0"),
        ("ServiceSettings", "COURSEHUB_MAX_FILES", "1e3", "not a whole number of at least 1"),
        (
            "ServiceSettings",
            "COURSEHUB_GPU_ENFORCE_SECONDS",
            "0.01",
            "not a number of seconds between 0.1 and 3600",
        ),
        (
            "ServiceSettings",
            "JUPYTERHUB_SERVICE_URL",
            "http://0.0.0.0",
            "not an http URL with a host and port",
        ),
        (
            "GradingSettings",
            "COURSEHUB_GRADING_POD_LABELS",
            "{}",
            "not a JSON object with at least one key",
        ),
        (
            "GradingSettings",
            "COURSEHUB_GRADING_PARALLELISM",
            "many",
            "not 'auto' or a whole number of at least 1",
        ),
        ("AuthSettings", "COURSEHUB_USERNAME_DOMAIN", "uni", "not a domain"),
        ("LMSSettings", "COURSEHUB_LMS_TOKEN_URL", "token.php", "not an http(s) URL"),
        (
            "OIDCSettings",
            "COURSEHUB_OIDC_COURSE_PATTERN",
            "(?P<course>x)",
            "needs the named groups (?P<course>…) and (?P<role>…)",
        ),
    ],
)
def test_a_bad_value_names_the_variable_the_value_the_problem_and_a_good_value(
    owner, name, raw, problem
):
    with pytest.raises(SettingsError) as refused:
        Environment({name: raw}, owner)(name)
    example = BY_OWNER[owner][name].good_example
    assert str(refused.value) == f"{name}={raw!r}: {problem}; e.g. {example}"
    # and the good value it offers is one
    Environment({name: example}, owner)(name)


def test_every_example_and_every_written_default_is_a_value_the_parser_accepts():
    for variable in VARIABLES:
        parse(variable, variable.good_example)
        for default in (variable.default, variable.dev):
            if isinstance(default, str):
                parse(variable, default)


def test_each_settings_object_raises_the_one_error_under_its_old_name_too():
    with pytest.raises(ServiceSettingsError, match="COURSEHUB_MAX_FILES='0': not a whole"):
        ServiceSettings.from_environ({"COURSEHUB_MAX_FILES": "0"})
    with pytest.raises(GradingSettingsError, match="COURSEHUB_GRADING_UID_BASE='x': not a"):
        GradingSettings.from_environ({"COURSEHUB_GRADING_UID_BASE": "x"})
    assert ServiceSettingsError is GradingSettingsError is SettingsError


def test_defaults_follow_the_mode():
    assert Environment({}, "HubSettings", dev=True)("COURSEHUB_START_TIMEOUT") == 600
    assert Environment({}, "HubSettings", dev=False)("COURSEHUB_START_TIMEOUT") == 900
    assert Environment({}, "HubSettings", dev=False)("COURSEHUB_NAMESPACE") is None
    dev = ServiceSettings.from_environ({"COURSEHUB_MODE": "dev"})
    production = ServiceSettings.from_environ({})
    assert dev.data_dir.parts[-2:] == (".coursehub-dev", "service")
    assert str(production.data_dir) == "/srv/coursehub"


def test_a_missing_required_value_says_why_it_is_needed():
    with pytest.raises(SettingsError) as refused:
        Environment({}, "HubSettings", dev=True)("KUBECONFIG")
    assert str(refused.value).startswith("KUBECONFIG is not set: in dev mode it must name")
    # required only in dev: production uses the in-cluster config
    assert Environment({}, "HubSettings", dev=False)("KUBECONFIG") is None


def test_a_dev_only_variable_set_in_production_stops_the_start():
    environ = {"COURSEHUB_DEV_CLOCK_OFFSET_FILE": "/tmp/offset"}
    with pytest.raises(SettingsError) as refused:
        ServiceSettings.from_environ(environ)
    assert str(refused.value) == (
        "COURSEHUB_DEV_CLOCK_OFFSET_FILE is set but COURSEHUB_MODE is 'production': moving "
        "the clock is for tests only; unset it"
    )
    dev = ServiceSettings.from_environ({**environ, "COURSEHUB_MODE": "dev"})
    assert str(dev.clock_offset_file) == "/tmp/offset"


def test_a_line_end_is_ignored_except_in_names_which_must_be_exact():
    hub = Environment(
        {"COURSEHUB_HUB_PORT": " 8082\n", "COURSEHUB_PUBLIC_URL": "http://h/\n"}, "HubSettings"
    )
    assert hub("COURSEHUB_HUB_PORT") == 8082
    assert hub("COURSEHUB_PUBLIC_URL") == "http://h"  # a base URL: trailing / dropped too
    with pytest.raises(SettingsError, match="not a Kubernetes object name"):
        Environment({"COURSEHUB_STAFF_PRIORITY_CLASS": "staff\n"}, "HubSettings")(
            "COURSEHUB_STAFF_PRIORITY_CLASS"
        )


def test_an_empty_value_is_unset_unless_empty_means_something():
    oidc = Environment(
        {"COURSEHUB_OIDC_SCOPES": "", "COURSEHUB_OIDC_COURSE_CLAIM": ""}, "OIDCSettings"
    )
    assert oidc("COURSEHUB_OIDC_SCOPES") == ("openid", "profile", "email")
    assert oidc("COURSEHUB_OIDC_COURSE_CLAIM") == ""  # documented: rosters only
    assert Environment({}, "OIDCSettings")("COURSEHUB_OIDC_COURSE_CLAIM") == "groups"
    # a list of separators only names nothing: as if unset
    with pytest.raises(SettingsError, match="COURSEHUB_LTI_CLIENT_IDS is not set"):
        Environment({"COURSEHUB_LTI_CLIENT_IDS": " , "}, "LTISettings")("COURSEHUB_LTI_CLIENT_IDS")


def test_a_secret_is_never_shown_in_an_error():
    def picky(text: str) -> str:
        raise Invalid("not a token")

    variable = Variable("COURSEHUB_X", "T", Kind("secret", picky, secret=True), "a token")
    with pytest.raises(SettingsError) as refused:
        parse(variable, "hunter2-secret")
    assert "hunter2" not in str(refused.value)
    assert str(refused.value).startswith("COURSEHUB_X=<hidden>: not a token")


def secret_values(owner: str, dev: bool) -> dict[str, str]:
    """A distinct value for each secret variable of ``owner`` (a database URL with a
    password), leaving out those refused in the mode."""
    values = {}
    for name, variable in BY_OWNER[owner].items():
        if variable.kind.secret and (dev or not variable.refused_in_production):
            token = f"secret-{name.lower()}-5e0b7d"
            values[name] = f"postgresql://u:{token}@db/x" if "DB_URL" in name else token
    return values


@pytest.mark.parametrize("dev", [True, False], ids=["dev", "production"])
def test_no_settings_object_shows_a_value_the_data_marks_secret(dev):
    hub_secrets = secret_values("HubSettings", dev) | secret_values("OIDCSettings", dev)
    environ = {**DEV_HUB, **OIDC, **hub_secrets}
    if not dev:
        environ["COURSEHUB_MODE"] = "production"
    hub = HubSettings.from_environ(environ)
    service_secrets = secret_values("ServiceSettings", dev)
    service = ServiceSettings.from_environ(
        {**service_secrets, "COURSEHUB_MODE": "dev" if dev else "production"}
    )
    for settings, secrets in (
        (hub, hub_secrets),
        (hub.auth.oidc, hub_secrets),
        (service, service_secrets),
    ):
        text = repr(settings) + str(settings)
        assert [name for name, value in secrets.items() if value in text] == []
    assert hub.auth.oidc.client_secret == hub_secrets["COURSEHUB_OIDC_CLIENT_SECRET"]


class Recording(dict):
    """An environment that remembers every name read from it."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.read: set[str] = set()

    def get(self, name, default=None):
        self.read.add(name)
        return super().get(name, default)

    def __getitem__(self, name):
        self.read.add(name)
        return super().__getitem__(name)

    def __contains__(self, name):
        self.read.add(name)
        return super().__contains__(name)


def names_of(*owners: str) -> set[str]:
    return {name for owner in owners for name in BY_OWNER[owner]}


def test_the_settings_objects_read_exactly_the_variables_the_data_lists():
    read: set[str] = set()
    for environ in (
        DEV_HUB,
        {**DEV_HUB, **OIDC},
        {**DEV_HUB, "COURSEHUB_MODE": "production", **LTI},
    ):
        recording = Recording(environ)
        HubSettings.from_environ(recording)
        read |= recording.read
    assert read == names_of("HubSettings", "AuthSettings", "OIDCSettings", "LTISettings")
    read = set()
    for environ in ({"COURSEHUB_MODE": "dev"}, {}):
        recording = Recording(environ)
        ServiceSettings.from_environ(recording)
        read |= recording.read
    assert read == names_of("ServiceSettings")
    recording = Recording()
    GradingSettings.from_environ(recording)
    assert recording.read == names_of("GradingSettings")


def test_reading_a_variable_the_data_lacks_is_a_programming_error():
    with pytest.raises(LookupError, match="HubSettings reads COURSEHUB_NOPE"):
        Environment({}, "HubSettings")("COURSEHUB_NOPE")
    with pytest.raises(TypeError, match="derived"):
        Environment({}, "HubSettings")("COURSEHUB_DB_URL")  # its default is the caller's
    with pytest.raises(TypeError, match="derived"):
        Environment({}, "HubSettings")("COURSEHUB_HUB_PORT", default="1")


@pytest.mark.parametrize(
    ("cls", "built", "not_from_the_environment"),
    [
        (GradingSettings, lambda: GradingSettings.from_environ({}), set()),
        (
            ServiceSettings,
            lambda: ServiceSettings.from_environ({}),
            {"catalog_poll_seconds"},  # the service polls the catalog at a fixed pace
        ),
        (HubSettings, lambda: HubSettings.from_environ({"CONFIGPROXY_AUTH_TOKEN": "t"}), set()),
        (AuthSettings, lambda: AuthSettings.from_environ({}, dev=False), set()),
        (OIDCSettings, lambda: AuthSettings.from_environ(OIDC, dev=False).oidc, set()),
        (LTISettings, lambda: AuthSettings.from_environ(LTI, dev=False).lti, set()),
        (LMSSettings, lambda: LMSSettings.from_environ({}), set()),
    ],
)
def test_the_dataclass_defaults_are_the_production_defaults_of_the_data(
    cls, built, not_from_the_environment
):
    settings = built()
    for field in fields(cls):
        if field.name in not_from_the_environment:
            continue
        if field.default is not MISSING:
            assert getattr(settings, field.name) == field.default, field.name
        elif field.default_factory is not MISSING:
            assert getattr(settings, field.name) == field.default_factory(), field.name


def test_the_default_course_pattern_is_the_sign_in_rules_one():
    assert BY_OWNER["OIDCSettings"]["COURSEHUB_OIDC_COURSE_PATTERN"].default == (
        DEFAULT_COURSE_PATTERN
    )


def test_a_variable_read_by_several_settings_objects_is_parsed_the_same_way_by_each():
    kinds: dict[str, set[str]] = {}
    for variable in VARIABLES:
        kinds.setdefault(variable.name, set()).add(variable.kind.shown)
    assert {name: shown for name, shown in kinds.items() if len(shown) > 1} == {}


def test_every_variable_has_help_and_a_name_in_the_usual_shape():
    for variable in VARIABLES:
        assert variable.help.strip(), variable.name
        assert re.fullmatch(
            r"(COURSEHUB|JUPYTERHUB)_[A-Z0-9_]+|CONFIGPROXY_AUTH_TOKEN|KUBECONFIG", variable.name
        )
    assert envvars.BY_OWNER.keys() == {
        "HubSettings",
        "AuthSettings",
        "OIDCSettings",
        "LTISettings",
        "ServiceSettings",
        "GradingSettings",
        "LMSSettings",
    }
