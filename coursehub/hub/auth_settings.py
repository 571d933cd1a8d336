"""Sign-in settings from environment variables (part of ``HubSettings``).

``COURSEHUB_AUTH`` chooses the authenticator:

- ``demo`` (the dev default): generated passwords for the catalog's users
  (``DemoAuthenticator``); refused in production.
- ``oidc``: an OpenID Connect provider (``CourseOIDCAuthenticator``).
- ``lti``: LTI 1.3 launches from an LMS (``CourseLTIAuthenticator``).
- unset in production: coursehub leaves the authenticator to ``hub.config`` of the Helm
  values (what the chart did before coursehub had its own).

``oidc``:

- ``COURSEHUB_OIDC_ISSUER`` (required): the provider's issuer URL. Its endpoints come from
  ``<issuer>/.well-known/openid-configuration`` when the hub starts, unless all of
  ``COURSEHUB_OIDC_AUTHORIZE_URL``, ``COURSEHUB_OIDC_TOKEN_URL`` and
  ``COURSEHUB_OIDC_JWKS_URL`` are set (``COURSEHUB_OIDC_USERINFO_URL`` is optional).
- ``COURSEHUB_OIDC_CLIENT_ID``, ``COURSEHUB_OIDC_CLIENT_SECRET`` (required; the secret
  from a Kubernetes Secret).
- ``COURSEHUB_OIDC_CALLBACK_URL``: ``https://<host>/hub/oauth_callback`` (dev: derived from
  ``COURSEHUB_PUBLIC_URL``; production: from the request unless set).
- ``COURSEHUB_OIDC_SCOPES``: space separated (``openid profile email``).
- ``COURSEHUB_OIDC_NAME_CLAIMS``: claims a new user's name is made from
  (``email,preferred_username``).
- ``COURSEHUB_OIDC_COURSE_CLAIM``: dotted claim path of course memberships (``groups``;
  empty: the catalog's rosters only); ``COURSEHUB_OIDC_COURSE_PATTERN``: a regex with groups
  ``course`` and ``role`` (``^(?P<course>…):(?P<role>…)$``).
- ``COURSEHUB_OIDC_ADMIN_VALUES``: course-claim values that make a hub admin
  (comma separated, e.g. ``coursehub:admin``).
- ``COURSEHUB_OIDC_EMAIL_DOMAINS``: if set, only verified e-mails of these domains
  (``email_verified: true``; a missing claim means unverified).

``lti``:

- ``COURSEHUB_LTI_ISSUER``, ``COURSEHUB_LTI_CLIENT_IDS`` (comma separated),
  ``COURSEHUB_LTI_AUTHORIZE_URL``, ``COURSEHUB_LTI_JWKS_URL`` (all required): what the LMS
  shows when the tool is registered.
- ``COURSEHUB_LTI_NAME_CLAIMS``: as for OIDC (``email,preferred_username``), plus
  ``custom.<key>``, ``lis.<key>`` and ``ext.<key>`` inside those LTI claims (e.g.
  ``ext.user_username``, Moodle's login name).
- ``COURSEHUB_LTI_TRUST_EMAIL``: ``1`` if the LMS's e-mail addresses are verified (people
  cannot set their own); default ``0``: the LMS e-mail neither names anyone nor proves a
  listed username.

Both:

- ``COURSEHUB_ADMIN_USERS``: hub admins by username (comma separated). Reserved: only an
  identity bound to one (below), or whose verified e-mail a course file lists for it, gets it.
- ``COURSEHUB_IDENTITY_BINDINGS``: JSON ``{"<username>": {"subject": "…", "issuer": "…"}}``
  (issuer optional: the configured one): these identities get these usernames.
- ``COURSEHUB_USERNAME_DOMAIN``: addresses at this domain are named without it
  (``jane.doe@uni.edu`` -> ``jane.doe``); others keep the whole address. OIDC default: the
  one domain of ``COURSEHUB_OIDC_EMAIL_DOMAINS``, if it names exactly one.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlparse

from coursehub.catalog.model import PATTERN_HELP, USERNAME_PATTERN
from coursehub.signin.rules import DEFAULT_COURSE_PATTERN

AUTH_KINDS = ("demo", "oidc", "lti")
DOMAIN = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+")
BINDINGS_HINT = 'write {"<username>": {"subject": "<sub>", "issuer": "<optional>"}}'


class AuthSettingsError(ValueError):
    """A sign-in variable the hub cannot use (``SettingsError`` derives from it too)."""


@dataclass(frozen=True)
class OIDCSettings:
    issuer: str
    client_id: str
    client_secret: str = field(repr=False)  # out of logs and tracebacks
    authorize_url: str | None = None
    token_url: str | None = None
    jwks_url: str | None = None
    userinfo_url: str | None = None
    callback_url: str | None = None
    scopes: tuple[str, ...] = ("openid", "profile", "email")
    name_claims: tuple[str, ...] = ("email", "preferred_username")
    course_claim: str = "groups"
    course_pattern: str = DEFAULT_COURSE_PATTERN
    admin_values: tuple[str, ...] = ()
    email_domains: tuple[str, ...] = ()

    @property
    def needs_discovery(self) -> bool:
        return not (self.authorize_url and self.token_url and self.jwks_url)

    def discovered(self, timeout: float = 10) -> OIDCSettings:
        """These settings with the endpoints the issuer's discovery document names
        (explicit ones win); ``AuthSettingsError`` if it cannot be read."""
        if not self.needs_discovery:
            return self
        url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                document = json.load(response)
        except (urllib.error.URLError, OSError, ValueError) as error:
            raise AuthSettingsError(
                f"COURSEHUB_OIDC_ISSUER={self.issuer!r}: cannot read {url} ({error}); check "
                "the issuer URL, or set COURSEHUB_OIDC_AUTHORIZE_URL, COURSEHUB_OIDC_TOKEN_URL "
                "and COURSEHUB_OIDC_JWKS_URL"
            ) from None
        if document.get("issuer") != self.issuer:
            raise AuthSettingsError(
                f"COURSEHUB_OIDC_ISSUER={self.issuer!r} differs from the issuer "
                f"{document.get('issuer')!r} of {url}; use exactly that value"
            )
        from dataclasses import replace

        return replace(
            self,
            authorize_url=self.authorize_url or document.get("authorization_endpoint"),
            token_url=self.token_url or document.get("token_endpoint"),
            jwks_url=self.jwks_url or document.get("jwks_uri"),
            userinfo_url=self.userinfo_url,
        )


@dataclass(frozen=True)
class LTISettings:
    issuer: str
    client_ids: tuple[str, ...]
    authorize_url: str
    jwks_url: str
    name_claims: tuple[str, ...] = ("email", "preferred_username")
    trust_email: bool = False


@dataclass(frozen=True)
class Binding:
    """This identity (issuer + subject) is the person a listed username means."""

    username: str
    issuer: str
    subject: str


@dataclass(frozen=True)
class AuthSettings:
    kind: Literal["demo", "oidc", "lti"] | None
    admin_users: tuple[str, ...] = ()
    oidc: OIDCSettings | None = None
    lti: LTISettings | None = None
    bindings: tuple[Binding, ...] = ()
    username_domain: str | None = None

    @classmethod
    def from_environ(cls, env: Mapping[str, str], dev: bool) -> AuthSettings:
        kind = env.get("COURSEHUB_AUTH") or ("demo" if dev else None)
        if kind is not None and kind not in AUTH_KINDS:
            raise AuthSettingsError(
                f"COURSEHUB_AUTH={kind!r}: use one of {', '.join(AUTH_KINDS)}"
                + ("" if dev else ", or leave it unset to configure hub.config yourself")
            )
        if kind == "demo" and not dev:
            raise AuthSettingsError(
                "COURSEHUB_AUTH='demo' is for development only (generated passwords); use "
                "'oidc' or 'lti' in production"
            )
        admin_users = _list(env, "COURSEHUB_ADMIN_USERS")
        oidc = _oidc(env) if kind == "oidc" else None
        lti = _lti(env) if kind == "lti" else None
        issuer = oidc.issuer if oidc else lti.issuer if lti else None
        bindings = _bindings(env, issuer)
        domain = _domain(env, "COURSEHUB_USERNAME_DOMAIN")
        if domain is None and oidc is not None and len(oidc.email_domains) == 1:
            # Every address is at that one domain: dropping it keeps names one to one.
            only = oidc.email_domains[0].lower().lstrip("@")
            domain = only if DOMAIN.fullmatch(only) else None
        return cls(
            kind=kind,
            admin_users=admin_users,
            oidc=oidc,
            lti=lti,
            bindings=bindings,
            username_domain=domain,
        )


def _list(env: Mapping[str, str], name: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
    raw = env.get(name)
    if raw is None:
        return default
    return tuple(part for part in re.split(r"[\s,]+", raw) if part)


def _domain(env: Mapping[str, str], name: str) -> str | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    domain = raw.lower().removeprefix("@")
    if len(domain) > 253 or not DOMAIN.fullmatch(domain):
        raise AuthSettingsError(f"{name}={raw!r} is not a domain such as uni.edu")
    return domain


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no"):
        return False
    if raw in ("1", "true", "yes"):
        return True
    raise AuthSettingsError(f"{name}={env[name]!r}: use 1 or 0")


def _bindings(env: Mapping[str, str], issuer: str | None) -> tuple[Binding, ...]:
    """``COURSEHUB_IDENTITY_BINDINGS``: ``{"<username>": {"subject": …, "issuer": …}}``."""
    name = "COURSEHUB_IDENTITY_BINDINGS"
    raw = env.get(name, "").strip()
    if not raw:
        return ()
    if issuer is None:
        raise AuthSettingsError(f"{name} is set, but only COURSEHUB_AUTH=oidc or lti uses it")
    try:
        data = json.loads(raw)
    except ValueError as error:
        raise AuthSettingsError(f"{name} is not JSON ({error}); {BINDINGS_HINT}") from None
    if not isinstance(data, dict):
        raise AuthSettingsError(f"{name} must be a JSON object; {BINDINGS_HINT}")
    bindings: list[Binding] = []
    owners: dict[tuple[str, str], str] = {}
    for username, entry in data.items():
        where = f"{name}[{username!r}]"
        if not re.fullmatch(USERNAME_PATTERN, username):
            raise AuthSettingsError(
                f"{name}: {username!r} is not a username: {PATTERN_HELP[USERNAME_PATTERN]}"
            )
        if not isinstance(entry, dict) or set(entry) - {"subject", "issuer"}:
            raise AuthSettingsError(f"{where} must be an object with subject (and issuer)")
        subject, bound_issuer = entry.get("subject"), entry.get("issuer", issuer)
        for field_name, value, limit in (("subject", subject, 255), ("issuer", bound_issuer, 500)):
            if not isinstance(value, str) or not value or len(value) > limit:
                raise AuthSettingsError(
                    f"{where}: '{field_name}' must be a non-empty string of at most {limit} "
                    "characters"
                )
        key = (bound_issuer, subject)
        if key in owners:
            raise AuthSettingsError(
                f"{name} binds subject {subject!r} of {bound_issuer} to both "
                f"{owners[key]!r} and {username!r}; one identity has one username"
            )
        owners[key] = username
        bindings.append(Binding(username, bound_issuer, subject))
    return tuple(bindings)


def _required(env: Mapping[str, str], name: str, kind: str, what: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise AuthSettingsError(f"{name} is not set: COURSEHUB_AUTH={kind} needs {what}")
    return value


def _url(env: Mapping[str, str], name: str, required_for: str | None = None) -> str | None:
    raw = env.get(name, "").strip()
    if not raw:
        if required_for:
            raise AuthSettingsError(f"{name} is not set: COURSEHUB_AUTH={required_for} needs it")
        return None
    parsed = urlparse(raw)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise AuthSettingsError(f"{name}={raw!r} is not an http(s) URL")
    return raw


def _oidc(env: Mapping[str, str]) -> OIDCSettings:
    pattern = env.get("COURSEHUB_OIDC_COURSE_PATTERN") or DEFAULT_COURSE_PATTERN
    try:
        compiled = re.compile(pattern)
    except re.error as error:
        raise AuthSettingsError(
            f"COURSEHUB_OIDC_COURSE_PATTERN={pattern!r} is not a regular expression: {error}"
        ) from None
    if not {"course", "role"} <= set(compiled.groupindex):
        raise AuthSettingsError(
            f"COURSEHUB_OIDC_COURSE_PATTERN={pattern!r} needs the named groups (?P<course>…) "
            "and (?P<role>…)"
        )
    course_claim = env.get("COURSEHUB_OIDC_COURSE_CLAIM")
    return OIDCSettings(
        issuer=_url(env, "COURSEHUB_OIDC_ISSUER", "oidc"),
        client_id=_required(env, "COURSEHUB_OIDC_CLIENT_ID", "oidc", "the client id"),
        client_secret=_required(
            env, "COURSEHUB_OIDC_CLIENT_SECRET", "oidc", "the client secret (from a Secret)"
        ),
        authorize_url=_url(env, "COURSEHUB_OIDC_AUTHORIZE_URL"),
        token_url=_url(env, "COURSEHUB_OIDC_TOKEN_URL"),
        jwks_url=_url(env, "COURSEHUB_OIDC_JWKS_URL"),
        userinfo_url=_url(env, "COURSEHUB_OIDC_USERINFO_URL"),
        callback_url=_url(env, "COURSEHUB_OIDC_CALLBACK_URL"),
        scopes=_list(env, "COURSEHUB_OIDC_SCOPES", ("openid", "profile", "email")),
        name_claims=_list(env, "COURSEHUB_OIDC_NAME_CLAIMS", ("email", "preferred_username")),
        course_claim="groups" if course_claim is None else course_claim.strip(),
        course_pattern=pattern,
        admin_values=_list(env, "COURSEHUB_OIDC_ADMIN_VALUES"),
        email_domains=_list(env, "COURSEHUB_OIDC_EMAIL_DOMAINS"),
    )


def _lti(env: Mapping[str, str]) -> LTISettings:
    client_ids = _list(env, "COURSEHUB_LTI_CLIENT_IDS")
    if not client_ids:
        raise AuthSettingsError(
            "COURSEHUB_LTI_CLIENT_IDS is not set: COURSEHUB_AUTH=lti needs the client id(s) "
            "the LMS gave the tool"
        )
    return LTISettings(
        issuer=_required(env, "COURSEHUB_LTI_ISSUER", "lti", "the platform's issuer"),
        client_ids=client_ids,
        authorize_url=_url(env, "COURSEHUB_LTI_AUTHORIZE_URL", "lti"),
        jwks_url=_url(env, "COURSEHUB_LTI_JWKS_URL", "lti"),
        name_claims=_list(env, "COURSEHUB_LTI_NAME_CLAIMS", ("email", "preferred_username")),
        trust_email=_flag(env, "COURSEHUB_LTI_TRUST_EMAIL"),
    )
