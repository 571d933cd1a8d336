"""What the production authenticators share: the identity store, the membership overlay,
the course check and the page of a refused sign-in.

``CourseSignIn`` is a traitlets mixin for an ``Authenticator`` (``CourseOIDCAuthenticator``,
``CourseLTIAuthenticator``); ``configure`` sets its three callables:

- ``catalog()``: the current ``Catalog``;
- ``service_client()``: the hub's ``HubServiceClient`` to the coursehub service, or None;
- ``refresh_overlay()``: an awaitable that makes the hub's catalog see memberships just
  written to the service (``CatalogSync.refresh_overlay``), or None while there is none;

and from the settings ``identity_bindings`` (username -> [issuer, subject]) and
``username_domain``. The service decides usernames (``coursehub.service.usernames``); the
hub tells it what the provider proved and which names it reserves itself (``admin_users``
and the bound names).

A refusal is ``SignInRefused``: an HTTP error (403, or 503 when the service is down) whose
message JupyterHub's own error page shows, with a title and a hint, never a stack trace.
"""

from __future__ import annotations

import html
import inspect
import re

from tornado import web
from traitlets import Callable, Dict, Unicode
from traitlets.config import LoggingConfigurable

from coursehub.catalog.model import USERNAME_PATTERN
from coursehub.hub.service_client import ServiceUnavailable


def _none():
    return None


def _catalog_not_configured():
    raise RuntimeError("the authenticator's catalog is not set: configure(c) sets it")


class SignInRefused(web.HTTPError):
    """A sign-in the hub turns down, explained on JupyterHub's error page."""

    def __init__(self, status: int, title: str, message: str, hint: str = ""):
        super().__init__(status, "%s", f"{title}: {message}")
        self.title = title
        self.message = message
        self.hint = hint
        # JupyterHub's write_error shows these on its error page (error.html).
        self.reason = title
        self.jupyterhub_message = f"{title}. {message} {hint}".strip()
        # error.html puts this inside a <p> under a heading with the title.
        parts = [html.escape(message)] + ([html.escape(hint)] if hint else [])
        self.jupyterhub_html_message = "<br><br>".join(parts)


class CourseSignIn(LoggingConfigurable):
    """Mixin: resolve identities, write memberships, check that a user has a course."""

    catalog = Callable(
        default_value=_catalog_not_configured,
        help="Called without arguments; returns the current coursehub Catalog.",
    ).tag(config=True)

    service_client = Callable(
        default_value=_none,
        help="Called without arguments; returns the HubServiceClient or None.",
    ).tag(config=True)

    refresh_overlay = Callable(
        default_value=_none,
        help="""Called without arguments after memberships were written; returns an
        awaitable (or None) after which the hub's catalog includes them.""",
    ).tag(config=True)

    identity_bindings = Dict(
        help="""Username -> [issuer, subject]: the identity that is the person a listed
        username (an admin, a course's staff) means. From COURSEHUB_IDENTITY_BINDINGS.""",
    ).tag(config=True)

    username_domain = Unicode(
        "",
        help="""E-mail addresses at this domain are named without it (jane.doe@uni.edu ->
        jane.doe); others keep the whole address. Empty: every address keeps it.""",
    ).tag(config=True)

    def _client(self):
        client = self.service_client()
        if client is None:
            raise SignInRefused(
                503,
                "Sign-in is not available",
                "The hub cannot reach the coursehub service that keeps usernames.",
                "Try again in a minute; if it persists, tell the hub's administrators.",
            )
        return client

    def reserved_by_hub(self) -> list[str]:
        """Names the hub itself gives out: its admin list and the bound names (names a
        username could never be made into need no reserving)."""
        names = set(getattr(self, "admin_users", ()) or ()) | set(self.identity_bindings)
        return sorted(name for name in names if re.fullmatch(USERNAME_PATTERN, name))

    def bound_username(self, issuer: str, subject: str) -> str | None:
        for username, (bound_issuer, bound_subject) in self.identity_bindings.items():
            if (bound_issuer, bound_subject) == (issuer, subject):
                return username
        return None

    async def resolve_identity(
        self,
        issuer: str,
        subject: str,
        preferred: str | None,
        email: str | None = None,
        email_verified: bool = False,
        launch: dict | None = None,
    ) -> tuple[str, dict[str, str]]:
        """``(username, courses known from LTI launches)`` of the identity, from the
        service's identity store (created at the first sign-in). ``email_verified``: the
        provider vouches for ``email`` (never assumed)."""
        body = {
            "issuer": issuer,
            "subject": subject,
            "preferred": preferred,
            "email": email,
            "email_verified": bool(email and email_verified),
            "home_domain": self.username_domain or None,
            "reserved": self.reserved_by_hub(),
            "bound": self.bound_username(issuer, subject),
        }
        if launch is not None:
            body["launch"] = launch
        try:
            answer = await self._client().call("POST", "identities", body)
        except ServiceUnavailable as error:
            self.log.error("Resolving identity %s of %s failed: %s", subject, issuer, error)
            raise SignInRefused(
                503,
                "Sign-in is not available",
                "The hub could not look up your account in the coursehub service.",
                "Try again in a minute; if it persists, tell the hub's administrators.",
            ) from None
        if answer.get("collision"):
            self.log.warning(
                "%s of %s did not get the username it asked for: %s",
                subject,
                issuer,
                answer["collision"],
            )
        return answer["username"], dict(answer.get("courses") or {})

    async def write_memberships(self, username: str, source: str, courses: dict[str, str]):
        """Replace ``username``'s memberships from ``source`` in the service's overlay,
        then let the hub's catalog see them."""
        try:
            await self._client().call(
                "PUT", f"users/{username}/memberships", {"source": source, "courses": courses}
            )
        except ServiceUnavailable as error:
            # Without the overlay the catalog's own rosters still decide; the course check
            # below refuses a user who has no course there.
            self.log.error(
                "Writing %s memberships of %s failed (%s): %s",
                source,
                username,
                error.status,
                error.message,
            )
            return
        refreshed = self.refresh_overlay()
        if inspect.isawaitable(refreshed):
            await refreshed

    def courses_of(self, username: str) -> dict[str, str]:
        """``{course: role}`` of ``username`` in the hub's current catalog (its rosters,
        and the overlay once the hub's catalog includes it)."""
        return {course.id: role for course, role in self.catalog().memberships(username)}

    def refuse_without_course(self, username: str, shown_as: str, how_to_join: str) -> None:
        raise SignInRefused(
            403,
            "No course for this account",
            f"You signed in as {shown_as}, and the hub knows you as {username!r}, but you "
            "are not a student or a member of staff of any course on this hub.",
            how_to_join,
        )
