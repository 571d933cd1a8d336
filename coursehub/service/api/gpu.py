"""The GPU ledger over HTTP (``api/gpu/...``; see docs/gpu.md).

Admission and the session start and stop reports come only from the hub's own client
(``Caller.is_hub``): a user or a server cannot open, close or extend a session. Users read
their own notices; a server reports its own GPU telemetry (``require_own_server``); admins
grant extra hours; admins and a course's staff read its sessions
(staff and admin powers need a staff-scoped token, see ``rules``).
"""

from __future__ import annotations

import json
import math

from coursehub.gpu import policy
from coursehub.service import gpu_ledger, gpu_usage
from coursehub.service.api.base import BaseHandler
from coursehub.service.metrics import NOT_MEMBER, UNKNOWN_ENVIRONMENT
from coursehub.service.models import GPUGrant
from coursehub.service.rules import (
    Refusal,
    find_course,
    lacks_staff_scope,
    require_admin,
    require_own_server,
    role_in,
    staff_scope_refusal,
)

STOP_REASONS = ("stopped", "start_failed", "budget", "session_limit", "idle", "vanished")


class GPUHandler(BaseHandler):
    def body(self) -> dict:
        try:
            data = json.loads(self.request.body or b"{}")
        except ValueError as error:
            raise Refusal(400, f"the request body is not JSON: {error}") from None
        if not isinstance(data, dict):
            raise Refusal(400, "the request body must be a JSON object")
        return data

    def field(self, data: dict, name: str, kind: type = str, default=None):
        value = data.get(name, default)
        if value is None or not isinstance(value, kind) or isinstance(value, bool):
            if kind is float and isinstance(value, int) and not isinstance(value, bool):
                return float(value)
            raise Refusal(400, f"'{name}' must be a {kind.__name__}, not {value!r}")
        return value

    def require_hub(self) -> None:
        if not self.caller.is_hub:
            raise Refusal(403, f"{self.caller} may not do this: only the hub reports GPU sessions")


class AdmissionHandler(GPUHandler):
    async def post(self):
        self.require_hub()
        data = self.body()
        username = self.field(data, "username")
        server_name = self.field(data, "server_name", default="")
        course = find_course(self.context.catalog, self.field(data, "course"))
        environment = course.environment(self.field(data, "environment"))
        metrics = self.context.metrics
        if environment is None:
            metrics.refused(course.id, UNKNOWN_ENVIRONMENT)
            raise Refusal(404, f"{course.id} has no environment {data['environment']!r}")
        role = course.role_of(username) or ("staff" if data.get("admin") else None)
        if role is None:
            metrics.refused(course.id, NOT_MEMBER)
            raise Refusal(403, f"{username} is not a member of {course.id}")
        now = self.context.now()
        if course.id not in self.context.gpu_lock_rows:  # lock rows are never deleted
            await self.context.db.run(lambda db: gpu_ledger.ensure_course_lock(db, course.id))
            self.context.gpu_lock_rows.add(course.id)
        admission = await self.context.db.run(
            lambda db: gpu_ledger.admit_session(
                db, course, environment, username, server_name, role, now
            )
        )
        decision = admission.decision
        if admission.position is not None:
            metrics.queued_spawn(course.id)
            self.write_json(
                {
                    "admitted": False,
                    "queued": True,
                    "position": admission.position,
                    "message": policy.queue_message(course, admission.position),
                },
                202,
            )
            return
        if not decision.admitted:
            metrics.refused(course.id, decision.reason or "other")
            raise Refusal(decision.status, decision.message)
        metrics.admitted(course.id)
        self.write_json({"admitted": True, "session": admission.session_id})


class SessionReportHandler(GPUHandler):
    async def post(self, event: str):
        self.require_hub()
        data = self.body()
        username = self.field(data, "username")
        server_name = self.field(data, "server_name", default="")
        now = self.context.now()
        if event == "started":
            found = await self.context.db.run(
                lambda db: gpu_ledger.mark_started(db, username, server_name, now)
            )
        elif event == "stopped":
            reason = self.field(data, "reason", default="stopped")
            if reason not in STOP_REASONS:
                raise Refusal(400, f"'reason' must be one of {', '.join(STOP_REASONS)}")
            found = await self.context.db.run(
                lambda db: gpu_ledger.close(db, username, server_name, reason, now)
            )
        else:
            raise Refusal(404, f"unknown session event {event!r}: use started or stopped")
        self.write_json({"found": found})


class AvailabilityHandler(GPUHandler):
    """Per course of the user: the cap and what the course holds, the user's budget, what
    they used this week and when it resets (the spawn page's numbers)."""

    async def get(self):
        username = self.get_argument("username", self.caller.name)
        if username != self.caller.name and not (self.caller.is_hub or self.caller.admin):
            if self.caller.hub_admin:
                raise staff_scope_refusal(self.caller, "read others' GPU availability")
            raise Refusal(403, f"{self.caller} may only read their own GPU availability")
        catalog = self.context.catalog
        # Admins may start every course's environments (as staff).
        admin = self.get_argument("admin", "") == "1" and (self.caller.is_hub or self.caller.admin)
        courses = [
            course
            for course in catalog.courses.values()
            if any(env.gpu_count for env in course.environments)
            and (course.role_of(username) is not None or admin)
        ]
        now = self.context.now()
        answer = await self.context.db.run(
            lambda db: gpu_usage.availability(db, courses, username, now)
        )
        self.write_json({"username": username, "courses": answer})


