"""``GET api/me``: who the token's holder is, and their courses with their role in each."""

from __future__ import annotations

from coursehub.service.api.base import BaseHandler
from coursehub.service.rules import role_in


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


default_handlers = [("api/me", MeHandler)]
