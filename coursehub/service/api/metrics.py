"""``GET api/metrics``: the service's Prometheus metrics (``coursehub.service.metrics``).

Not a ``BaseHandler``: a scraper's token needs ``read:metrics`` (as for the hub's own
``/hub/metrics``), not access to the service's API, and a scrape is not an API request
to time. The open GPU sessions are read from the ledger just before the answer (one
grouped query), and the text is rendered in a worker thread.
"""

from __future__ import annotations

import asyncio
import json

from jupyterhub.services.auth import HubAuth
from tornado.web import RequestHandler

from coursehub.service import gpu_ledger
from coursehub.service.context import ServiceContext
from coursehub.service.metrics import CONTENT_TYPE, scrape_allowed


class MetricsHandler(RequestHandler):
    def initialize(self, context: ServiceContext):
        self.context = context

    @property
    def hub_auth(self) -> HubAuth:
        return self.settings["hub_auth"]

    def check_xsrf_cookie(self):
        """Only header tokens authenticate here."""

    async def get(self):
        model = None
        if self.context.settings.metrics_auth:
            token = self.hub_auth.get_token(self, in_cookie=False)
            if token:
                model = await self.hub_auth.user_for_token(token, sync=False)
        allowed, why = scrape_allowed(model, self.context.settings.metrics_auth)
        if not allowed:
            self.set_status(403 if model is not None else 401)
            self.set_header("Content-Type", "application/json")
            self.finish(json.dumps({"status": self.get_status(), "message": why}))
            return
        courses = [
            course.id
            for course in self.context.catalog.courses.values()
            if any(environment.gpu_count for environment in course.environments)
        ]
        open_totals = await self.context.db.run(gpu_ledger.open_totals)
        metrics = self.context.metrics
        metrics.set_open_sessions(courses, open_totals)
        text = await asyncio.to_thread(metrics.exposition)  # no pause for other requests
        self.set_header("Content-Type", CONTENT_TYPE)
        self.finish(text)


default_handlers = [("api/metrics", MetricsHandler)]
