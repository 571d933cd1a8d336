"""coursehub's environment variables, described once as data, and the one reader for them.

``VARIABLES`` lists every variable a settings object reads (``HubSettings``,
``AuthSettings``, ``OIDCSettings``, ``LTISettings``, ``ServiceSettings``,
``GradingSettings``): its kind, its defaults in dev and production, and a line of help.
``Environment(environ, owner, dev)`` is how a settings object reads them; every value goes
through ``parse``, so a bad one always reads ``COURSEHUB_X='value': what is wrong; e.g.
what works`` and a missing one ``COURSEHUB_X is not set: why it is needed``. The settings
tables in ``docs/`` are generated from the same data (``python -m coursehub.envvars
docs/*.md`` rewrites them; a unit test keeps them current).
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse


class SettingsError(ValueError):
    """An environment variable with a value coursehub cannot use; the message names it."""


class Invalid(ValueError):
    """Raised by a kind's parser: what is wrong with the value, without the name."""


# ----- kinds: how a value is written and what it becomes ---------------------------------


@dataclass(frozen=True)
class Kind:
    """How one kind of value is parsed. ``parse`` gets the text (surrounding whitespace
    removed unless ``trims`` is off) and raises ``Invalid`` saying what is wrong."""

    shown: str  # the type column of the docs
    parse: Callable[[str], Any]
    example: str = ""
    # A value from a file or a YAML block often ends in a line break: ignore it. Kinds
    # that must be taken exactly (names compared byte for byte) refuse it instead.
    trims: bool = True
    secret: bool = False  # never shown, not even in an error
    # Whether a (trimmed) value counts as not set; for lists, one of only separators.
    blank: Callable[[str], bool] = lambda text: text == ""


def _text(text: str) -> str:
    return text


def _whole(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        if not re.fullmatch(r"[0-9]+", text) or int(text) < minimum:
            raise Invalid(f"not a whole number of at least {minimum}")
        return int(text)

    return parse


def _number(unit: str, above: float = 0, most: float | None = None) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if most is None and not value > above:
            raise Invalid(f"not a number of {unit} above {above:g}")
        if most is not None and not above <= value <= most:
            raise Invalid(f"not a number of {unit} between {above:g} and {most:g}")
        return value

    return parse


def _whole_or_auto(text: str) -> int | None:
    if text.lower() == "auto":
        return None
    try:
        return _whole(1)(text)
    except Invalid:
        raise Invalid("not 'auto' or a whole number of at least 1") from None


FLAG_VALUES = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}


def _flag(text: str) -> bool:
    try:
        return FLAG_VALUES[text.lower()]
    except KeyError:
        raise Invalid("not 1 or 0 (or true/false, yes/no)") from None


def _url(schemes: tuple[str, ...], port: bool = False, base: bool = False) -> Callable:
    wanted = " or ".join(schemes) if len(schemes) > 1 else schemes[0]
    wanted = "http(s)" if set(schemes) == {"http", "https"} else wanted
    what = f"an {wanted} URL" + (" with a host and port" if port else "")

    def parse(text: str) -> str:
        parsed = urlparse(text)
        try:
            has_port = parsed.port is not None
        except ValueError:
            has_port = False
        if parsed.scheme not in schemes or not parsed.hostname or (port and not has_port):
            raise Invalid(f"not {what}")
        # A base URL others append paths to: without a trailing slash.
        return text.rstrip("/") if base else text

    return parse


