"""``GET api/courses/<id>/grades.csv``: the course's grades (one assignment's with
``?assignment=``) from its nbgrader gradebook, for its staff."""

from __future__ import annotations

from coursehub.exchange.archive import check_name
from coursehub.service import workflow
from coursehub.service.api.base import COURSE, BaseHandler
from coursehub.service.rules import require_staff


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


default_handlers = [(rf"{COURSE}/grades\.csv", GradesHandler)]
