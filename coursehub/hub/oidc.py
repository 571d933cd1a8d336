"""Sign-in through an OpenID Connect provider: ``CourseOIDCAuthenticator``.

OAuthenticator's ``GenericOAuthenticator`` runs the authorization-code flow (with PKCE);
this subclass adds what coursehub needs:

- The ID token is **verified**: signature against the provider's JWKS, issuer, audience
  (our client id), expiry and issue time, with ``leeway_seconds`` of clock skew.
  (OAuthenticator decodes it without checking the signature.) A tampered, expired or
  foreign token gets a 403 page. With ``userdata_url`` set, the userinfo answer is merged
  in, and must be about the same ``sub``.
- The username comes from the identity store: the first sign-in of (``iss``, ``sub``)
  gets a name made from the e-mail (only if ``email_verified`` is true) or
  ``preferred_username``, later sign-ins the same. A name a course file, roster or the
  admin list holds goes only to the identity that proves it (a verified e-mail listed for
  it, or a binding); ``email_verified`` missing means unverified.
- Course memberships come from ``course_claim`` (e.g. ``groups`` values ``ai-101:student``)
  and are written to the service's membership overlay (source ``oidc``); the catalog's
  rosters count too. A user with no course, and not an admin, gets a 403 page saying so.
- Admins: ``admin_users`` (usernames) or a value of ``admin_values`` in the course claim.
"""

from __future__ import annotations

import asyncio
import re

import jwt
from oauthenticator.generic import GenericOAuthenticator
from traitlets import Int, List, Unicode, default

from coursehub.hub.course_auth import CourseSignIn, SignInRefused
from coursehub.signin.rules import (
    DEFAULT_COURSE_PATTERN,
    claim_values,
    is_admin,
    memberships_from_claims,
    name_source,
)

SOURCE = "oidc"


