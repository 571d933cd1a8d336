"""Grade passback to the LMS (``docs/lms.md``): ``POST …/assignments/A/grades/push`` sends
the assignment's grades (staff of the course, staff-scoped token; ``lms_grades.push``), and
``GET lti/jwks`` publishes the tool's public key for the LMS to check its signed token
requests (no token: the LMS fetches it)."""

from __future__ import annotations

import json

from tornado.web import RequestHandler

from coursehub.service import lms_grades
from coursehub.service.ags import public_jwks
from coursehub.service.api.base import ASSIGNMENT, BaseHandler
from coursehub.service.context import ServiceContext
from coursehub.service.rules import require_staff


class GradesPushHandler(BaseHandler):
    async def post(self, course_id: str, assignment: str):
        course, assignment = self.course_and_assignment(course_id, assignment)
        require_staff(course, self.caller)
        self.write_json(await lms_grades.push(self.context, course, assignment, self.caller))


class JWKSHandler(RequestHandler):
    """The tool's public key set; an empty set while passback is not set up."""

    def initialize(self, context: ServiceContext):
        self.context = context

    def get(self):
        key = self.context.lms.tool_key
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "max-age=300")
        self.finish(json.dumps(public_jwks(key) if key else {"keys": []}))


default_handlers = [
    (rf"{ASSIGNMENT}/grades/push", GradesPushHandler),
    ("lti/jwks", JWKSHandler),
]
