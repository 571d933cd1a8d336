"""Scheduling: which node a pending pod goes to, or why none can take it.

The pure part (``schedule``) follows kube-scheduler's default filters, in its order:
NodeUnschedulable, TaintToleration, NodeAffinity (``nodeSelector`` and required node
affinity), NodeResourcesFit (cpu, memory, ``pods`` and extended resources such as
``nvidia.com/gpu`` or ``nvidia.com/mig-1g.10gb``). A node is rejected by the first filter it
fails; NodeResourcesFit names every resource that is short. The failure message is worded
and sorted like kube-scheduler's FitError, e.g.

    0/4 nodes are available: 1 node(s) didn't match Pod's node affinity/selector,
    3 Insufficient nvidia.com/gpu. preemption: 0/4 nodes are available: 4 Preemption is
    not helpful for scheduling.

Scoring: a pod that asks for an extended resource (a GPU) is packed onto the node with the
least of it left, so whole nodes stay free for multi-GPU pods; other pods go to the node
with the most CPU left (spread). Ties go to the node listed first.

``SchedulerController`` applies it to the store: every pending pod without ``spec.nodeName``
is tried, oldest first, whenever a pod or node changes; it binds the pod or records a
``FailedScheduling`` event and keeps it Pending until room frees up.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal

from coursehub.devcluster.errors import ApiError
from coursehub.devcluster.events import EventRecorder
from coursehub.quantity import parse_quantity

log = logging.getLogger("coursehub.devcluster.scheduler")

STANDARD_RESOURCES = ("cpu", "memory", "ephemeral-storage")
TERMINAL_PHASES = ("Succeeded", "Failed")
# How often the same FailedScheduling message is repeated (as a bumped count) at most.
REPEAT_SECONDS = 10.0
# A cordoned node admits only pods that tolerate this taint (NodeUnschedulable plugin).
UNSCHEDULABLE_TAINT = {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}
DEFAULT_MAX_PODS = 110  # the kubelet's --max-pods default
NO_VICTIMS = "No preemption victims found for incoming pod"
NOT_HELPFUL = "Preemption is not helpful for scheduling"


@dataclass(frozen=True)
class Decision:
    """Where a pod goes (``node``), or why it cannot go anywhere (``message``)."""

    node: str | None
    message: str | None = None


def _container_requests(container: dict) -> dict[str, Decimal]:
    # A limit stands in for a missing request, as the API server defaults it.
    resources = container.get("resources") or {}
    requests = {**(resources.get("limits") or {}), **(resources.get("requests") or {})}
    return {name: parse_quantity(amount) for name, amount in requests.items()}


def pod_requests(pod: dict) -> dict[str, Decimal]:
    """What the pod takes from a node: its containers' requests summed (a limit stands in
    for a missing request), but at least what its largest init container asks for (init
    containers run one at a time, before the others), plus one ``pods`` slot."""
    spec = pod.get("spec", {})
    total: Counter[str] = Counter()
    for container in spec.get("containers") or []:
        total.update(_container_requests(container))
    for container in spec.get("initContainers") or []:
        for name, amount in _container_requests(container).items():
            total[name] = max(total[name], amount)
    total["pods"] += 1
    return {name: Decimal(amount) for name, amount in total.items()}


def occupies_node(pod: dict) -> bool:
    """Whether a bound pod still holds its node's resources (until it ends)."""
    return bool(pod.get("spec", {}).get("nodeName")) and (
        pod.get("status", {}).get("phase") not in TERMINAL_PHASES
    )


def free_resources(node: dict, bound_pods: list[dict]) -> dict[str, Decimal]:
    """Allocatable minus the requests of the pods that occupy ``node`` (a node that
    states no ``pods`` capacity has the kubelet's default, 110)."""
    name = node["metadata"]["name"]
    free = {"pods": Decimal(DEFAULT_MAX_PODS)}
    for resource, amount in (node.get("status", {}).get("allocatable") or {}).items():
        free[resource] = parse_quantity(amount)
    for pod in bound_pods:
        if pod["spec"].get("nodeName") == name and occupies_node(pod):
            for resource, amount in pod_requests(pod).items():
                free[resource] = free.get(resource, Decimal(0)) - amount
    return free


def _tolerates(toleration: dict, taint: dict) -> bool:
    effect = toleration.get("effect")
    if effect and effect != taint.get("effect"):
        return False
    key = toleration.get("key")
    if toleration.get("operator", "Equal") == "Exists":
        return not key or key == taint.get("key")
    return key == taint.get("key") and toleration.get("value", "") == taint.get("value", "")


def untolerated_taint(pod: dict, node: dict) -> dict | None:
    """The first NoSchedule/NoExecute taint of ``node`` the pod does not tolerate."""
    tolerations = pod.get("spec", {}).get("tolerations") or []
    for taint in node.get("spec", {}).get("taints") or []:
        if taint.get("effect") == "PreferNoSchedule":
            continue
        if not any(_tolerates(toleration, taint) for toleration in tolerations):
            return taint
    return None


