"""The spawn page's availability lines and form, from node and pod objects."""

from __future__ import annotations

from datetime import UTC, datetime

from factories import gpu_policy_course

from coursehub.gpu.availability import cluster_counts, describe
from coursehub.hub.spawn_form import render_spawn_form

A100 = "NVIDIA-A100-SXM4-80GB"
TAINT = [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]


def node(name: str, gpus: int, product: str = A100, unschedulable: bool = False) -> dict:
    return {
        "metadata": {"name": name, "labels": {"nvidia.com/gpu.product": product}},
        "spec": {"taints": TAINT, "unschedulable": unschedulable},
        "status": {"allocatable": {"cpu": "32", "memory": "256Gi", "nvidia.com/gpu": str(gpus)}},
    }


def pod(node_name: str | None, gpus: int, phase: str = "Running") -> dict:
    spec = {"containers": [{"resources": {"limits": {"nvidia.com/gpu": str(gpus)}}}]}
    if node_name:
        spec["nodeName"] = node_name
    return {"spec": spec, "status": {"phase": phase}}


def test_free_gpus_subtract_what_pods_hold_on_matching_nodes():
    env = gpu_policy_course().environment("gpu")
    a100 = env.model_copy(update={"gpu": env.gpu.model_copy(update={"product": A100})})
    nodes = [
        node("a", 2),
        node("b", 2),
        node("t4", 4, product="Tesla-T4"),
        node("c", 2, unschedulable=True),
    ]
    pods = [
        pod("a", 1),
        pod("b", 2),
        pod("a", 1, phase="Succeeded"),  # finished: holds nothing
        pod(None, 1, phase="Pending"),  # not scheduled: holds nothing yet
        pod("t4", 4),  # another kind of GPU
    ]
    assert cluster_counts(nodes, pods, a100) == (1, 4)
    assert cluster_counts(nodes, pods, env) == (1, 8)  # no product: every GPU node counts


def test_lines_name_the_cluster_the_course_cap_and_the_hours_left():
    ai = gpu_policy_course(max_concurrent_gpus=4, gpu_hours_per_student_per_week=10)
    numbers = {
        "cap": 4,
        "held": 3,
        "budget_hours": 10,
        "extra_hours": 2,
        "used_hours": 4.5,
        "remaining_hours": 7.5,
        "exempt": False,
        "resets_at": datetime(2026, 12, 7, tzinfo=UTC).isoformat(),
    }
    lines = describe(ai, ai.environment("gpu2"), (3, 4), numbers)
    assert [(line.kind, line.text, line.blocking) for line in lines] == [
        ("cluster", "Cluster: 3 of 4 GPUs free", False),
        ("course", "ai-101: 1 of 4 GPUs free for the course", True),  # it needs two
        (
            "budget",
            "You: 7.5 of 12 GPU-hours left this week (resets Monday 7 December, 00:00 UTC)",
            False,
        ),
    ]
    unknown = describe(ai, ai.environment("gpu"), None, None)
    assert [line.text for line in unknown] == [
        "Cluster: free GPUs unknown right now",
        "ai-101: GPU quota unknown right now",
    ]


def test_the_form_escapes_names_and_keeps_the_last_choice():
    profiles = [
        {"slug": "ai-101-gpu", "display_name": "<b>GPU</b>", "description": "", "default": True},
        {"slug": "ai-101-cpu", "display_name": "CPU", "description": "x & y", "default": False},
    ]
    html = render_spawn_form(profiles, {}, "ai-101-cpu")
    assert "&lt;b&gt;GPU&lt;/b&gt;" in html and "<b>GPU</b>" not in html
    assert "x &amp; y" in html
    assert 'value="ai-101-cpu" checked' in html and 'value="ai-101-gpu" checked' not in html
    assert 'value="ai-101-gpu" checked' in render_spawn_form(profiles, {}, "gone-profile")
    assert "not enrolled in any course" in render_spawn_form([], {}, None)
