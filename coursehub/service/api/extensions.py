"""Extensions (``docs/assignments.md``, "Extensions"): staff of a course grant a student a new
due date or extra minutes for one assignment (``POST …/assignments/A/extensions``), or extra
minutes for every assignment of the course (``POST courses/C/extensions``), list them and
revoke them (``DELETE courses/C/extensions/<id>``). A student may list only their own.
Who granted or revoked, when (the service's clock) and why are recorded.
"""

from __future__ import annotations

import json
from dataclasses import replace

from coursehub.catalog.model import Course
from coursehub.service import extensions
from coursehub.service.api.base import ASSIGNMENT, COURSE, SEGMENT, BaseHandler, log
from coursehub.service.due_dates import parse_grant
from coursehub.service.rules import Refusal, require_member, require_staff


def extensions_body(rows: list) -> dict:
    return {"extensions": [extensions.extension_json(row) for row in rows]}


class ExtensionsBase(BaseHandler):
    async def grant(self, course: Course, assignment: str | None) -> None:
        require_staff(course, self.caller)
        try:
            body = json.loads(self.request.body or b"null")
        except ValueError:
            raise Refusal(400, "the body is not JSON") from None
        request = replace(parse_grant(body, assignment is None), assignment=assignment)
        if request.student not in course.students:
            raise Refusal(404, f"{request.student} is not a student of {course.id}")
        if assignment is not None and self.context.due(course, assignment) is None:
            raise Refusal(
                409,
                f"{assignment} has no due date in {course.id}'s course file, so nothing of it "
                "is late and an extension would move nothing",
            )
        now = self.context.now()
        row = await self.context.db.run(
            lambda session: extensions.extension_json(
                extensions.grant(session, course.id, request, self.caller.name, now)
            )
        )
        log.info(
            "%s granted %s an extension on %s/%s: %s",
            self.caller,
            request.student,
            course.id,
            assignment or "every assignment",
            request.reason,
        )
        self.write_json(row, 201)


class CourseExtensionsHandler(ExtensionsBase):
    async def get(self, course_id: str):
        course = self.course(course_id)
        role = require_member(course, self.caller)
        student = self.get_query_argument("student", None)
        if role == "student":
            if student not in (None, self.caller.name):
                raise Refusal(403, f"{self.caller} may only see their own extensions")
            student = self.caller.name
        revoked = self.get_query_argument("revoked", "0") in ("1", "true")
        rows = await self.context.db.run(
            lambda session: extensions.listed(session, course.id, student, revoked)
        )
        self.write_json(extensions_body(rows))

    async def post(self, course_id: str):
        await self.grant(self.course(course_id), None)


class AssignmentExtensionsHandler(ExtensionsBase):
    async def post(self, course_id: str, assignment: str):
        course, assignment = self.course_and_assignment(course_id, assignment)
        await self.grant(course, assignment)


class ExtensionHandler(BaseHandler):
    async def delete(self, course_id: str, extension_id: str):
        course = self.course(course_id)
        require_staff(course, self.caller)
        if not extension_id.isdigit():
            raise Refusal(400, f"extension id {extension_id!r} is not a number")
        now = self.context.now()
        row = await self.context.db.run(
            lambda session: extensions.extension_json(
                extensions.revoke(session, course.id, int(extension_id), self.caller.name, now)
            )
        )
        log.info("%s revoked extension %s of %s", self.caller, extension_id, course.id)
        self.write_json(row)


default_handlers = [
    (rf"{COURSE}/extensions", CourseExtensionsHandler),
    (rf"{COURSE}/extensions/{SEGMENT}", ExtensionHandler),
    (rf"{ASSIGNMENT}/extensions", AssignmentExtensionsHandler),
]