# A Kubernetes object name (DNS-1123 subdomain), as PriorityClass names must be.
K8S_NAME_PATTERN = re.compile(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?")


def _k8s_name(text: str) -> str:
    if len(text) > 253 or not K8S_NAME_PATTERN.fullmatch(text):
        raise Invalid("not a Kubernetes object name (lower-case letters, digits, '-' and '.')")
    return text


DOMAIN_PATTERN = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+")


def _domain(text: str) -> str:
    domain = text.lower().removeprefix("@")
    if len(domain) > 253 or not DOMAIN_PATTERN.fullmatch(domain):
        raise Invalid("not a domain")
    return domain


def _words(text: str) -> tuple[str, ...]:
    return tuple(part for part in re.split(r"[\s,]+", text) if part)


def _json_object(non_empty: bool) -> Callable[[str], dict]:
    def parse(text: str) -> dict:
        try:
            value = json.loads(text)
        except ValueError as error:
            raise Invalid(f"not a JSON object ({error})") from None
        if not isinstance(value, dict) or (non_empty and not value):
            raise Invalid("not a JSON object" + (" with at least one key" if non_empty else ""))
        return value

    return parse


def _regex(groups: tuple[str, ...]) -> Callable[[str], str]:
    def parse(text: str) -> str:
        try:
            compiled = re.compile(text)
        except re.error as error:
            raise Invalid(f"not a regular expression: {error}") from None
        if not set(groups) <= set(compiled.groupindex):
            named = " and ".join(f"(?P<{group}>…)" for group in groups)
            raise Invalid(f"needs the named groups {named}")
        return text

    return parse


def _choice(choices: tuple[str, ...]) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text not in choices:
            raise Invalid(f"not one of {', '.join(choices)}")
        return text

    return parse


TEXT = Kind("text", _text)
SECRET = Kind("secret", _text, secret=True)
DATABASE_URL = Kind("SQLAlchemy URL (secret: it may hold a password)", _text, secret=True)
PATH = Kind("path", Path, example="/srv/coursehub")
PATHS = Kind(
    f"paths, `{os.pathsep}`-separated",
    lambda text: tuple(part for part in text.split(os.pathsep) if part),
    example="/srv/state",
)
WHOLE = Kind("whole number ≥ 1", _whole(1), example="1")
SECONDS = Kind("seconds > 0", _number("seconds"), example="2")
MEGABYTES = Kind("megabytes > 0", _number("megabytes"), example="20")
FLAG = Kind("`1` or `0`", _flag, example="1")
URL = Kind("http(s) URL", _url(("http", "https")), example="https://sso.example.edu")
BASE_URL = Kind(
    "http(s) URL (a trailing `/` is dropped)",
    _url(("http", "https"), base=True),
    example="http://hub:8081",
)
BIND_URL = Kind(
    "http URL with host and port", _url(("http",), port=True), example="http://0.0.0.0:8090"
)
K8S_NAME = Kind("Kubernetes name", _k8s_name, example="coursehub-staff", trims=False)
DOMAIN = Kind("domain", _domain, example="uni.edu")
WORDS = Kind("list (commas or spaces)", _words, example="a,b", blank=lambda text: not _words(text))
JSON_OBJECT = Kind("JSON object", _json_object(non_empty=False), example='{"key": "value"}')
JSON_LABELS = Kind(
    "JSON object", _json_object(non_empty=True), example='{"coursehub.io/component": "grading"}'
)
COURSE_PATTERN = Kind(
    "regular expression with groups `course`, `role`",
    _regex(("course", "role")),
    example=r"^(?P<course>[a-z0-9-]+):(?P<role>[a-z]+)$",
)
WHOLE_OR_AUTO = Kind("`auto` or whole number ≥ 1", _whole_or_auto, example="auto")


def choice(*choices: str) -> Kind:
    return Kind(" or ".join(f"`{value}`" for value in choices), _choice(choices), choices[0])


def seconds(least: float, most: float) -> Kind:
    return Kind(f"seconds, {least:g} to {most:g}", _number("seconds", least, most), str(most))


# ----- defaults that are not a plain value -----------------------------------------------


@dataclass(frozen=True)
class Unset:
    """No default: the setting is None. ``shown`` says what that means (docs)."""

    shown: str = "unset"


@dataclass(frozen=True)
class Required:
    """The variable must be set; ``reason`` ends the error saying it is not."""

    reason: str


@dataclass(frozen=True)
class Derived:
    """A default computed from other settings by the settings object (which passes it);
    ``shown`` is how the docs write it."""

    shown: str


Default = str | Unset | Required | Derived


@dataclass(frozen=True)
class Variable:
    name: str
    owner: str  # the settings class that reads it (one entry per reader)
    kind: Kind
    help: str  # Markdown, for the docs table
    default: Default = Unset()  # production's, and dev's unless ``dev`` is given
    dev: Default | None = None
    example: str = ""  # a good value, for errors (default: the default, else the kind's)
    # Shown instead of a default where the mode never uses the value.
    dev_only: str = ""  # what decides in production
    production_only: str = ""  # what decides in dev
    # Set outside dev mode: the program refuses to start, with this reason.
    refused_in_production: str = ""
    # An empty value is a value (not "unset").
    empty_is_value: bool = False

    def default_in(self, dev: bool) -> Default:
        return self.dev if dev and self.dev is not None else self.default

    @property
    def good_example(self) -> str:
        if self.example:
            return self.example
        return self.default if isinstance(self.default, str) else self.kind.example


def parse(variable: Variable, raw: str) -> Any:
    """The one parser: ``raw`` as ``variable``'s kind, or ``SettingsError`` in the one
    wording."""
    text = raw.strip() if variable.kind.trims else raw
    try:
        return variable.kind.parse(text)
    except Invalid as problem:
        shown = "<hidden>" if variable.kind.secret else repr(raw)
        raise SettingsError(
            f"{variable.name}={shown}: {problem}; e.g. {variable.good_example}"
        ) from None


class Environment:
    """One settings object's reading of ``environ`` (``owner``: its class name)."""

    def __init__(self, environ: Mapping[str, str], owner: str, dev: bool = False):
        self.environ = environ
        self.owner = owner
        self.dev = dev

    def variable(self, name: str) -> Variable:
        try:
            return BY_OWNER[self.owner][name]
        except KeyError:
            raise LookupError(f"{self.owner} reads {name}, which coursehub.envvars lacks") from None

    def is_set(self, name: str) -> bool:
        return self._text(self.variable(name)) is not None

    def __call__(self, name: str, default: str | None = None) -> Any:
        """The value of ``name``: parsed, else its default parsed (``default`` only for a
        ``Derived`` one), else None (``Unset``); ``SettingsError`` if bad or required."""
        variable = self.variable(name)
        raw = self._text(variable)
        if raw is not None and variable.refused_in_production and not self.dev:
            raise SettingsError(
                f"{name} is set but COURSEHUB_MODE is 'production': "
                f"{variable.refused_in_production}; unset it"
            )
        fallback = variable.default_in(self.dev)
        if (default is not None) != isinstance(fallback, Derived):
            raise TypeError(f"{name}: pass default= exactly when it is derived ({fallback})")
        if raw is None:
            if isinstance(fallback, Required):
                raise SettingsError(f"{name} is not set: {fallback.reason}")
            if isinstance(fallback, Unset):
                return None
            raw = default if isinstance(fallback, Derived) else fallback
        return parse(variable, raw)

    def _text(self, variable: Variable) -> str | None:
        """The variable's text, or None when it is not set (absent, or blank)."""
        raw = self.environ.get(variable.name)
        if raw is None:
            return None
        text = raw.strip() if variable.kind.trims else raw
        if variable.kind.blank(text) and not variable.empty_is_value:
            return None
        return raw


# ----- the variables -----------------------------------------------------------------------

HUB = "HubSettings"
AUTH = "AuthSettings"
OIDC = "OIDCSettings"
LTI = "LTISettings"
SERVICE = "ServiceSettings"
GRADING = "GradingSettings"
LMS = "LMSSettings"
MODE = choice("dev", "production")
COURSES_DIR_HELP = "the course catalog (`<course-id>/course.yaml`)"
OWNED_BY_THE_SERVICE = "the service's own ([assignments.md](assignments.md#settings))"
NAME_CLAIMS_DEFAULT = "email,preferred_username"

VARIABLES: tuple[Variable, ...] = (
    # The hub (coursehub.hub.settings).
    # The mode picks the other defaults; its own "dev default" is what `coursehub dev` sets.
    Variable("COURSEHUB_MODE", HUB, MODE, "which defaults apply", "production", dev="dev"),
    Variable(
        "COURSEHUB_COURSES_DIR",
        HUB,
        PATH,
        COURSES_DIR_HELP,
        "/etc/coursehub/courses",
        dev="courses",
    ),
    Variable(
        "COURSEHUB_STATE_DIR",
        HUB,
        PATH,
        "the hub's database and cookie secret; in dev also the demo passwords and the "
        "service's data",
        "/srv/jupyterhub",
        dev=".coursehub-dev",
    ),
    Variable(
        "COURSEHUB_PUBLIC_URL",
        HUB,
        BASE_URL,
        "the URL people open: the proxy",
        "http://127.0.0.1:8000",
        dev_only="the proxy's Service or ingress ([deploy.md](deploy.md), step 7)",
    ),
    Variable("COURSEHUB_HUB_IP", HUB, TEXT, "where the hub listens", "0.0.0.0", dev="127.0.0.1"),
    Variable("COURSEHUB_HUB_PORT", HUB, WHOLE, "the hub's port", "8081"),
    Variable(
        "COURSEHUB_HUB_CONNECT_URL",
        HUB,
        BASE_URL,
        "how pods and the proxy reach the hub",
        Derived("`http://hub:<hub port>` (z2jh's Service)"),
        dev=Derived("`http://<hub ip>:<hub port>`"),
    ),
    Variable(
        "COURSEHUB_PROXY_API_URL",
        HUB,
        BASE_URL,
        "configurable-http-proxy's API",
        "http://proxy-api:8001",
        dev="http://127.0.0.1:8001",
    ),
    Variable(
        "CONFIGPROXY_AUTH_TOKEN",
        HUB,
        SECRET,
        "the proxy API's token, shared with the proxy",
        Required(
            "the hub needs the token of the configurable-http-proxy API (coursehub dev and "
            "the Helm chart set it)"
        ),
    ),
    Variable(
        "COURSEHUB_DEV_ADMIN_TOKEN",
        HUB,
        SECRET,
        "an admin API token the hub accepts (dev and tests)",
        refused_in_production="an admin token from an environment variable is for development only",
    ),
    Variable(
        "COURSEHUB_DEV_HUB_CLIENT_TOKEN",
        HUB,
        SECRET,
        "the hub's own token towards the coursehub service (identity `coursehub-hub`), so "
        "tests can act as the hub",
        Unset("a new random one at every hub start"),
        refused_in_production="the hub's token towards the service is chosen at each start there",
    ),
    Variable(
        "COURSEHUB_NAMESPACE",
        HUB,
        TEXT,
        "the namespace of user pods",
        Unset("the hub's own"),
        dev="default",
    ),
    Variable(
        "COURSEHUB_DB_URL",
        HUB,
        DATABASE_URL,
        "the hub's database (the chart: PostgreSQL)",
        Derived("`sqlite:///<state>/jupyterhub.sqlite`"),
    ),
    Variable(
        "COURSEHUB_CATALOG_POLL_SECONDS",
        HUB,
        SECONDS,
        "how often the hub checks the catalog and the service's memberships",
        "2",
    ),
    Variable(
        "COURSEHUB_GPU_TELEMETRY_SECONDS",
        HUB,
        seconds(1, 300),
        "how often each GPU server reports its GPU utilisation, memory and kernel activity "
        "to the coursehub service (handed to every notebook pod; idle GPU culling and used "
        "GPU-hours come from these reports)",
        "30",
    ),
    Variable(
        "COURSEHUB_START_TIMEOUT",
        HUB,
        WHOLE,
        "seconds a spawn may take",
        "900",
        dev="600",
        dev_only="z2jh's `singleuser.startTimeout` (the chart: `900`)",
    ),
    Variable(
        "COURSEHUB_HOME_PVC",
        HUB,
        FLAG,
        "`1`: a home claim per user (the dev cluster keeps each claim as a folder, so work "
        "survives a server restart)",
        "1",
        dev_only="z2jh's `singleuser.storage` (the chart: a 10Gi claim per user)",
    ),
    Variable(
        "COURSEHUB_STAFF_PRIORITY_CLASS",
        HUB,
        K8S_NAME,
        "the PriorityClass of servers started by course staff and admins (the chart: "
        "`coursehub-staff`, from its `priorityClasses`)",
        Unset("none"),
    ),
    Variable(
        "COURSEHUB_STUDENT_PRIORITY_CLASS",
        HUB,
        K8S_NAME,
        "the PriorityClass of students' servers (the chart: `coursehub-student`)",
        Unset("none"),
        example="coursehub-student",
    ),
    Variable(
        "COURSEHUB_SERVICE_URL",
        HUB,
        BASE_URL,
        "how pods and the hub reach the coursehub service, without its prefix",
        Derived("`http://coursehub:8090` (its Deployment's Service)"),
        dev=Derived("`http://<hub ip>:<COURSEHUB_SERVICE_PORT>` (the hub runs it)"),
    ),
    Variable(
        "COURSEHUB_SERVICE_PORT",
        HUB,
        WHOLE,
        "the port of the coursehub service the hub runs",
        "8090",
        dev_only="the service's own Deployment",
    ),
    Variable(
        "COURSEHUB_SERVICE_DATA_DIR",
        HUB,
        PATH,
        "handed on to the coursehub service the hub runs",
        Derived("`<state>/service`"),
        dev_only=OWNED_BY_THE_SERVICE,
    ),
    Variable(
        "COURSEHUB_SERVICE_DB_URL",
        HUB,
        DATABASE_URL,
        "handed on to the coursehub service the hub runs",
        Unset("SQLite in its data folder"),
        dev_only=OWNED_BY_THE_SERVICE,
    ),
    Variable(
        "COURSEHUB_SERVICE_API_TOKEN",
        HUB,
        SECRET,
        "the external coursehub service's hub API token (from a Secret)",
        Unset("the hub runs without the service: no assignments"),
        production_only="the hub runs the service itself",
    ),
    Variable(
        "COURSEHUB_FORMGRADERS_DIR",
        HUB,
        PATH,
        "the courses' formgraders the coursehub service's pod runs: the chart's formgrader "
        "Secret, mounted (`formgraders.json` and a `<course>.token` per course)",
        Unset("production: no formgraders; dev: the hub runs them itself"),
    ),
    Variable(
        "KUBECONFIG",
        HUB,
        PATH,
        "the cluster's kubeconfig",
        Unset("in-cluster config"),
        dev=Required(
            "in dev mode it must name the dev cluster's kubeconfig (<state-dir>/kubeconfig, "
            "written by `coursehub devcluster up`)"
        ),
        example="/path/to/kubeconfig",
    ),
    # Sign-in (coursehub.hub.auth_settings; docs/auth.md).
    Variable(
        "COURSEHUB_AUTH",
        AUTH,
        choice("demo", "oidc", "lti"),
        "the authenticator: `oidc`, `lti`, or `demo` (generated passwords, dev only)",
        Unset("the Helm values' `hub.config` chooses"),
        dev="demo",
        example="oidc",
    ),
    Variable(
        "COURSEHUB_ADMIN_USERS",
        AUTH,
        WORDS,
        "hub admins by username, comma separated; reserved like any listed name",
        Unset("none"),
        example="it-admin",
    ),
    Variable(
        "COURSEHUB_IDENTITY_BINDINGS",
        AUTH,
        JSON_OBJECT,
        'JSON `{"<username>": {"subject": …, "issuer": …}}` (issuer optional: the '
        "configured one): these identities get these (reserved) names",
        Unset("none"),
        example='{"it-admin": {"subject": "248289761001"}}',
    ),
    Variable(
        "COURSEHUB_USERNAME_DOMAIN",
        AUTH,
        DOMAIN,
        "addresses at this domain are named by their local part ([Usernames](#usernames))",
        Unset("OIDC: the one e-mail domain, if exactly one"),
    ),
    Variable(
        "COURSEHUB_OIDC_ISSUER",
        OIDC,
        URL,
        "the provider's issuer URL, exactly as its discovery document says",
        Required("COURSEHUB_AUTH=oidc needs it"),
        example="https://sso.example.edu/realms/university",
    ),
    Variable(
        "COURSEHUB_OIDC_CLIENT_ID",
        OIDC,
        TEXT,
        "the client registered for the hub",
        Required("COURSEHUB_AUTH=oidc needs the client id"),
        example="coursehub",
    ),
    Variable(
        "COURSEHUB_OIDC_CLIENT_SECRET",
        OIDC,
        SECRET,
        "its secret, **from a Secret** (the chart refuses a plain value)",
        Required("COURSEHUB_AUTH=oidc needs the client secret (from a Secret)"),
    ),
    Variable(
        "COURSEHUB_OIDC_CALLBACK_URL",
        OIDC,
        URL,
        "`https://<host>/hub/oauth_callback`, registered with the provider (dev: from "
        "`COURSEHUB_PUBLIC_URL`)",
        Unset("from the request"),
        example="https://hub.example.edu/hub/oauth_callback",
    ),
    Variable(
        "COURSEHUB_OIDC_AUTHORIZE_URL",
        OIDC,
        URL,
        "the provider's authorization endpoint; set it, the token and the JWKS URL to start "
        "the hub without reaching the provider",
        Unset("from `<issuer>/.well-known/openid-configuration`, read when the hub starts"),
        example="https://sso.example.edu/auth",
    ),
    Variable(
        "COURSEHUB_OIDC_TOKEN_URL",
        OIDC,
        URL,
        "the provider's token endpoint",
        Unset("from the discovery document"),
        example="https://sso.example.edu/token",
    ),
    Variable(
        "COURSEHUB_OIDC_JWKS_URL",
        OIDC,
        URL,
        "the provider's public keyset",
        Unset("from the discovery document"),
        example="https://sso.example.edu/certs",
    ),
    Variable(
        "COURSEHUB_OIDC_USERINFO_URL",
        OIDC,
        URL,
        "the provider's userinfo endpoint",
        Unset("none"),
        example="https://sso.example.edu/userinfo",
    ),
    Variable("COURSEHUB_OIDC_SCOPES", OIDC, WORDS, "scopes asked for", "openid profile email"),
    Variable(
        "COURSEHUB_OIDC_NAME_CLAIMS",
        OIDC,
        WORDS,
        "claims a new user's name is made from, first usable wins (`email` only when verified)",
        NAME_CLAIMS_DEFAULT,
    ),
    Variable(
        "COURSEHUB_OIDC_COURSE_CLAIM",
        OIDC,
        TEXT,
        "dotted path of the claim listing course memberships (`groups`, `roles`, "
        '`realm_access.roles`); empty (`""`): rosters only',
        "groups",
        empty_is_value=True,
    ),
    Variable(
        "COURSEHUB_OIDC_COURSE_PATTERN",
        OIDC,
        COURSE_PATTERN,
        "regex with groups `course` and `role` that must match a whole value, i.e. "
        "`ai-101:student`",
        # coursehub.signin.rules.DEFAULT_COURSE_PATTERN (a unit test keeps them equal)
        r"^(?P<course>[a-z0-9][-a-z0-9]*):(?P<role>[a-z]+)$",
    ),
    Variable(
        "COURSEHUB_OIDC_ADMIN_VALUES",
        OIDC,
        WORDS,
        "values of the course claim that make a hub admin, comma separated",
        Unset("none"),
        example="coursehub:admin",
    ),
    Variable(
        "COURSEHUB_OIDC_EMAIL_DOMAINS",
        OIDC,
        WORDS,
        "accept only verified e-mail addresses (`email_verified: true`) of these domains",
        Unset("any"),
        example="uni.edu",
    ),
    Variable(
        "COURSEHUB_LTI_ISSUER",
        LTI,
        TEXT,
        "the platform's issuer (Platform ID)",
        Required("COURSEHUB_AUTH=lti needs the platform's issuer"),
        example="https://canvas.instructure.com",
    ),
    Variable(
        "COURSEHUB_LTI_CLIENT_IDS",
        LTI,
        WORDS,
        "the client id(s) the LMS gave the tool, comma separated",
        Required("COURSEHUB_AUTH=lti needs the client id(s) the LMS gave the tool"),
        example="10000000000001",
    ),
    Variable(
        "COURSEHUB_LTI_AUTHORIZE_URL",
        LTI,
        URL,
        "the platform's OIDC authentication endpoint",
        Required("COURSEHUB_AUTH=lti needs it"),
        example="https://sso.canvaslms.com/api/lti/authorize_redirect",
    ),
    Variable(
        "COURSEHUB_LTI_JWKS_URL",
        LTI,
        URL,
        "the platform's public keyset",
        Required("COURSEHUB_AUTH=lti needs it"),
        example="https://sso.canvaslms.com/api/lti/security/jwks",
    ),
    Variable(
        "COURSEHUB_LTI_NAME_CLAIMS",
        LTI,
        WORDS,
        "as for OIDC; also `custom.<key>`, `lis.<key>`, `ext.<key>` inside those LTI claims. "
        "Prefer an immutable one: `ext.user_username` (Moodle's login name), "
        "`lis.person_sourcedid` (the SIS id), or a custom parameter such as Canvas's "
        "`login_id=$Canvas.user.loginId` (`custom.login_id`)",
        NAME_CLAIMS_DEFAULT,
    ),
    Variable(
        "COURSEHUB_LTI_TRUST_EMAIL",
        LTI,
        FLAG,
        "`1` if people cannot change their e-mail address in the LMS (it is managed by your "
        "identity system): the LMS e-mail then counts as verified (it may name new users and "
        "proves listed names). `0`: LMSs such as Moodle and Canvas often let users edit it, "
        "so it proves nothing",
        "0",
        example="1",
    ),
    # The coursehub service (coursehub.service.settings).
    Variable(
        "COURSEHUB_MODE",
        SERVICE,
        MODE,
        "`dev` allows the tests' clock (the hub passes its mode on)",
        "production",
        dev="dev",
    ),
    Variable(
        "COURSEHUB_SERVICE_DATA_DIR",
        SERVICE,
        PATH,
        "the file store and the courses' nbgrader folders (production: a PVC)",
        "/srv/coursehub",
        dev=".coursehub-dev/service",
    ),
    Variable(
        "COURSEHUB_SERVICE_DB_URL",
        SERVICE,
        DATABASE_URL,
        "the service's database; PostgreSQL in production, e.g. "
        "`postgresql://coursehub:…@db/coursehub`",
        Derived("`sqlite:///<data dir>/coursehub-service.sqlite`"),
    ),
    Variable(
        "COURSEHUB_COURSES_DIR",
        SERVICE,
        PATH,
        COURSES_DIR_HELP,
        "/etc/coursehub/courses",
        dev="courses",
    ),
    Variable(
        "COURSEHUB_MAX_FILE_MB",
        SERVICE,
        MEGABYTES,
        "the upload limit per file",
        "20",
    ),
    Variable(
        "COURSEHUB_MAX_SUBMISSION_MB",
        SERVICE,
        MEGABYTES,
        "the upload limit per submission",
        "100",
    ),
    Variable(
        "COURSEHUB_MAX_FILES",
        SERVICE,
        WHOLE,
        "entries per upload at most (files, folders and the extra headers tar writes for "
        "long names each count)",
        "1000",
    ),
    Variable(
        "COURSEHUB_SERVICE_BIND_URL",
        SERVICE,
        BIND_URL,
        "where the service listens",
        Derived("`JUPYTERHUB_SERVICE_URL`, else `http://0.0.0.0:<COURSEHUB_SERVICE_PORT>`"),
    ),
    Variable(
        "COURSEHUB_SERVICE_PORT",
        SERVICE,
        WHOLE,
        "the port to listen on (the chart sets it)",
        "8090",
    ),
    Variable(
        "JUPYTERHUB_SERVICE_URL",
        SERVICE,
        BIND_URL,
        "set by the hub for a service it runs (dev)",
        Unset(),
    ),
    Variable(
        "JUPYTERHUB_SERVICE_PREFIX",
        SERVICE,
        TEXT,
        "the service's path at the hub (set by the hub)",
        "/services/coursehub/",
    ),
    Variable(
        "JUPYTERHUB_API_URL",
        SERVICE,
        BASE_URL,
        "the hub's API (set by the hub; the chart from `service.hub.apiUrl`)",
        "http://hub:8081/hub/api",
    ),
    Variable(
        "JUPYTERHUB_API_TOKEN",
        SERVICE,
        SECRET,
        "the service's hub API token: with it the service keeps the hub's course groups "
        "and dropped members' servers in step with the catalog and enforces GPU limits",
        Unset(),
    ),
    Variable(
        "COURSEHUB_GROUP_SYNC_SECONDS",
        SERVICE,
        WHOLE,
        "how often that reconciliation also runs when nothing changed, as a safety net for "
        "hub restarts and hand edits",
        "60",
    ),
    Variable(
        "COURSEHUB_GPU_ENFORCE_SECONDS",
        SERVICE,
        seconds(0.1, 3600),
        "how often budgets, session limits, idle GPU servers, vanished servers, pending "
        "stops and GPU servers without a session are checked",
        "30",
    ),
    Variable(
        "COURSEHUB_SERVICE_METRICS_AUTH",
        SERVICE,
        FLAG,
        "`1`: `GET api/metrics` needs a hub token with the `read:metrics` scope, as the "
        "hub's own `/hub/metrics`; `0` lets anyone who reaches the service's port scrape "
        "(JupyterHub's `authenticate_prometheus`; the chart's NetworkPolicy still decides "
        "who reaches it)",
        "1",
    ),
    Variable(
        "JUPYTERHUB_SERVICE_NAME",
        SERVICE,
        TEXT,
        "the service's name at the hub (set by the hub)",
        "coursehub",
    ),
    Variable(
        "JUPYTERHUB_CLIENT_ID",
        SERVICE,
        TEXT,
        "the service's OAuth client, for the pages people open (the GPU usage page)",
        Derived("`service-<JUPYTERHUB_SERVICE_NAME>`"),
    ),
    Variable(
        "COURSEHUB_SERVICE_COOKIE_SECRET",
        SERVICE,
        SECRET,
        "the key (hex) that signs those pages' login cookies",
        Unset("made once, kept in `<data dir>/cookie_secret`"),
    ),
    Variable(
        "COURSEHUB_DEV_CLOCK_OFFSET_FILE",
        SERVICE,
        PATH,
        "a file holding seconds to add to the service's clock, read at every use, so tests "
        "can move time forward without waiting",
        refused_in_production="moving the clock is for tests only",
    ),
    # Grade passback to the LMS (coursehub.service.lms_settings), read by the service.
    Variable(
        "COURSEHUB_LMS_TOOL_KEY",
        LMS,
        SECRET,
        "the tool's RSA private key (PEM) that signs its requests for the LMS's service "
        "token; its public half is published at `<service>/lti/jwks`. From a Secret only",
        Unset("grade passback is off"),
    ),
    Variable(
        "COURSEHUB_LMS_TOKEN_URL",
        LMS,
        URL,
        "the LMS's OAuth 2 token endpoint (the client-credentials grant for AGS)",
        Unset("grade passback is off"),
        example="https://sso.canvaslms.com/login/oauth2/token",
    ),
    Variable(
        "COURSEHUB_LMS_PUSH_AFTER_FEEDBACK",
        LMS,
        FLAG,
        "`1`: returning feedback also pushes the assignment's grades to the LMS",
        "0",
    ),
    Variable(
        "COURSEHUB_LMS_RETRY_SECONDS",
        LMS,
        SECONDS,
        "the first wait before retrying a request the LMS answered 429 or 5xx (it doubles, "
        "four tries at most; a `Retry-After` up to a minute is honoured)",
        "1",
    ),
    # Grading pods (coursehub.grading.settings), read by the service.
    Variable("COURSEHUB_NAMESPACE", GRADING, TEXT, "the namespace of grading pods", "default"),
    Variable(
        "COURSEHUB_GRADING_POD_LABELS",
        GRADING,
        JSON_LABELS,
        "labels grading pods carry, the ones their NetworkPolicy selects",
        '{"coursehub.io/component": "grading"}',
    ),
    Variable(
        "COURSEHUB_GRADING_SERVICE_URL",
        GRADING,
        TEXT,
        "the service's address as grading pods reach it, with its prefix: they fetch their "
        "inputs there and post their results, with their batch's token (no shared volume)",
        Unset("required to grade; `coursehub dev` sets it"),
        example="http://coursehub:8090/services/coursehub/",
    ),
    Variable(
        "COURSEHUB_GRADING_PARALLELISM",
        GRADING,
        WHOLE_OR_AUTO,
        "grading pods at once; `auto` counts what fits on the nodes for the assignment's "
        "CPU/GPU request (needs `nodes: list`, else 4)",
        "auto",
    ),
    Variable(
        "COURSEHUB_GRADING_MAX_BATCH",
        GRADING,
        WHOLE,
        "submissions per pod at most; each still runs as a user of its own",
        "16",
    ),
    Variable(
        "COURSEHUB_GRADING_MASKED_PATHS",
        GRADING,
        PATHS,
        "dev only: folders hidden from student code (`coursehub dev` sets the state folder "
        "and the catalog); setting it makes grading pods ask for SYS_ADMIN and require "
        "namespaces",
        Unset("none"),
    ),
    Variable(
        "COURSEHUB_GRADING_UID_BASE",
        GRADING,
        WHOLE,
        "the first user id given to submissions",
        "200000",
    ),
)


def _by_owner(variables: tuple[Variable, ...]) -> dict[str, dict[str, Variable]]:
    owners: dict[str, dict[str, Variable]] = {}
    for variable in variables:
        listed = owners.setdefault(variable.owner, {})
        if variable.name in listed:
            raise ValueError(f"{variable.name} is listed twice for {variable.owner}")
        listed[variable.name] = variable
    return owners


BY_OWNER = _by_owner(VARIABLES)


# ----- the docs' tables ------------------------------------------------------------------

TABLE_START = re.compile(r"<!-- settings table: (\w+)[^>]*-->\n")
TABLE_END = "<!-- end of settings table -->"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _shown(default: Default) -> str:
    if isinstance(default, str):
        return f"`{default}`" if default else '`""`'
    if isinstance(default, Required):
        return "required"
    return default.shown


def _in_mode(variable: Variable, dev: bool) -> str:
    if dev and variable.production_only:
        return f"not used: {variable.production_only}"
    if not dev and variable.dev_only:
        return f"not used: {variable.dev_only}"
    if not dev and variable.refused_in_production:
        return "refused at start"
    return _shown(variable.default_in(dev))


def settings_table(owner: str) -> str:
    """The Markdown table of ``owner``'s variables: one default column, or dev and
    production columns when any differs."""
    variables = list(BY_OWNER[owner].values())
    by_mode = any(_in_mode(v, True) != _in_mode(v, False) for v in variables)
    header = ["variable", "type", "meaning"]
    header += ["dev", "production"] if by_mode else ["default"]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for variable in variables:
        row = [f"`{variable.name}`", variable.kind.shown, variable.help]
        row += [_in_mode(variable, True)] + ([_in_mode(variable, False)] if by_mode else [])
        lines.append("| " + " | ".join(_cell(cell) for cell in row) + " |")
    return "\n".join(lines) + "\n"


def with_settings_tables(markdown: str) -> str:
    """``markdown`` with each ``<!-- settings table: Owner -->`` … ``<!-- end of settings
    table -->`` block holding the current table of that owner."""
    result, position = [], 0
    for start in TABLE_START.finditer(markdown):
        if start.start() < position:
            continue
        end = markdown.find(TABLE_END, start.end())
        if end < 0:
            raise ValueError(f"{start.group(0).strip()} has no {TABLE_END}")
        owner = start.group(1)
        if owner not in BY_OWNER:
            raise ValueError(f"{start.group(0).strip()}: no variables of {owner!r}")
        result += [markdown[position : start.end()], settings_table(owner)]
        position = end
    return "".join(result) + markdown[position:]


if __name__ == "__main__":  # python -m coursehub.envvars docs/*.md
    for name in sys.argv[1:]:
        path = Path(name)
        text = path.read_text()
        if with_settings_tables(text) != text:
            path.write_text(with_settings_tables(text))
            print(f"updated {path}")
