"""The service's metrics (``coursehub.service.metrics``): what each recording does to the
scraped text, the open-sessions gauge, registries that never mix, and who may scrape."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from coursehub.service.metrics import METRICS_SCOPE, ServiceMetrics, scrape_allowed


def samples(metrics: ServiceMetrics) -> dict[tuple[str, tuple], float]:
    """``{(sample name, sorted labels): value}`` parsed back from the exposition text."""
    found = {}
    for family in text_string_to_metric_families(metrics.exposition().decode()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_admissions_and_refusals_by_reason_count_per_course():
    metrics = ServiceMetrics()
    metrics.admitted("ai-101")
    metrics.admitted("ai-101")
    metrics.refused("ai-101", "cap")
    metrics.refused("ml-201", "budget")
    metrics.queued_spawn("ml-201")
    found = samples(metrics)
    assert found[("coursehub_gpu_admissions_total", (("course", "ai-101"),))] == 2
    assert found[("coursehub_gpu_refusals_total", (("course", "ai-101"), ("reason", "cap")))] == 1
    assert (
        found[("coursehub_gpu_refusals_total", (("course", "ml-201"), ("reason", "budget")))] == 1
    )
    assert ("coursehub_gpu_refusals_total", (("course", "ai-101"), ("reason", "budget"))) not in (
        found
    )
    assert found[("coursehub_gpu_queued_total", (("course", "ml-201"),))] == 1


def test_open_sessions_gauge_is_replaced_at_each_scrape():
    metrics = ServiceMetrics()
    metrics.set_open_sessions(["ai-101", "ml-201"], {"ai-101": (2, 1.25)})
    found = samples(metrics)
    assert found[("coursehub_gpu_sessions_open", (("course", "ai-101"),))] == 2
    assert found[("coursehub_gpu_equivalents_held", (("course", "ai-101"),))] == 1.25
    assert found[("coursehub_gpu_sessions_open", (("course", "ml-201"),))] == 0
    # The sessions closed, and a course left the catalog: it is gone, the other is 0.
    metrics.set_open_sessions(["ai-101"], {})
    found = samples(metrics)
    assert found[("coursehub_gpu_sessions_open", (("course", "ai-101"),))] == 0
    assert ("coursehub_gpu_sessions_open", (("course", "ml-201"),)) not in found


def test_a_session_of_a_course_no_longer_in_the_catalog_still_counts():
    metrics = ServiceMetrics()
    metrics.set_open_sessions([], {"gone-101": (1, 1.0)})
    assert samples(metrics)[("coursehub_gpu_sessions_open", (("course", "gone-101"),))] == 1


def test_grading_jobs_count_outcomes_durations_and_submissions():
    metrics = ServiceMetrics()
    metrics.grading_job_ended("ai-101", "done", 42.0, graded=3, failed=1)
    metrics.grading_job_ended("ai-101", "failed", 0.5, graded=0, failed=2)
    found = samples(metrics)
    assert found[("coursehub_grading_jobs_total", (("course", "ai-101"), ("outcome", "done")))] == 1
    assert (
        found[("coursehub_grading_jobs_total", (("course", "ai-101"), ("outcome", "failed")))] == 1
    )
    assert found[("coursehub_grading_job_duration_seconds_count", (("course", "ai-101"),))] == 2
    assert found[("coursehub_grading_job_duration_seconds_sum", (("course", "ai-101"),))] == 42.5
    bucket = (
        "coursehub_grading_job_duration_seconds_bucket",
        (("course", "ai-101"), ("le", "30.0")),
    )
    assert found[bucket] == 1  # only the half-second job is under 30 s
    graded = ("coursehub_graded_submissions_total", (("course", "ai-101"), ("outcome", "graded")))
    failed = ("coursehub_graded_submissions_total", (("course", "ai-101"), ("outcome", "failed")))
    assert found[graded] == 3 and found[failed] == 3


def test_request_latency_per_handler_method_and_code():
    metrics = ServiceMetrics()
    metrics.request_finished("SubmitHandler", "POST", 201, 0.2)
    metrics.request_finished("SubmitHandler", "POST", 413, 0.001)
    found = samples(metrics)
    labels = (("code", "201"), ("handler", "SubmitHandler"), ("method", "POST"))
    assert found[("coursehub_request_duration_seconds_count", labels)] == 1
    assert found[("coursehub_request_duration_seconds_sum", labels)] == 0.2
    refused = (("code", "413"), ("handler", "SubmitHandler"), ("method", "POST"))
    assert found[("coursehub_request_duration_seconds_count", refused)] == 1


def test_two_services_in_one_process_count_apart():
    first, second = ServiceMetrics(), ServiceMetrics()
    first.admitted("ai-101")
    assert ("coursehub_gpu_admissions_total", (("course", "ai-101"),)) in samples(first)
    assert ("coursehub_gpu_admissions_total", (("course", "ai-101"),)) not in samples(second)


def test_scrapes_need_the_read_metrics_scope():
    assert scrape_allowed({"name": "prometheus", "scopes": [METRICS_SCOPE]}, True) == (True, "")
    allowed, why = scrape_allowed({"name": "student1", "scopes": ["access:services"]}, True)
    assert not allowed and "student1" in why and METRICS_SCOPE in why
    allowed, why = scrape_allowed(None, True)
    assert not allowed and "Authorization" in why and "COURSEHUB_SERVICE_METRICS_AUTH" in why


def test_an_admin_can_turn_the_check_off():
    assert scrape_allowed(None, False) == (True, "")
