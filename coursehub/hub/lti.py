"""Sign-in by LTI 1.3 launches from an LMS: ``CourseLTIAuthenticator``.

jupyterhub-ltiauthenticator runs the launch (third-party login initiation, the form-posted
ID token, its signature against the platform's JWKS, issuer, audience, state and the
nonce bound to a cookie). This subclass adds:

- the launch's context claim picks the catalog course (``lti.context_ids``) and its roles
  claim the role (``coursehub.signin.rules.lti_role``); an unknown course or role gets a
  403 page that names the context, so an admin can add it to the course file;
- a nonce is accepted once (``NonceLedger``): a launch replayed with its cookies is
  refused even within its lifetime;
- the username comes from the identity store (``iss`` + ``sub``), the course (merged with
  the courses of earlier launches) is written to the membership overlay (source ``lti``);
  the LMS's e-mail counts as verified only with ``trust_email`` (people can often change
  it themselves), so by default it neither names anyone nor proves a listed username;
- the launch lands where its custom parameters ask (``environment``, ``assignment``;
  ``coursehub.signin.rules.deep_link``), else on the spawn page; a link that starts an
  environment carries a one-time ticket (``coursehub.hub.spawn_guard``), since the launch
  is cross-site and the spawner starts servers from links only for the hub's own pages.
"""

from __future__ import annotations

import time

from ltiauthenticator.lti13.auth import LTI13Authenticator
from ltiauthenticator.lti13.constants import LTI13_CUSTOM_CLAIM
from ltiauthenticator.lti13.handlers import LTI13CallbackHandler
from tornado import web
from traitlets import Bool, Callable, Int, List, Unicode, default

from coursehub.hub.course_auth import CourseSignIn, SignInRefused
from coursehub.hub.spawn_guard import with_ticket
from coursehub.signin.rules import (
    LTI_CLAIM_PREFIXES,
    SignInProblem,
    deep_link,
    lms_link,
    lti_role,
    name_source,
)

SOURCE = "lti"
CONTEXT_CLAIM = "https://purl.imsglobal.org/spec/lti/claim/context"
ROLES_CLAIM = "https://purl.imsglobal.org/spec/lti/claim/roles"


class NonceLedger:
    """Nonces seen in accepted launches, each kept until its token's expiry (at least
    ``minimum_seconds``); ``first_use`` is False for a nonce already in the ledger."""

    def __init__(self, minimum_seconds: int = 3600, clock=time.time):
        self.minimum_seconds = minimum_seconds
        self.clock = clock
        self._seen: dict[tuple[str, str], float] = {}

    def first_use(self, issuer: str, nonce: str, expires_at: float | None) -> bool:
        now = self.clock()
        self._seen = {key: until for key, until in self._seen.items() if until > now}
        key = (issuer, nonce)
        if key in self._seen:
            return False
        self._seen[key] = max(expires_at or 0, now + self.minimum_seconds)
        return True


class CourseLTICallbackHandler(LTI13CallbackHandler):
    """ltiauthenticator's launch handler, with a replay check and coursehub's pages."""

    coursehub_next: str | None = None

    def check_nonce(self, id_token):
        super().check_nonce(id_token)
        ledger: NonceLedger = self.authenticator.nonce_ledger
        if not ledger.first_use(id_token.get("iss", ""), id_token["nonce"], id_token.get("exp")):
            self.log.warning("Refusing a replayed LTI launch (nonce %s)", id_token["nonce"])
            raise SignInRefused(
                403,
                "Launch refused",
                "This launch was already used once. Each launch from your course may sign "
                "you in only once.",
                "Go back to your course in the LMS and open the link again.",
            )

    async def post(self):
        try:
            await super().post()
        except SignInRefused:
            raise
        except web.HTTPError as error:
            # ltiauthenticator's own refusals (bad signature, wrong issuer, expired token,
            # state or nonce mismatch): the same page, with its reason.
            self.log.warning("LTI launch refused: %s", error.log_message)
            raise SignInRefused(
                401 if error.status_code in (400, 401) else error.status_code,
                "Launch refused",
                f"The hub could not verify this launch from your LMS "
                f"({error.log_message or error.reason}).",
                "Go back to your course in the LMS and open the link again; if this keeps "
                "happening, tell the hub's administrators.",
            ) from None

    async def redirect_to_next_url(self, user):
        self.redirect(self.coursehub_next or self.get_next_url(user))


