"""HTTP handlers of the service API (see ``docs/assignments.md`` for the contract).

Every handler identifies the caller from the hub token in the ``Authorization`` header (never
from a cookie, so no cross-site request can act for a user, and never from the request
body), refuses a token not given for calling this service (``rules.require_service_access``),
checks the caller's role in the course with ``rules`` (staff powers need a staff-scoped
token), and answers errors as JSON ``{"status", "message"}``.
"""

from __future__ import annotations

import asyncio
import json
import logging

from jupyterhub.services.auth import HubAuth
from tornado.web import HTTPError, RequestHandler

from coursehub.archive import Archive, ArchiveError, check_name
from coursehub.catalog.model import Course
from coursehub.service import exchange_db, identities, usernames, workflow
from coursehub.service.context import ServiceContext
from coursehub.service.rules import (
    Caller,
    Refusal,
    find_course,
    lacks_staff_scope,
    require_member,
    require_self_or_staff,
    require_service_access,
    require_staff,
    require_student,
    role_in,
    staff_scope_refusal,
)
from coursehub.service.workspace import WorkspaceError

log = logging.getLogger("coursehub.service")
ARCHIVE_TYPE = "application/gzip"
# Query arguments that would let a client claim an identity or a time; refused outright so
# a client that tries learns it at once rather than believing it worked.
FORGED_ARGUMENTS = ("timestamp", "submitted_at", "student_id", "user", "as_user")


class BaseHandler(RequestHandler):
    def initialize(self, context: ServiceContext):
        self.context = context
        self.caller: Caller | None = None

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


class MeHandler(BaseHandler):
    async def get(self):
        caller = self.caller
        courses = []
        for course in self.context.catalog.courses.values():
            role = role_in(course, caller)
            if role is not None:
                courses.append({"id": course.id, "title": course.title, "role": role})
        self.write_json(
            {"name": caller.name, "kind": caller.kind, "admin": caller.admin, "courses": courses}
        )


class AssignmentListHandler(BaseHandler):
    async def get(self, course_id: str):
        course = self.course(course_id)
        role = require_member(course, self.caller)
        listed = await workflow.assignment_list(self.context, course, self.caller.name)
        self.write_json({"course": course.id, "role": role, "assignments": listed})


class ReleaseHandler(BaseHandler):
    async def get(self, course_id: str, assignment: str):
        course = self.course(course_id)
        role = require_member(course, self.caller)
        assignment = check_name(assignment, "assignment")
        fetcher = self.caller.name if role == "student" else None
        release = await workflow.fetch_release(self.context, course, assignment, fetcher)
        data = await asyncio.to_thread(self.context.store.get, release.blob)
        self.write_archive(data, release.checksum, assignment)

    async def put(self, course_id: str, assignment: str):
        course = self.course(course_id)
        require_staff(course, self.caller)
        assignment = check_name(assignment, "assignment")
        archive = await self.upload()
        body, status = await workflow.publish(
            self.context, course, assignment, archive, self.caller
        )
        self.write_json(body, status)

    async def delete(self, course_id: str, assignment: str):
        course = self.course(course_id)
        require_staff(course, self.caller)
        assignment = check_name(assignment, "assignment")
        now = self.context.now()
        count = await self.context.db.run(
            lambda session: exchange_db.withdraw_release(session, course.id, assignment, now)
        )
        if not count:
            raise Refusal(404, f"{assignment} is not released in {course.id}")
        self.write_json({"name": assignment, "withdrawn": True})


class SubmissionsHandler(BaseHandler):
    async def get(self, course_id: str, assignment: str):
        course = self.course(course_id)
        assignment = check_name(assignment, "assignment")
        student = self.get_query_argument("student", None)
        role = require_member(course, self.caller)
        if role == "student":
            student = require_own(self.caller, student)
        collect = self.get_query_argument("collect", "0") in ("1", "true")
        listed = await workflow.submission_list(self.context, course, assignment, student, collect)
        self.write_json({"submissions": listed})

    async def post(self, course_id: str, assignment: str):
        course = self.course(course_id)
        assignment = check_name(assignment, "assignment")
        require_student(course, self.caller)
        self.refuse_forged_arguments()
        archive = await self.upload(submission=True)
        row = await workflow.submit(self.context, course, assignment, archive, self.caller)
        self.write_json(row, 201)