class NoticeHandler(GPUHandler):
    """The caller's warnings for their running GPU servers (JupyterLab shows them)."""

    async def get(self):
        name = self.caller.name
        notices = await self.context.db.run(lambda db: gpu_usage.notices(db, name))
        self.write_json({"notices": notices})


class TelemetryHandler(GPUHandler):
    """A GPU server's report of its GPU use (the notices server extension posts it every
    ``COURSEHUB_GPU_TELEMETRY_SECONDS`` with the server's own token): folded into its open
    session (used GPU-hours, last busy time). Answers what the status bar shows."""

    async def post(self):
        data = self.body()
        username = self.field(data, "username", default=self.caller.name)
        server_name = self.field(data, "server_name", default="")
        require_own_server(self.caller, self.token_scopes, username, server_name)
        report = gpu_ledger.Telemetry(
            utilization=self.percent(data, "gpu_utilization"),
            memory_used_bytes=self.bytes(data, "gpu_memory_used_bytes"),
            memory_total_bytes=self.bytes(data, "gpu_memory_total_bytes"),
            kernel_busy=self.flag(data, "kernel_busy"),
        )
        catalog = self.context.catalog
        now = self.context.now()
        answer = await self.context.db.run(
            lambda db: gpu_usage.record_telemetry(db, catalog, username, server_name, report, now)
        )
        if answer is None:
            label = f"server {server_name!r}" if server_name else "default server"
            raise Refusal(
                404,
                f"{username} has no open GPU session for their {label}: only a running GPU "
                "server reports GPU telemetry",
            )
        self.write_json(answer)

    def percent(self, data: dict, name: str) -> float | None:
        value = data.get(name)
        if value is None:
            return None
        value = self.field(data, name, float)
        if not math.isfinite(value) or not 0 <= value <= 100:
            raise Refusal(400, f"'{name}' must be a percentage from 0 to 100, not {value!r}")
        return value

    def bytes(self, data: dict, name: str) -> int | None:
        value = data.get(name)
        if value is None:
            return None
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**53:
            raise Refusal(400, f"'{name}' must be a whole number of bytes, not {value!r}")
        return value

    def flag(self, data: dict, name: str) -> bool:
        value = data.get(name, False)
        if not isinstance(value, bool):
            raise Refusal(400, f"'{name}' must be true or false, not {value!r}")
        return value


class GrantHandler(GPUHandler):
    async def post(self):
        require_admin(self.caller, "grant GPU-hours")
        data = self.body()
        course = find_course(self.context.catalog, self.field(data, "course"))
        username = self.field(data, "username")
        if course.role_of(username) is None:
            raise Refusal(404, f"{username} is not a member of {course.id}")
        hours = self.field(data, "hours", float)
        if not math.isfinite(hours) or hours <= 0 or hours > 1000:
            raise Refusal(400, f"'hours' must be more than 0 and at most 1000, not {hours!r}")
        note = str(data.get("note") or "")[:500]
        now = self.context.now()
        grant = GPUGrant(
            username=username,
            course=course.id,
            week_start=policy.week_start(now),
            hours=hours,
            note=note,
            granted_by=self.caller.name,
            granted_at=now,
        )
        total = await self.context.db.run(lambda db: gpu_ledger.add_grant(db, grant, now))
        self.write_json(
            {
                "course": course.id,
                "username": username,
                "hours": hours,
                "extra_hours_this_week": total,
                "week_start": grant.week_start.isoformat(),
            },
            201,
        )


class SessionListHandler(GPUHandler):
    async def get(self):
        course_id = self.get_argument("course", None)
        if course_id is None:
            if not self.caller.admin:
                if self.caller.hub_admin:
                    raise staff_scope_refusal(self.caller, "read every GPU session")
                raise Refusal(403, f"{self.caller} is not an admin: name a course you teach")
        else:
            course = find_course(self.context.catalog, course_id)
            if role_in(course, self.caller) != "staff":
                if lacks_staff_scope(course, self.caller):
                    raise staff_scope_refusal(self.caller, f"read the GPU sessions of {course.id}")
                raise Refusal(403, f"{self.caller} is not staff of {course.id}")
        only_open = self.get_argument("open", "") in ("1", "true")
        now = self.context.now()
        sessions = await self.context.db.run(
            lambda db: gpu_usage.session_list(db, course_id, only_open, now)
        )
        self.write_json({"sessions": sessions})


default_handlers = [
    ("api/gpu/admissions", AdmissionHandler),
    ("api/gpu/sessions/(started|stopped)", SessionReportHandler),
    ("api/gpu/sessions", SessionListHandler),
    ("api/gpu/availability", AvailabilityHandler),
    ("api/gpu/notices", NoticeHandler),
    ("api/gpu/grants", GrantHandler),
    ("api/gpu/telemetry", TelemetryHandler),
]