class CourseLTIAuthenticator(LTI13Authenticator, CourseSignIn):
    """LTI 1.3 launches into catalog courses, with stable usernames."""

    callback_handler = CourseLTICallbackHandler

    name_claims = List(
        Unicode(),
        default_value=["email", "preferred_username"],
        help="""Claims tried in order for the name a new user's username is made from;
        ``custom.<key>``, ``lis.<key>``, ``ext.<key>`` read inside those LTI claims (an
        immutable one such as ``ext.user_username`` or ``lis.person_sourcedid`` is best).
        ``email`` only counts with ``trust_email``.""",
    ).tag(config=True)

    trust_email = Bool(
        False,
        help="""The LMS's e-mail addresses are verified (people cannot set their own): the
        e-mail may name a new user and proves a username a course file lists for it.""",
    ).tag(config=True)

    spawn_tickets = Callable(
        default_value=lambda: None,
        help="""Called without arguments; returns the hub's SpawnTickets (one-time tickets
        for the deep links launches redirect to), or None. Set by ``configure``.""",
    ).tag(config=True)

    nonce_seconds = Int(
        3600, help="How long an accepted launch's nonce is remembered (at least)."
    ).tag(config=True)

    _ledger: NonceLedger | None = None

    @property
    def nonce_ledger(self) -> NonceLedger:
        if self._ledger is None:
            self._ledger = NonceLedger(self.nonce_seconds)
        return self._ledger

    async def authenticate(self, handler, data=None):
        claims = data or {}
        context = claims.get(CONTEXT_CLAIM) or {}
        context_id = context.get("id") if isinstance(context, dict) else None
        course = self.catalog().course_for_lti_context(context_id) if context_id else None
        if course is None:
            label = context.get("title") or context.get("label") if context else None
            raise SignInRefused(
                403,
                "Course not set up on this hub",
                f"This launch comes from the LMS course {label or '(untitled)'!s} with "
                f"context id {context_id or '(none)'!s}, which no course on this hub lists.",
                "Ask the hub's administrators to add this context id to the course's "
                "lti.context_ids in its course.yaml.",
            )
        roles = claims.get(ROLES_CLAIM) or []
        role = lti_role(roles if isinstance(roles, list) else [])
        if role is None:
            raise SignInRefused(
                403,
                "Role not allowed",
                f"Your role in this LMS course ({', '.join(map(str, roles)) or 'none'}) "
                f"gives no access to {course.id} on this hub: only learners, instructors, "
                "teaching assistants and content developers may launch it.",
                "Ask the course's instructor if you should have access.",
            )
        custom = claims.get(LTI13_CUSTOM_CLAIM) or {}
        try:
            target = deep_link(
                course, custom if isinstance(custom, dict) else {}, _hub_prefix(handler)
            )
        except SignInProblem as problem:
            raise SignInRefused(
                403, "Link not available", str(problem), "Ask the course's instructor."
            ) from None

        email = claims.get("email") if isinstance(claims.get("email"), str) else None
        verified = bool(email) and self.trust_email
        username, courses = await self.resolve_identity(
            claims["iss"],
            claims["sub"],
            name_source(claims, self.name_claims, verified, LTI_CLAIM_PREFIXES),
            email,
            verified,
            launch={"course": course.id, "role": role, "lms": lms_link(claims)},
        )
        await self.write_memberships(username, SOURCE, courses)
        tickets = self.spawn_tickets()
        if isinstance(handler, CourseLTICallbackHandler):
            # The ticket goes only to this browser (never into the log).
            handler.coursehub_next = (
                with_ticket(target, tickets, username) if tickets is not None else target
            )
        self.log.info(
            "LTI launch: %s (%s) into %s as %s, landing on %s",
            email or claims["sub"],
            username,
            course.id,
            role,
            target,
        )
        return {"name": username, "auth_state": None}

    @default("allow_all")
    def _allow_all_default(self):
        return True  # authenticate refuses everyone without a mapped course and role


def _hub_prefix(handler) -> str:
    hub = getattr(handler, "hub", None)
    return getattr(hub, "base_url", None) or "/hub/"
