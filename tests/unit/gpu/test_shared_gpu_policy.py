"""Shares of time-sliced GPUs in the GPU policy and the spawn page: caps, budgets and hours
count GPU-equivalents (a quarter share is 0.25), availability counts free shares."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from factories import gpu_policy_course

from coursehub.catalog.model import Environment
from coursehub.gpu import policy
from coursehub.gpu.availability import cluster_counts, describe
from coursehub.gpu.nodes import gpu_kind
from coursehub.gpu.reports import SessionRow, build_report

NOW = datetime(2026, 12, 2, 15, 30, tzinfo=UTC)
TAINT = [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]


def quarter_env() -> Environment:
    return Environment.model_validate(
        {
            "slug": "t4-quarter",
            "display_name": "AI-101 · quarter of a T4",
            "image": "coursehub/notebook-gpu:test",
            "gpu": {"count": 1, "resource": "nvidia.com/gpu.shared", "share": 0.25},
        }
    )


def shared_course(**policy_fields):
    base = gpu_policy_course(**policy_fields)
    return base.model_copy(update={"environments": [quarter_env(), *base.environments]})


def test_a_course_given_8_gpus_serves_32_students_on_quarter_shares():
    ai = shared_course(max_concurrent_gpus=8)
    env = ai.environment("t4-quarter")
    held = 0.0
    for _ in range(32):
        decision = policy.admit(ai, env, "student", held, 0, 0, NOW)
        assert decision.admitted, decision.message
        held += env.gpu_equivalents
    refused = policy.admit(ai, env, "student", held, 0, 0, NOW)
    assert (refused.admitted, refused.reason, refused.status) == (False, "cap", 429)
    assert "allows 8 GPUs at once" in refused.message and "8 are in use" in refused.message


def test_a_whole_gpu_does_not_fit_in_three_quarters_left():
    ai = shared_course(max_concurrent_gpus=8)
    refused = policy.admit(ai, ai.environment("gpu"), "student", 7.25, 0, 0, NOW)
    assert refused.reason == "cap" and "7.25 are in use" in refused.message
    assert policy.admit(ai, ai.environment("t4-quarter"), "student", 7.25, 0, 0, NOW).admitted


def test_queued_shares_count_in_equivalents_too():
    ai = shared_course(max_concurrent_gpus=2)
    env = ai.environment("t4-quarter")
    assert policy.admit(ai, env, "student", 1.5, 0, 0, NOW, gpus_queued_ahead=0.25).admitted
    assert not policy.admit(ai, env, "student", 1.5, 0, 0, NOW, gpus_queued_ahead=0.5).admitted


def test_a_quarter_share_held_for_an_hour_is_a_quarter_gpu_hour():
    span = policy.Span(quarter_env().gpu_equivalents, NOW - timedelta(hours=1), None)
    assert policy.gpu_hours([span], NOW - timedelta(days=1), NOW) == 0.25


def test_a_budget_on_a_quarter_share_lasts_four_times_as_long():
    ai = shared_course(gpu_hours_per_student_per_week=10)
    # 0.1 GPU-hours left: 6 minutes on a whole GPU (warned), 24 minutes on a quarter share.
    on_whole = policy.judge(ai, "student", 1.0, NOW, 9.9, 1.0, 0, None, NOW)
    on_quarter = policy.judge(ai, "student", 0.25, NOW, 9.9, 0.25, 0, None, NOW)
    assert on_whole is not None and on_whole.action == "warn"
    assert on_quarter is None
    spent = policy.judge(ai, "student", 0.25, NOW, 10.0, 0.25, 0, None, NOW)
    assert spent.action == "stop" and spent.reason == "budget"


def test_shares_are_named_for_people():
    assert gpu_kind("nvidia.com/gpu.shared", None, 0.25) == (
        "quarter-GPU share",
        "quarter-GPU shares",
    )
    assert gpu_kind("nvidia.com/gpu", "Tesla-T4-SHARED", 0.5)[1] == "T4 half-GPU shares"
    assert gpu_kind("nvidia.com/gpu.shared", None, 0.125)[0] == "1/8-GPU share"
    assert gpu_kind("nvidia.com/gpu", "NVIDIA-A100-SXM4-80GB")[0] == "A100 GPU"


def shared_node(name: str, replicas: int, physical: int) -> dict:
    return {
        "metadata": {"name": name, "labels": {"nvidia.com/gpu.replicas": str(replicas)}},
        "spec": {"taints": TAINT},
        "status": {
            "allocatable": {
                "cpu": "32",
                "memory": "64Gi",
                "nvidia.com/gpu.shared": str(replicas * physical),
            }
        },
    }


def share_pod(node: str) -> dict:
    limits = {"nvidia.com/gpu.shared": "1"}
    return {
        "spec": {"nodeName": node, "containers": [{"resources": {"limits": limits}}]},
        "status": {"phase": "Running"},
    }


def test_the_spawn_page_counts_free_shares_and_the_course_in_equivalents():
    ai = shared_course(max_concurrent_gpus=8, gpu_hours_per_student_per_week=10)
    env = ai.environment("t4-quarter")
    nodes = [shared_node("t4-a", 4, 1), shared_node("t4-b", 4, 1)]
    pods = [share_pod("t4-a"), share_pod("t4-a"), share_pod("t4-b")]
    cluster = cluster_counts(nodes, pods, env)
    assert cluster == (5, 8)
    numbers = {
        "cap": 8,
        "held": 7.75,
        "budget_hours": 10,
        "extra_hours": 0,
        "used_hours": 2.5,
        "remaining_hours": 7.5,
        "exempt": False,
        "resets_at": datetime(2026, 12, 7, tzinfo=UTC).isoformat(),
    }
    lines = describe(ai, env, cluster, numbers)
    assert [(line.kind, line.text, line.blocking) for line in lines][:2] == [
        ("cluster", "Cluster: 5 of 8 quarter-GPU shares free", False),
        ("course", "ai-101: 0.25 of 8 GPUs free for the course (this takes 0.25)", False),
    ]
    full = describe(ai, env, (0, 8), {**numbers, "held": 8.0})
    assert [(line.text, line.blocking) for line in full][:2] == [
        ("Cluster: 0 of 8 quarter-GPU shares free", True),
        ("ai-101: 0 of 8 GPUs free for the course (this takes 0.25)", True),
    ]


def test_usage_reports_count_a_quarter_share_as_a_quarter_gpu_hour():
    since = NOW - timedelta(days=1)
    rows = [
        SessionRow("ada", "ai-101", 0.25, since, since, since + timedelta(hours=4)),
        SessionRow("alan", "ai-101", 1.0, since, since, since + timedelta(hours=1)),
    ]
    report = build_report(rows, [], ["ai-101"], since, NOW, NOW)
    assert {row.user: row.gpu_hours for row in report.rows} == {"ada": 1.0, "alan": 1.0}
    assert report.totals[0].gpu_hours == 2.0