def _expression_matches(expression: dict, labels: dict[str, str]) -> bool:
    key, operator = expression.get("key"), expression.get("operator")
    values = expression.get("values") or []
    present = key in labels
    if operator == "In":
        return present and labels[key] in values
    if operator == "NotIn":
        return not present or labels[key] not in values
    if operator == "Exists":
        return present
    if operator == "DoesNotExist":
        return not present
    if operator in ("Gt", "Lt") and present and values:
        try:
            actual, bound = int(labels[key]), int(values[0])
        except ValueError:
            return False
        return actual > bound if operator == "Gt" else actual < bound
    return False


def matches_node_affinity(pod: dict, node: dict) -> bool:
    """``nodeSelector`` and required node affinity (terms OR-ed, expressions AND-ed)."""
    labels = node.get("metadata", {}).get("labels") or {}
    spec = pod.get("spec", {})
    for key, value in (spec.get("nodeSelector") or {}).items():
        if labels.get(key) != value:
            return False
    required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    ) or {}
    terms = required.get("nodeSelectorTerms") or []
    if not terms:
        return True
    # matchFields may only name metadata.name (as in Kubernetes).
    fields = {"metadata.name": node.get("metadata", {}).get("name", "")}
    return any(
        all(_expression_matches(e, labels) for e in term.get("matchExpressions") or [])
        and all(_expression_matches(e, fields) for e in term.get("matchFields") or [])
        and bool(term.get("matchExpressions") or term.get("matchFields"))
        for term in terms
    )


def node_rejections(pod: dict, node: dict, bound_pods: list[dict]) -> list[str]:
    """Why ``node`` cannot take ``pod`` (kube-scheduler's reason strings); [] if it can."""
    if node.get("spec", {}).get("unschedulable") and not any(
        _tolerates(toleration, UNSCHEDULABLE_TAINT)
        for toleration in pod.get("spec", {}).get("tolerations") or []
    ):
        return ["node(s) were unschedulable"]
    taint = untolerated_taint(pod, node)
    if taint is not None:
        return [f"node(s) had untolerated taint {{{taint['key']}: {taint.get('value', '')}}}"]
    if not matches_node_affinity(pod, node):
        return ["node(s) didn't match Pod's node affinity/selector"]
    free = free_resources(node, bound_pods)
    short = []
    for resource, amount in sorted(pod_requests(pod).items()):
        if amount > 0 and free.get(resource, Decimal(0)) < amount:
            short.append("Too many pods" if resource == "pods" else f"Insufficient {resource}")
    return short


def failure_message(node_count: int, reasons: Counter[str], preemption: Counter[str]) -> str:
    """kube-scheduler's FitError text: counted reasons sorted as strings, then the
    preemption post-filter's verdict per node (nothing to preempt here: no pod has a
    lower priority than another)."""
    counted = sorted(f"{count} {reason}" for reason, count in reasons.items())
    verdicts = sorted(f"{count} {verdict}" for verdict, count in preemption.items())
    return (
        f"0/{node_count} nodes are available: {', '.join(counted)}. "
        f"preemption: 0/{node_count} nodes are available: {', '.join(verdicts)}."
    )


def _preemption_verdict(rejections: list[str]) -> str:
    # Evicting pods can help only a node that is short of resources.
    if all(r.startswith("Insufficient ") or r == "Too many pods" for r in rejections):
        return NO_VICTIMS
    return NOT_HELPFUL


def _score(pod: dict, free: dict[str, Decimal]) -> tuple:
    extended = [r for r, a in pod_requests(pod).items() if "/" in r and a > 0]
    if extended:  # bin-pack GPUs: least left over first
        return (0, sum(free.get(r, Decimal(0)) for r in extended))
    return (1, -free.get("cpu", Decimal(0)))  # spread the rest: most CPU left first


def schedule(
    pod: dict, nodes: list[dict], bound_pods: list[dict], missing_claims: tuple[str, ...] = ()
) -> Decision:
    """The node for ``pod`` given the nodes and the pods already bound, or the reason
    (as kube-scheduler words it) why none fits. ``missing_claims`` are the pod's
    PersistentVolumeClaims that do not exist: such a pod fits nowhere."""
    if not nodes:
        return Decision(None, "no nodes available to schedule pods")
    count = len(nodes)
    if missing_claims:
        return Decision(
            None,
            f'0/{count} nodes are available: persistentvolumeclaim "{missing_claims[0]}" '
            f"not found. preemption: 0/{count} nodes are available: {count} {NOT_HELPFUL}.",
        )
    reasons: Counter[str] = Counter()
    preemption: Counter[str] = Counter()
    candidates = []
    for index, node in enumerate(nodes):
        rejections = node_rejections(pod, node, bound_pods)
        if rejections:
            reasons.update(rejections)
            preemption[_preemption_verdict(rejections)] += 1
        else:
            free = free_resources(node, bound_pods)
            candidates.append((_score(pod, free), index, node["metadata"]["name"]))
    if candidates:
        return Decision(min(candidates)[2])
    return Decision(None, failure_message(count, reasons, preemption))


