"""``GET api/gpu/usage?course=C&since=…&until=…``: a GPU usage report as JSON
(docs/gpu-usage.md); who may see which courses is ``gpu_usage.courses_in_scope``."""

from __future__ import annotations

from coursehub.gpu.reports import report_json
from coursehub.service.api.base import BaseHandler
from coursehub.service.gpu_usage import courses_in_scope, usage_report, window


class UsageHandler(BaseHandler):
    """``GET api/gpu/usage``: the report as JSON (``reports.report_json`` plus ``now``)."""

    async def get(self):
        courses = courses_in_scope(
            self.context.catalog, self.caller, self.get_argument("course", None) or None
        )
        now = self.context.now()
        since, until = window(
            self.get_argument("since", None) or None, self.get_argument("until", None) or None, now
        )
        report = await usage_report(self.context, courses, since, until, now)
        self.write_json({**report_json(report), "now": now.isoformat()})


default_handlers = [("api/gpu/usage", UsageHandler)]