def require_own(caller: Caller, student: str | None) -> str:
    if student is not None and student != caller.name:
        raise Refusal(403, f"{caller} may only see their own work, not {student}'s")
    return caller.name


class SubmissionHandler(BaseHandler):
    async def get(self, course_id: str, assignment: str, student: str, version: str):
        course = self.course(course_id)
        assignment = check_name(assignment, "assignment")
        require_self_or_staff(course, self.caller, student)
        number = parse_version(version)
        row = await self.context.db.run(
            lambda session: exchange_db.submission(session, course.id, assignment, student, number)
        )
        if row is None:
            raise Refusal(404, f"{student} has no version {number} of {assignment}")
        data = await asyncio.to_thread(self.context.store.get, row.blob)
        self.write_archive(data, row.checksum, f"{assignment}-{student}-v{number}")


def parse_version(version: str) -> int:
    if not version.isdigit() or int(version) < 1:
        raise Refusal(400, f"submission version {version!r} is not a whole number from 1")
    return int(version)


class FeedbackListHandler(BaseHandler):
    async def get(self, course_id: str, assignment: str):
        course = self.course(course_id)
        assignment = check_name(assignment, "assignment")
        student = self.get_query_argument("student", None)
        if require_member(course, self.caller) == "student":
            student = require_own(self.caller, student)
        listed = await workflow.feedback_list(self.context, course, assignment, student)
        self.write_json({"feedback": listed})


class FeedbackHandler(BaseHandler):
    async def get(self, course_id: str, assignment: str, student: str, version: str):
        course = self.course(course_id)
        assignment = check_name(assignment, "assignment")
        require_self_or_staff(course, self.caller, student)
        number = parse_version(version)
        row = await workflow.feedback_of(self.context, course, assignment, student, number)
        if row is None:
            raise Refusal(404, f"no feedback for {student}'s version {number} of {assignment}")
        data = await asyncio.to_thread(self.context.store.get, row.blob)
        self.write_archive(data, row.checksum, f"{assignment}-{student}-feedback")

    async def put(self, course_id: str, assignment: str, student: str, version: str):
        course = self.course(course_id)
        assignment = check_name(assignment, "assignment")
        require_staff(course, self.caller)
        number = parse_version(version)
        archive = await self.upload()
        body = await workflow.release_feedback(
            self.context, course, assignment, student, number, archive, self.caller
        )
        self.write_json(body, 201)


class ActionHandler(BaseHandler):
    async def post(self, course_id: str, assignment: str, action: str):
        course = self.course(course_id)
        assignment = check_name(assignment, "assignment")
        require_staff(course, self.caller)
        if action == "release":
            body, status = await workflow.generate_and_release(
                self.context, course, assignment, self.caller
            )
            self.write_json(body, status)
        elif action == "collect":
            self.write_json(await workflow.collect(self.context, course, assignment, self.caller))
        elif action == "autograde":
            student = self.get_query_argument("student", None)
            job = await workflow.start_autograde(
                self.context, course, assignment, self.caller, student
            )
            self.write_json({"job": job}, 202)
        elif action == "feedback":
            self.write_json(
                await workflow.generate_and_release_feedback(
                    self.context, course, assignment, self.caller
                )
            )
        else:
            raise Refusal(404, f"unknown action {action!r}: release, collect, autograde, feedback")


class StatusHandler(BaseHandler):
    async def get(self, course_id: str, assignment: str):
        course = self.course(course_id)
        assignment = check_name(assignment, "assignment")
        require_staff(course, self.caller)
        self.write_json(await workflow.status(self.context, course, assignment))


