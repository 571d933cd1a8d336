"""Sign-in settings from environment variables (part of ``HubSettings``).

``COURSEHUB_AUTH`` chooses the authenticator: ``demo`` (the dev default: generated
passwords, ``DemoAuthenticator``; refused in production), ``oidc``
(``CourseOIDCAuthenticator``) or ``lti`` (``CourseLTIAuthenticator``); unset in production,
coursehub leaves the authenticator to ``hub.config`` of the Helm values. The variables are
data in ``coursehub.envvars`` (owners ``AuthSettings``, ``OIDCSettings``, ``LTISettings``),
listed in docs/auth.md.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

from coursehub.catalog.model import PATTERN_HELP, USERNAME_PATTERN
from coursehub.envvars import DOMAIN_PATTERN, Environment, SettingsError
from coursehub.signin.rules import DEFAULT_COURSE_PATTERN

AUTH_KINDS = ("demo", "oidc", "lti")
# The one error of every settings object; the old name stays importable.
AuthSettingsError = SettingsError


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
    def from_environ(cls, environ: Mapping[str, str], dev: bool) -> AuthSettings:
        env = Environment(environ, "AuthSettings", dev)
        kind = env("COURSEHUB_AUTH")
        if kind == "demo" and not dev:
            raise AuthSettingsError(
                "COURSEHUB_AUTH='demo' is for development only (generated passwords); use "
                "'oidc' or 'lti' in production"
            )
        oidc = _oidc(environ) if kind == "oidc" else None
        lti = _lti(environ) if kind == "lti" else None
        issuer = oidc.issuer if oidc else lti.issuer if lti else None
        name = "COURSEHUB_IDENTITY_BINDINGS"
        if env.is_set(name) and issuer is None:
            raise AuthSettingsError(f"{name} is set, but only COURSEHUB_AUTH=oidc or lti uses it")
        bindings = _bindings(env(name) or {}, issuer)
        domain = env("COURSEHUB_USERNAME_DOMAIN")
        if domain is None and oidc is not None and len(oidc.email_domains) == 1:
            # Every address is at that one domain: dropping it keeps names one to one.
            only = oidc.email_domains[0].lower().lstrip("@")
            domain = only if DOMAIN_PATTERN.fullmatch(only) else None
        return cls(
            kind=kind,
            admin_users=env("COURSEHUB_ADMIN_USERS") or (),
            oidc=oidc,
            lti=lti,
            bindings=bindings,
            username_domain=domain,
        )


def _bindings(data: dict, issuer: str | None) -> tuple[Binding, ...]:
    """``COURSEHUB_IDENTITY_BINDINGS``: ``{"<username>": {"subject": …, "issuer": …}}``."""
    name = "COURSEHUB_IDENTITY_BINDINGS"
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


def _oidc(environ: Mapping[str, str]) -> OIDCSettings:
    env = Environment(environ, "OIDCSettings")
    return OIDCSettings(
        issuer=env("COURSEHUB_OIDC_ISSUER"),
        client_id=env("COURSEHUB_OIDC_CLIENT_ID"),
        client_secret=env("COURSEHUB_OIDC_CLIENT_SECRET"),
        authorize_url=env("COURSEHUB_OIDC_AUTHORIZE_URL"),
        token_url=env("COURSEHUB_OIDC_TOKEN_URL"),
        jwks_url=env("COURSEHUB_OIDC_JWKS_URL"),
        userinfo_url=env("COURSEHUB_OIDC_USERINFO_URL"),
        callback_url=env("COURSEHUB_OIDC_CALLBACK_URL"),
        scopes=env("COURSEHUB_OIDC_SCOPES"),
        name_claims=env("COURSEHUB_OIDC_NAME_CLAIMS"),
        course_claim=env("COURSEHUB_OIDC_COURSE_CLAIM"),
        course_pattern=env("COURSEHUB_OIDC_COURSE_PATTERN"),
        admin_values=env("COURSEHUB_OIDC_ADMIN_VALUES") or (),
        email_domains=env("COURSEHUB_OIDC_EMAIL_DOMAINS") or (),
    )


def _lti(environ: Mapping[str, str]) -> LTISettings:
    env = Environment(environ, "LTISettings")
    return LTISettings(
        issuer=env("COURSEHUB_LTI_ISSUER"),
        client_ids=env("COURSEHUB_LTI_CLIENT_IDS"),
        authorize_url=env("COURSEHUB_LTI_AUTHORIZE_URL"),
        jwks_url=env("COURSEHUB_LTI_JWKS_URL"),
        name_claims=env("COURSEHUB_LTI_NAME_CLAIMS"),
        trust_email=env("COURSEHUB_LTI_TRUST_EMAIL"),
    )
