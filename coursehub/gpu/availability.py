"""Live GPU availability for the spawn page: pure functions over node and pod objects (as
the Kubernetes API returns them) and the service's per-course numbers.

- ``free_gpus``: how many more units of an environment's GPU resource the cluster can give
  now, on nodes the environment may use (its product label, the GPU taint), after the
  requests of pods that hold them (``grading.capacity.fitting_pods`` with a one-GPU probe).
- ``describe``: the lines the spawn page shows under a GPU environment: the cluster's free
  GPUs of that kind, the course's free places under its cap, the user's hours left.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from coursehub.catalog.model import Course, Environment
from coursehub.gpu.nodes import count_gpus, gpu_kind
from coursehub.gpu.policy import when
from coursehub.grading.capacity import fitting_pods
from coursehub.names import GPU_PRODUCT_LABEL, GPU_TOLERATION


def free_gpus(nodes: list[dict], pods: list[dict], environment: Environment) -> int:
    gpu = environment.gpu
    probe = {
        "spec": {
            "containers": [{"resources": {"limits": {gpu.resource: "1"}}}],
            "nodeSelector": {GPU_PRODUCT_LABEL: gpu.product} if gpu.product else {},
            "tolerations": [GPU_TOLERATION],
        }
    }
    return fitting_pods(nodes, pods, probe)


@dataclass(frozen=True)
class Line:
    kind: str  # "cluster" | "course" | "budget"
    text: str
    blocking: bool = False  # this number alone keeps the environment from starting now


def describe(
    course: Course,
    environment: Environment,
    cluster: tuple[int, int] | None,
    course_numbers: dict | None,
) -> list[Line]:
    """``cluster``: (free, total) GPUs of the environment's kind, None when unknown;
    ``course_numbers``: the service's availability entry for the course, None when
    unknown."""
    gpu = environment.gpu
    _, plural = gpu_kind(gpu.resource, gpu.product, gpu.share)
    wanted = environment.gpu_count  # units of the resource (shares, for a shared GPU)
    lines = []
    if cluster is None:
        lines.append(Line("cluster", f"Cluster: free {plural} unknown right now"))
    else:
        free, total = cluster
        lines.append(
            Line(
                "cluster",
                f"Cluster: {free} of {total} {plural} free",
                blocking=free < wanted,
            )
        )
    if course_numbers is None:
        lines.append(Line("course", f"{course.id}: GPU quota unknown right now"))
        return lines
    cap = course_numbers.get("cap")
    if cap is not None:
        # The cap counts GPU-equivalents: a quarter share takes 0.25 of it.
        free_places = max(0.0, cap - float(course_numbers.get("held") or 0))
        needs = f" (this takes {environment.gpu_equivalents:g})" if gpu.shared else ""
        lines.append(
            Line(
                "course",
                f"{course.id}: {round(free_places, 3):g} of {cap} GPUs free for the course{needs}",
                blocking=free_places + 1e-9 < environment.gpu_equivalents
                and not course_numbers.get("exempt"),
            )
        )
    remaining = course_numbers.get("remaining_hours")
    budget = course_numbers.get("budget_hours")
    if course_numbers.get("exempt"):
        lines.append(Line("budget", "You: no GPU-hour limit (course staff)"))
    elif remaining is not None and budget is not None:
        total = budget + float(course_numbers.get("extra_hours") or 0)
        resets = when(datetime.fromisoformat(course_numbers["resets_at"]))
        lines.append(
            Line(
                "budget",
                f"You: {remaining:.1f} of {total:g} GPU-hours left this week (resets {resets})",
                blocking=remaining <= 0,
            )
        )
    return lines


def cluster_counts(nodes: list[dict], pods: list[dict], environment: Environment):
    gpu = environment.gpu
    return free_gpus(nodes, pods, environment), count_gpus(nodes, gpu.resource, gpu.product)