class GradesHandler(BaseHandler):
    async def get(self, course_id: str):
        course = self.course(course_id)
        require_staff(course, self.caller)
        assignment = self.get_query_argument("assignment", None)
        if assignment is not None:
            check_name(assignment, "assignment")
        text = await workflow.grades_csv(self.context, course, assignment)
        self.set_header("Content-Type", "text/csv; charset=utf-8")
        self.finish(text)


class JobHandler(BaseHandler):
    async def get(self, job_id: str):
        # Before the lookup: whether a job exists is for staff to learn.
        caller = self.caller
        if not caller.staff_scope:
            courses = self.context.catalog.courses.values()
            if caller.hub_admin or any(lacks_staff_scope(course, caller) for course in courses):
                raise staff_scope_refusal(caller, "read grading jobs")
            raise Refusal(403, f"{caller} may not read grading jobs: only course staff may")
        job = await workflow.job(self.context, job_id)
        if job is None:
            raise Refusal(404, f"there is no job {job_id!r}")
        require_staff(self.course(job["course"]), self.caller)
        self.write_json(job)


class IdentitiesHandler(BaseHandler):
    """``POST /api/identities``: the hub asks which username a signed-in person has
    (``coursehub.service.identities``). Only the hub's own client may ask: the answer
    decides who a person is."""

    async def post(self):
        if not self.caller.is_hub:
            raise Refusal(403, f"{self.caller} may not resolve identities: only the hub may")
        try:
            body = json.loads(self.request.body or b"null")
        except ValueError:
            raise Refusal(400, "the body is not JSON") from None
        request = identities.parse_request(body)
        sync = self.context.catalog_sync
        reserved = usernames.reservations(sync.file_catalog(), sync.overlay, request["reserved"])
        resolved = await identities.resolve(self.context.db, request, reserved, self.context.now())
        person = identities.newcomer(request)
        if resolved.choice is not None:
            choice = resolved.choice
            log.info(
                "New %s signs in as %s (%s)", person.describe(), resolved.username, choice.proof
            )
            if choice.collision:
                log.warning("Username collision: new %s: %s", person.describe(), choice.collision)
        if resolved.binding_ignored:
            log.warning(
                "%s is bound to %r in the hub's settings but has had %r since its first "
                "sign-in; usernames never change",
                person.describe(),
                resolved.binding_ignored,
                resolved.username,
            )
        self.write_json(resolved.json())


def routes(prefix: str, context: ServiceContext) -> list[tuple]:
    from coursehub.service.roster_api import (
        MemberHandler,
        OverlayHandler,
        RosterHandler,
        UserMembershipsHandler,
    )

    segment = r"([^/]+)"
    course = rf"{prefix}api/courses/{segment}"
    assignment = rf"{course}/assignments/{segment}"
    table = [
        (rf"{prefix}api/me", MeHandler),
        (rf"{course}/assignments", AssignmentListHandler),
        (rf"{assignment}/release", ReleaseHandler),
        (rf"{assignment}/submissions", SubmissionsHandler),
        (rf"{assignment}/submissions/{segment}/{segment}", SubmissionHandler),
        (rf"{assignment}/feedback", FeedbackListHandler),
        (rf"{assignment}/feedback/{segment}/{segment}", FeedbackHandler),
        (rf"{assignment}/actions/{segment}", ActionHandler),
        (rf"{assignment}/status", StatusHandler),
        (rf"{course}/grades\.csv", GradesHandler),
        (rf"{prefix}api/jobs/{segment}", JobHandler),
        (rf"{prefix}api/identities", IdentitiesHandler),
        (rf"{course}/roster", RosterHandler),
        (rf"{course}/members/{segment}", MemberHandler),
        (rf"{prefix}api/users/{segment}/memberships", UserMembershipsHandler),
        (rf"{prefix}api/memberships", OverlayHandler),
        (rf"{prefix}api/health", HealthHandler),
    ]
    from coursehub.service.gpu_handlers import gpu_routes  # its handlers extend BaseHandler
    from coursehub.service.usage import usage_routes

    table += gpu_routes(prefix) + usage_routes(prefix)
    return [(pattern, handler, {"context": context}) for pattern, handler in table]