class CourseOIDCAuthenticator(GenericOAuthenticator, CourseSignIn):
    """GenericOAuthenticator with verified ID tokens, stable usernames and courses."""

    oidc_issuer = Unicode(
        help="The provider's issuer (the ID token's iss must equal it).",
    ).tag(config=True)

    jwks_url = Unicode(
        help="The provider's JSON Web Key Set (jwks_uri of its discovery document).",
    ).tag(config=True)

    id_token_algorithms = List(
        Unicode(),
        default_value=["RS256", "RS384", "RS512", "ES256", "ES384", "PS256"],
        help="Signature algorithms accepted for ID tokens (never 'none' or HMAC).",
    ).tag(config=True)

    leeway_seconds = Int(
        60, help="Clock skew allowed when checking the ID token's exp, iat and nbf."
    ).tag(config=True)

    name_claims = List(
        Unicode(),
        default_value=["email", "preferred_username"],
        help="""Claims tried in order for the name a new user's username is made from
        (``email`` only when ``email_verified`` is true).""",
    ).tag(config=True)

    email_domains = List(
        Unicode(),
        help="""If set, only users with a verified e-mail (``email_verified: true``) at one of
        these domains may sign in (a provider such as Google lets anyone have an account).""",
    ).tag(config=True)

    course_claim = Unicode(
        "groups",
        help="Dotted path of the claim naming course memberships; empty: rosters only.",
    ).tag(config=True)

    course_pattern = Unicode(
        DEFAULT_COURSE_PATTERN,
        help="Regex with groups 'course' and 'role' matched against course claim values.",
    ).tag(config=True)

    admin_values = List(
        Unicode(),
        help="Values of the course claim that make a user a hub admin (e.g. coursehub:admin).",
    ).tag(config=True)

    join_hint = Unicode(
        "If you should be in a course, ask its instructor to add you, or your IT team to "
        "give your account the course's group.",
        help="The last sentence of the page a user without a course sees.",
    ).tag(config=True)

    # Every user may try; update_auth_model refuses those without a course.
    @default("allow_all")
    def _allow_all_default(self):
        return True

    @default("userdata_from_id_token")
    def _userdata_from_id_token_default(self):
        return False

    _jwks_client: jwt.PyJWKClient | None = None

    def _jwks(self) -> jwt.PyJWKClient:
        if self._jwks_client is None:
            self._jwks_client = jwt.PyJWKClient(self.jwks_url, cache_keys=True, lifespan=600)
        return self._jwks_client

    def verify_id_token(self, id_token: str) -> dict:
        """The ID token's claims after every check; ``SignInRefused`` otherwise. Blocking
        (it may fetch the JWKS): call it in a thread."""
        try:
            key = self._jwks().get_signing_key_from_jwt(id_token)
            return jwt.decode(
                id_token,
                key.key,
                algorithms=list(self.id_token_algorithms),
                audience=self.client_id,
                issuer=self.oidc_issuer,
                leeway=self.leeway_seconds,
                options={"require": ["iss", "sub", "aud", "exp", "iat"]},
            )
        except (jwt.PyJWTError, ValueError) as error:
            self.log.warning("Refusing an ID token from %s: %s", self.oidc_issuer, error)
            raise SignInRefused(
                403,
                "Sign-in refused",
                f"The sign-in token from your identity provider could not be accepted "
                f"({_plain(error)}).",
                "Sign in again; if this keeps happening, tell the hub's administrators.",
            ) from None

    async def token_to_user(self, token_info):
        id_token = token_info.get("id_token")
        if not id_token:
            raise SignInRefused(
                403,
                "Sign-in refused",
                "Your identity provider sent no ID token (is the 'openid' scope requested?).",
            )
        claims = await asyncio.to_thread(self.verify_id_token, id_token)
        if self.userdata_url:
            userinfo = await super().token_to_user(token_info)
            if userinfo.get("sub") != claims["sub"]:
                raise SignInRefused(
                    403, "Sign-in refused", "The provider's userinfo is about someone else."
                )
            claims = {**userinfo, **claims}
        return claims

    async def refresh_user(self, user, handler=None, **kwargs):
        """Nothing to refresh between sign-ins: the ID token was checked once, at sign-in,
        and memberships are written then. (OAuthenticator's refresh would check the stored,
        by then expired, ID token again when auth_state is enabled.)"""
        return True

    def user_info_to_username(self, user_info):
        # A placeholder: update_auth_model replaces it with the stored username.
        return f"oidc-{user_info['sub']}"[:60]

    async def update_auth_model(self, auth_model):
        claims = auth_model["auth_state"][self.user_auth_state_key]
        email = claims.get("email") if isinstance(claims.get("email"), str) else None
        # Only a literal true: a missing claim, "true" or 1 is not the provider's word.
        verified = email is not None and claims.get("email_verified") is True
        shown_as = email or claims.get("preferred_username") or claims["sub"]
        self._check_email(email, verified, shown_as)

        username, _ = await self.resolve_identity(
            claims["iss"],
            claims["sub"],
            name_source(claims, self.name_claims, verified),
            email,
            verified,
        )
        auth_model["name"] = username

        values = claim_values(claims, self.course_claim) if self.course_claim else []
        found = memberships_from_claims(
            values, re.compile(self.course_pattern), self.catalog().courses
        )
        for value, why in found.ignored:
            self.log.info("Ignoring %s value %r of %s: %s", self.course_claim, value, username, why)
        if self.course_claim:
            await self.write_memberships(username, SOURCE, found.courses)

        if username in self.admin_users:
            auth_model["admin"] = True
        elif self.admin_values:
            auth_model["admin"] = is_admin(values, self.admin_values)
        if not auth_model["admin"] and not (found.courses or self.courses_of(username)):
            self.refuse_without_course(username, shown_as, self.join_hint)
        self.log.info(
            "%s signs in as %s%s; courses from the claim: %s",
            shown_as,
            username,
            " (admin)" if auth_model["admin"] else "",
            found.courses or "none",
        )
        return auth_model

    def _check_email(self, email: str | None, verified: bool, shown_as: str) -> None:
        if not self.email_domains:
            return
        domain = email.rsplit("@", 1)[-1].lower() if email and "@" in email else None
        allowed = {item.lower().lstrip("@") for item in self.email_domains}
        if domain not in allowed or not verified:
            raise SignInRefused(
                403,
                "Account not accepted",
                f"You signed in as {shown_as}, but this hub accepts only verified e-mail "
                f"addresses of {', '.join(sorted(allowed))}.",
                "Sign in with your university account.",
            )


def _plain(error: Exception) -> str:
    text = str(error) or type(error).__name__
    return text.rstrip(".")
