"""``GET api/jobs/<id>``: a grading job's progress, for the staff of its course."""

from __future__ import annotations

from coursehub.service import workflow
from coursehub.service.api.base import SEGMENT, BaseHandler
from coursehub.service.rules import Refusal, lacks_staff_scope, require_staff, staff_scope_refusal


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


default_handlers = [(rf"api/jobs/{SEGMENT}", JobHandler)]