class SchedulerController:
    """Binds pending pods in the store, oldest first, whenever something could change
    the answer (a pod added, ended or removed; a node changed)."""

    def __init__(self, store, events: EventRecorder):
        self.store = store
        self.events = events
        self._pass_scheduled = False
        self._last_failure: dict[str, tuple[str, float]] = {}
        self._retry_handle: asyncio.TimerHandle | None = None
        store.add_listener(self._on_change)

    def _on_change(self, event_type: str, plural: str, obj: dict) -> None:
        if plural not in ("pods", "nodes", "persistentvolumeclaims"):
            return
        if plural == "pods" and event_type == "DELETED":
            self._last_failure.pop(obj["metadata"]["uid"], None)
        self.request_pass()

    def request_pass(self) -> None:
        """Run one scheduling pass soon (coalesces bursts of changes into one pass)."""
        if self._pass_scheduled:
            return
        self._pass_scheduled = True
        asyncio.get_running_loop().call_soon(self._run_pass)

    def _run_pass(self) -> None:
        self._pass_scheduled = False
        pods, _ = self.store.list("pods")
        nodes, _ = self.store.list("nodes")
        bound = [pod for pod in pods if occupies_node(pod)]
        pending = [
            pod
            for pod in pods
            if not pod["spec"].get("nodeName")
            and not pod["metadata"].get("deletionTimestamp")
            and pod.get("status", {}).get("phase", "Pending") == "Pending"
        ]
        pending.sort(key=lambda p: (p["metadata"]["creationTimestamp"], p["metadata"]["name"]))
        still_waiting = False
        for pod in pending:
            decision = schedule(pod, nodes, bound, self._missing_claims(pod))
            if decision.node is None:
                self._report_failure(pod, decision.message or "")
                still_waiting = True
                continue
            try:
                bound.append(self._bind(pod, decision.node))
            except ApiError as error:  # deleted or changed meanwhile: the next pass decides
                log.debug("binding %s failed: %s", pod["metadata"]["name"], error)
        if still_waiting:
            self._retry_later()

    def _missing_claims(self, pod: dict) -> tuple[str, ...]:
        namespace = pod["metadata"]["namespace"]
        missing = []
        for volume in pod["spec"].get("volumes") or []:
            claim = (volume.get("persistentVolumeClaim") or {}).get("claimName")
            if claim:
                try:
                    self.store.get("persistentvolumeclaims", namespace, claim)
                except ApiError:
                    missing.append(claim)
        return tuple(missing)

    def _retry_later(self) -> None:
        # Capacity normally frees through a pod change (which triggers a pass); the
        # periodic retry also refreshes the FailedScheduling event's count.
        if self._retry_handle is None:
            loop = asyncio.get_running_loop()

            def retry() -> None:
                self._retry_handle = None
                self.request_pass()

            self._retry_handle = loop.call_later(REPEAT_SECONDS, retry)

    def _bind(self, pod: dict, node: str) -> dict:
        namespace, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        bound = self.store.patch(
            "pods", namespace, name, {"spec": {"nodeName": node}}, "application/merge-patch+json"
        )
        conditions = [
            c
            for c in bound.get("status", {}).get("conditions") or []
            if c["type"] != "PodScheduled"
        ]
        conditions.append({"type": "PodScheduled", "status": "True"})
        bound = self.store.patch(
            "pods",
            namespace,
            name,
            {"status": {"conditions": conditions}},
            "application/merge-patch+json",
            subresource="status",
        )
        self._last_failure.pop(pod["metadata"]["uid"], None)
        self.events.record(
            bound,
            "Scheduled",
            f"Successfully assigned {namespace}/{name} to {node}",
            component="default-scheduler",
        )
        return bound

    def _report_failure(self, pod: dict, message: str) -> None:
        loop_time = asyncio.get_running_loop().time()
        uid = pod["metadata"]["uid"]
        last = self._last_failure.get(uid)
        if last and last[0] == message and loop_time - last[1] < REPEAT_SECONDS:
            return
        self._last_failure[uid] = (message, loop_time)
        namespace, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        try:
            self.store.patch(
                "pods",
                namespace,
                name,
                {
                    "status": {
                        "phase": "Pending",
                        "conditions": [
                            {
                                "type": "PodScheduled",
                                "status": "False",
                                "reason": "Unschedulable",
                                "message": message,
                            }
                        ],
                    }
                },
                "application/merge-patch+json",
                subresource="status",
            )
        except ApiError:
            return
        self.events.record(
            pod, "FailedScheduling", message, type="Warning", component="default-scheduler"
        )
