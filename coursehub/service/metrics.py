"""The coursehub service's Prometheus metrics, defined once (docs/deploy.md, "Metrics").

``ServiceMetrics`` owns a ``CollectorRegistry`` of its own, never prometheus_client's
global one: every service app (and every test that builds one in the same process) counts
apart. The handlers that see the events record them through its methods; the open GPU
sessions are read from the ledger at scrape time (``set_open_sessions``), so the gauge is
right after a restart and never drifts from the database.

``scrape_allowed`` decides who may read ``GET api/metrics``: like JupyterHub's own
``/hub/metrics``, a hub token with ``read:metrics``, unless the admin turned the check off
(``COURSEHUB_SERVICE_METRICS_AUTH=0``, as JupyterHub's ``authenticate_prometheus``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from jupyterhub.services.auth import check_scopes
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

METRICS_SCOPE = "read:metrics"
CONTENT_TYPE = CONTENT_TYPE_LATEST

# GPU spawns the hub asks about can be refused before the ledger is consulted too.
NOT_MEMBER = "not_member"
UNKNOWN_ENVIRONMENT = "unknown_environment"

# Requests answer in milliseconds; uploads of submissions and collects take seconds. Few
# buckets: every handler x method x status code is a histogram of its own.
REQUEST_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1, 5, 30)
# A grading job runs a whole class's submissions: seconds to an hour or more.
JOB_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200)


class ServiceMetrics:
    """Every metric of the service, registered in ``registry``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.admissions = Counter(
            "coursehub_gpu_admissions",
            "GPU spawns the service admitted, per course.",
            ["course"],
            registry=self.registry,
        )
        self.refusals = Counter(
            "coursehub_gpu_refusals",
            "GPU spawns the service refused, per course and reason: cap (the course's GPUs "
            "at once), budget (the student's GPU-hours this week), not_member, "
            "unknown_environment.",
            ["course", "reason"],
            registry=self.registry,
        )
        self.queued = Counter(
            "coursehub_gpu_queued",
            "GPU spawn requests answered with a place in the course's queue (queue_when_full).",
            ["course"],
            registry=self.registry,
        )
        self.sessions_open = Gauge(
            "coursehub_gpu_sessions_open",
            "GPU sessions open in the ledger now (admitted or running), per course.",
            ["course"],
            registry=self.registry,
        )
        self.gpus_held = Gauge(
            "coursehub_gpu_equivalents_held",
            "GPU-equivalents the open sessions hold now, per course (a quarter share is 0.25).",
            ["course"],
            registry=self.registry,
        )
        self.grading_jobs = Counter(
            "coursehub_grading_jobs",
            "Autograding jobs that ended, per course and outcome (done, failed).",
            ["course", "outcome"],
            registry=self.registry,
        )
        self.grading_job_seconds = Histogram(
            "coursehub_grading_job_duration_seconds",
            "Wall time of autograding jobs, from start (after waiting for the course's "
            "lock) to end, per course.",
            ["course"],
            buckets=JOB_BUCKETS,
            registry=self.registry,
        )
        self.graded_submissions = Counter(
            "coursehub_graded_submissions",
            "Submissions autograding jobs finished, per course and outcome (graded, failed).",
            ["course", "outcome"],
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "coursehub_request_duration_seconds",
            "Latency of the service's API requests (the exchange, grading, GPU ledger), per "
            "handler, method and status code.",
            ["handler", "method", "code"],
            buckets=REQUEST_BUCKETS,
            registry=self.registry,
        )

    # ----- recording ------------------------------------------------------------------

    def admitted(self, course: str) -> None:
        self.admissions.labels(course=course).inc()

    def refused(self, course: str, reason: str) -> None:
        self.refusals.labels(course=course, reason=reason).inc()

    def queued_spawn(self, course: str) -> None:
        self.queued.labels(course=course).inc()

    def grading_job_ended(
        self, course: str, outcome: str, seconds: float, graded: int, failed: int
    ) -> None:
        self.grading_jobs.labels(course=course, outcome=outcome).inc()
        self.grading_job_seconds.labels(course=course).observe(max(0.0, seconds))
        if graded:
            self.graded_submissions.labels(course=course, outcome="graded").inc(graded)
        if failed:
            self.graded_submissions.labels(course=course, outcome="failed").inc(failed)

    def request_finished(self, handler: str, method: str, code: int, seconds: float) -> None:
        self.request_seconds.labels(handler=handler, method=method, code=str(code)).observe(seconds)

    def set_open_sessions(
        self, courses: Iterable[str], open_totals: Mapping[str, tuple[int, float]]
    ) -> None:
        """The gauges from the ledger's open sessions, ``{course: (sessions,
        gpu_equivalents)}``; every course in ``courses`` is reported, 0 when it holds
        nothing, and a course that left the catalog disappears once its sessions closed."""
        totals = {course: (0, 0.0) for course in courses}
        totals.update(open_totals)
        self.sessions_open.clear()
        self.gpus_held.clear()
        for course, (count, held) in totals.items():
            self.sessions_open.labels(course=course).set(count)
            self.gpus_held.labels(course=course).set(held)

    # ----- exposition -----------------------------------------------------------------

    def exposition(self) -> bytes:
        """The text format Prometheus scrapes (thread-safe: the handler renders it off the
        event loop, since thousands of series take a while)."""
        return generate_latest(self.registry)


def scrape_allowed(model: Mapping | None, authenticate: bool) -> tuple[bool, str]:
    """Whether a scrape by the owner of the hub's ``model`` of the token (None: no token,
    or one the hub does not know) may read the metrics, and if not, why, in a sentence."""
    if not authenticate:
        return True, ""
    if model is None:
        return False, (
            f"metrics need a hub token with the {METRICS_SCOPE} scope: send 'Authorization: "
            "token <token>' (or set COURSEHUB_SERVICE_METRICS_AUTH=0 to let anyone who "
            "reaches the service scrape)"
        )
    if not check_scopes(METRICS_SCOPE, set(model.get("scopes") or ())):
        return False, (
            f"this token of {model.get('name')} lacks the {METRICS_SCOPE} scope: give the "
            f"scraper's token a role with {METRICS_SCOPE} (docs/deploy.md, Metrics)"
        )
    return True, ""
