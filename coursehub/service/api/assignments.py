"""The assignment exchange (``api/courses/<id>/assignments/...``; see ``docs/assignments.md``
for the contract): releases, submissions and feedback as archives, staff actions run on
the server (release from source, collect, autograde, feedback) and an assignment's status.
"""

from __future__ import annotations

import asyncio

from coursehub.service import exchange_db, workflow
from coursehub.service.api.base import (
    ASSIGNMENT,
    COURSE,
    SEGMENT,
    BaseHandler,
    parse_version,
    require_own,
)
from coursehub.service.rules import (
    Refusal,
    require_member,
    require_self_or_staff,
    require_staff,
    require_student,
)


class AssignmentListHandler(BaseHandler):
    async def get(self, course_id: str):
        course = self.course(course_id)
        role = require_member(course, self.caller)
        listed = await workflow.assignment_list(self.context, course, self.caller.name)
        self.write_json({"course": course.id, "role": role, "assignments": listed})


class ReleaseHandler(BaseHandler):
    async def get(self, course_id: str, assignment: str):
        course, assignment = self.course_and_assignment(course_id, assignment)
        role = require_member(course, self.caller)
        fetcher = self.caller.name if role == "student" else None
        release = await workflow.fetch_release(self.context, course, assignment, fetcher)
        data = await asyncio.to_thread(self.context.store.get, release.blob)
        self.write_archive(data, release.checksum, assignment)

    async def put(self, course_id: str, assignment: str):
        course, assignment = self.course_and_assignment(course_id, assignment)
        require_staff(course, self.caller)
        archive = await self.upload()
        body, status = await workflow.publish(
            self.context, course, assignment, archive, self.caller
        )
        self.write_json(body, status)

    async def delete(self, course_id: str, assignment: str):
        course, assignment = self.course_and_assignment(course_id, assignment)
        require_staff(course, self.caller)
        now = self.context.now()
        count = await self.context.db.run(
            lambda session: exchange_db.withdraw_release(session, course.id, assignment, now)
        )
        if not count:
            raise Refusal(404, f"{assignment} is not released in {course.id}")
        self.write_json({"name": assignment, "withdrawn": True})


class SubmissionsHandler(BaseHandler):
    async def get(self, course_id: str, assignment: str):
        course, assignment = self.course_and_assignment(course_id, assignment)
        student = self.get_query_argument("student", None)
        role = require_member(course, self.caller)
        if role == "student":
            student = require_own(self.caller, student)
        collect = self.get_query_argument("collect", "0") in ("1", "true")
        listed = await workflow.submission_list(self.context, course, assignment, student, collect)
        self.write_json({"submissions": listed})

    async def post(self, course_id: str, assignment: str):
        course, assignment = self.course_and_assignment(course_id, assignment)
        require_student(course, self.caller)
        self.refuse_forged_arguments()
        archive = await self.upload(submission=True)
        row = await workflow.submit(self.context, course, assignment, archive, self.caller)
        self.write_json(row, 201)


class SubmissionHandler(BaseHandler):
    async def get(self, course_id: str, assignment: str, student: str, version: str):
        course, assignment = self.course_and_assignment(course_id, assignment)
        require_self_or_staff(course, self.caller, student)
        number = parse_version(version)
        row = await self.context.db.run(
            lambda session: exchange_db.submission(session, course.id, assignment, student, number)
        )
        if row is None:
            raise Refusal(404, f"{student} has no version {number} of {assignment}")
        data = await asyncio.to_thread(self.context.store.get, row.blob)
        self.write_archive(data, row.checksum, f"{assignment}-{student}-v{number}")


class FeedbackListHandler(BaseHandler):
    async def get(self, course_id: str, assignment: str):
        course, assignment = self.course_and_assignment(course_id, assignment)
        student = self.get_query_argument("student", None)
        if require_member(course, self.caller) == "student":
            student = require_own(self.caller, student)
        listed = await workflow.feedback_list(self.context, course, assignment, student)
        self.write_json({"feedback": listed})


class FeedbackHandler(BaseHandler):
    async def get(self, course_id: str, assignment: str, student: str, version: str):
        course, assignment = self.course_and_assignment(course_id, assignment)
        require_self_or_staff(course, self.caller, student)
        number = parse_version(version)
        row = await workflow.feedback_of(self.context, course, assignment, student, number)
        if row is None:
            raise Refusal(404, f"no feedback for {student}'s version {number} of {assignment}")
        data = await asyncio.to_thread(self.context.store.get, row.blob)
        self.write_archive(data, row.checksum, f"{assignment}-{student}-feedback")

    async def put(self, course_id: str, assignment: str, student: str, version: str):
        course, assignment = self.course_and_assignment(course_id, assignment)
        require_staff(course, self.caller)
        number = parse_version(version)
        archive = await self.upload()
        body = await workflow.release_feedback(
            self.context, course, assignment, student, number, archive, self.caller
        )
        self.write_json(body, 201)


class ActionHandler(BaseHandler):
    async def post(self, course_id: str, assignment: str, action: str):
        course, assignment = self.course_and_assignment(course_id, assignment)
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
        course, assignment = self.course_and_assignment(course_id, assignment)
        require_staff(course, self.caller)
        self.write_json(await workflow.status(self.context, course, assignment))


default_handlers = [
    (rf"{COURSE}/assignments", AssignmentListHandler),
    (rf"{ASSIGNMENT}/release", ReleaseHandler),
    (rf"{ASSIGNMENT}/submissions", SubmissionsHandler),
    (rf"{ASSIGNMENT}/submissions/{SEGMENT}/{SEGMENT}", SubmissionHandler),
    (rf"{ASSIGNMENT}/feedback", FeedbackListHandler),
    (rf"{ASSIGNMENT}/feedback/{SEGMENT}/{SEGMENT}", FeedbackHandler),
    (rf"{ASSIGNMENT}/actions/{SEGMENT}", ActionHandler),
    (rf"{ASSIGNMENT}/status", StatusHandler),
]
