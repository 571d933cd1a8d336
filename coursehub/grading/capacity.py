"""How many grading pods of one shape fit in the cluster right now (pure).

From node and pod objects as the API returns them (dicts): per schedulable node whose
taints the pod tolerates and whose labels match its node selector, the free amount of each
resource the pod requests (allocatable minus the requests of pods still running there),
divided by the request. The service uses it to choose how many grading pods to run at once
when ``COURSEHUB_GRADING_PARALLELISM`` is ``auto``.
"""

from __future__ import annotations

from decimal import Decimal

from coursehub.quantity import parse_quantity

FINISHED = ("Succeeded", "Failed")


def _requests(pod: dict) -> dict[str, Decimal]:
    total: dict[str, Decimal] = {}
    for container in pod.get("spec", {}).get("containers", []):
        resources = container.get("resources") or {}
        amounts = {**(resources.get("limits") or {}), **(resources.get("requests") or {})}
        for name, value in amounts.items():
            total[name] = total.get(name, Decimal(0)) + parse_quantity(value)
    return total


def _tolerated(node: dict, pod: dict) -> bool:
    tolerations = pod["spec"].get("tolerations") or []
    for taint in node.get("spec", {}).get("taints") or []:
        if taint.get("effect") not in ("NoSchedule", "NoExecute"):
            continue
        if not any(
            t.get("key") == taint.get("key")
            and (t.get("operator") == "Exists" or t.get("value") == taint.get("value"))
            for t in tolerations
        ):
            return False
    return True


def fitting_pods(nodes: list[dict], pods: list[dict], pod: dict) -> int:
    wanted = {name: amount for name, amount in _requests(pod).items() if amount > 0}
    selector = pod["spec"].get("nodeSelector") or {}
    used: dict[str, dict[str, Decimal]] = {}
    for other in pods:
        node_name = other.get("spec", {}).get("nodeName")
        if node_name and other.get("status", {}).get("phase") not in FINISHED:
            slot = used.setdefault(node_name, {})
            for name, amount in _requests(other).items():
                slot[name] = slot.get(name, Decimal(0)) + amount
    count = 0
    for node in nodes:
        labels = node["metadata"].get("labels") or {}
        if node.get("spec", {}).get("unschedulable") or not _tolerated(node, pod):
            continue
        if any(labels.get(key) != value for key, value in selector.items()):
            continue
        allocatable = node.get("status", {}).get("allocatable") or {}
        fits = None
        for name, amount in wanted.items():
            free = parse_quantity(allocatable.get(name, "0")) - used.get(
                node["metadata"]["name"], {}
            ).get(name, Decimal(0))
            here = int(free // amount) if free > 0 else 0
            fits = here if fits is None else min(fits, here)
        count += fits or 0
    return count
