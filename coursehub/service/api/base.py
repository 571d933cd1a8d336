"""What every handler of the service API shares (``BaseHandler``), the health check, and
the checks of path arguments.

Every handler identifies the caller from the hub token in the ``Authorization`` header (never
from a cookie, so no cross-site request can act for a user, and never from the request
body), refuses a token not given for calling this service (``rules.require_service_access``),
checks the caller's role in the course with ``rules`` (staff powers need a staff-scoped
token), and answers errors as JSON ``{"status", "message"}``.
"""

from __future__ import annotations

import json
import logging
import re

from jupyterhub.services.auth import HubAuth
from tornado.web import HTTPError, RequestHandler

from coursehub.catalog.model import USERNAME_PATTERN, Course
from coursehub.exchange.archive import Archive, ArchiveError, check_name
from coursehub.service.context import ServiceContext
from coursehub.service.rules import Caller, Refusal, find_course, require_service_access
from coursehub.service.workspace import WorkspaceError

log = logging.getLogger("coursehub.service")
ARCHIVE_TYPE = "application/gzip"
# Query arguments that would let a client claim an identity or a time; refused outright so
# a client that tries learns it at once rather than believing it worked.
FORGED_ARGUMENTS = ("timestamp", "submitted_at", "student_id", "user", "as_user")

# Path patterns, relative to the service's prefix (``api/__init__`` joins the modules' lists).
SEGMENT = r"([^/]+)"
COURSE = rf"api/courses/{SEGMENT}"
ASSIGNMENT = rf"{COURSE}/assignments/{SEGMENT}"


class BaseHandler(RequestHandler):
    def initialize(self, context: ServiceContext):
        self.context = context
        self.caller: Caller | None = None
        # The token's scopes as the hub expanded them (``access:servers!server=u/name`` on
        # a notebook server's own token): what the token is bound to, beyond its user.
        self.token_scopes: frozenset[str] = frozenset()

    @property
    def hub_auth(self) -> HubAuth:
        return self.settings["hub_auth"]

    async def prepare(self):
        token = self.hub_auth.get_token(self, in_cookie=False)
        if not token:
            raise HTTPError(
                401, "no hub token: send 'Authorization: token <your JupyterHub API token>'"
            )
        model = await self.hub_auth.user_for_token(token, sync=False)
        if not model:
            raise HTTPError(401, "the hub does not know this token (expired or revoked?)")
        require_service_access(model, self.context.settings.service_name)
        self.caller = Caller.from_hub_model(model)
        self.token_scopes = frozenset(model.get("scopes") or ())

    def on_finish(self):
        # Every API request's latency, per handler (the exchange's among them), for
        # coursehub_request_duration_seconds: refusals and errors included.
        self.context.metrics.request_finished(
            type(self).__name__,
            self.request.method,
            self.get_status(),
            self.request.request_time(),
        )

    def check_xsrf_cookie(self):
        """Only header tokens authenticate here, so cross-site forms cannot act for anyone."""

    def write_error(self, status_code: int, **kwargs):
        message = self._reason
        details: dict = {}
        exc_info = kwargs.get("exc_info")
        if exc_info:
            error = exc_info[1]
            if isinstance(error, HTTPError) and error.log_message:
                message = error.log_message % error.args if error.args else error.log_message
            elif isinstance(error, Refusal | ArchiveError | WorkspaceError):
                message = str(error)
                details = getattr(error, "details", None) or {}
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({**details, "status": status_code, "message": message}))

    def log_exception(self, typ, value, tb):
        if isinstance(value, Refusal | ArchiveError):
            log.info(
                "%s %s refused for %s: %s",
                self.request.method,
                self.request.path,
                self.caller,
                value,
            )
            return
        super().log_exception(typ, value, tb)

    def send_error(self, status_code: int = 500, **kwargs):
        exc_info = kwargs.get("exc_info")
        if exc_info:
            error = exc_info[1]
            if isinstance(error, Refusal | ArchiveError):
                status_code = error.status
            elif isinstance(error, WorkspaceError):
                status_code = 422
        super().send_error(status_code, **kwargs)

    def write_json(self, body: dict, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(body))

    def write_archive(self, data: bytes, checksum: str, filename: str) -> None:
        self.set_header("Content-Type", ARCHIVE_TYPE)
        self.set_header("X-Coursehub-Checksum", checksum)
        self.set_header("Content-Disposition", f'attachment; filename="{filename}.tar.gz"')
        self.finish(data)

    def course(self, course_id: str) -> Course:
        return find_course(self.context.catalog, check_name(course_id, "course"))

    def course_and_assignment(self, course_id: str, assignment: str) -> tuple[Course, str]:
        """The prologue of every assignment request: the course (404 if the catalog has
        none by that id) and the assignment's name (400 if it is not a safe name). The
        caller's role is checked next, by the handler (``rules.require_*``)."""
        return self.course(course_id), check_name(assignment, "assignment")

    def refuse_forged_arguments(self) -> None:
        for name in FORGED_ARGUMENTS:
            if name in self.request.arguments or f"x-{name}" in {
                key.lower() for key in self.request.headers
            }:
                raise Refusal(
                    400,
                    f"'{name}' is not accepted: the service takes identity from your hub token "
                    "and time from its own clock",
                )

    async def upload(self, submission: bool = False) -> Archive:
        """The request body, checked off the event loop (``coursehub.service.uploads``);
        ``submission``: also refuse the names collect reserves."""
        return await self.context.upload_checks.check(
            self.caller.name,
            self.request.body,
            self.context.settings.limits,
            submission=submission,
        )


class HealthHandler(RequestHandler):
    """Always 200 while the service runs; ``groups`` says whether course groups were
    reconciled with the hub yet (``coursehub dev`` waits for it)."""

    def initialize(self, context: ServiceContext):
        self.context = context

    def get(self):
        sync = self.context.hub_sync
        groups = sync.state() if sync is not None else {"synced": False, "disabled": True}
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"status": "ok", "groups": groups}))


def require_own(caller: Caller, student: str | None) -> str:
    if student is not None and student != caller.name:
        raise Refusal(403, f"{caller} may only see their own work, not {student}'s")
    return caller.name


def parse_version(version: str) -> int:
    if not version.isdigit() or int(version) < 1:
        raise Refusal(400, f"submission version {version!r} is not a whole number from 1")
    return int(version)


def check_username(username: str) -> str:
    if not re.fullmatch(USERNAME_PATTERN, username):
        raise Refusal(
            400,
            f"username {username!r} is not valid: usernames are lower case: letters, digits "
            "and . _ @ + -, starting with a letter or digit",
        )
    return username


default_handlers = [("api/health", HealthHandler)]
