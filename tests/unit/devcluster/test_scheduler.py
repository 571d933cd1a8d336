"""The pure scheduler: fits, every refusal reason, kube-scheduler's message, scoring."""

from __future__ import annotations

import pytest

from coursehub.devcluster.config import load_cluster_config, node_object
from coursehub.devcluster.scheduler import pod_requests, schedule

GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
A100 = {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"}


def default_nodes() -> list[dict]:
    return [node_object(node) for node in load_cluster_config().nodes]


def node(name: str = "n1", labels=None, taints=None, unschedulable=False, **allocatable) -> dict:
    resources = {"cpu": "4", "memory": "8Gi", "pods": "110"}
    resources.update({key.replace("__", "/"): str(v) for key, v in allocatable.items()})
    return {
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {"taints": taints or [], "unschedulable": unschedulable},
        "status": {"allocatable": resources},
    }


def pod(
    name: str = "p",
    requests=None,
    limits=None,
    node_name=None,
    phase="Pending",
    tolerations=None,
    node_selector=None,
    affinity_terms=None,
) -> dict:
    spec: dict = {
        "containers": [
            {"name": "c", "resources": {"requests": requests or {}, "limits": limits or {}}}
        ],
        "tolerations": tolerations or [],
    }
    if node_name:
        spec["nodeName"] = node_name
    if node_selector:
        spec["nodeSelector"] = node_selector
    if affinity_terms is not None:
        spec["affinity"] = {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": affinity_terms
                }
            }
        }
    return {"metadata": {"name": name, "namespace": "default"}, "spec": spec,
            "status": {"phase": phase}}  # fmt: skip


def gpu_pod(name: str = "g", gpus: int = 1, node_name=None) -> dict:
    return pod(
        name,
        limits={"nvidia.com/gpu": str(gpus)},
        node_name=node_name,
        tolerations=[GPU_TOLERATION],
        node_selector=A100,
    )


def test_a_pod_that_fits_is_placed():
    assert schedule(pod(requests={"cpu": "1"}), [node()], []).node == "n1"


def test_exact_message_for_a_gpu_pod_when_all_four_gpus_are_busy():
    nodes = default_nodes()
    busy = [
        gpu_pod(f"busy-{i}", node_name=n)
        for i, n in enumerate(["gpu-a100-1"] * 2 + ["gpu-a100-2"] * 2)
    ]
    decision = schedule(gpu_pod("fifth"), nodes, busy)
    assert decision.node is None
    assert decision.message == (
        "0/4 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, "
        "3 Insufficient nvidia.com/gpu. preemption: 0/4 nodes are available: "
        "1 Preemption is not helpful for scheduling, "
        "3 No preemption victims found for incoming pod."
    )


def test_gpu_pod_fits_on_default_cluster_when_a_gpu_is_free():
    nodes = default_nodes()
    busy = [gpu_pod("a", node_name="gpu-a100-1"), gpu_pod("b", node_name="gpu-a100-2")]
    assert schedule(gpu_pod("c"), nodes, busy).node in ("gpu-a100-1", "gpu-a100-2")


def test_untolerated_taint_is_named_with_key_and_value():
    tainted = node(taints=[{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}])
    decision = schedule(pod(), [tainted], [])
    assert decision.message == (
        "0/1 nodes are available: 1 node(s) had untolerated taint {nvidia.com/gpu: present}. "
        "preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."
    )


@pytest.mark.parametrize(
    ("toleration", "fits"),
    [
        ({"operator": "Exists"}, True),  # empty key + Exists tolerates everything
        ({"key": "k", "operator": "Exists"}, True),
        ({"key": "k", "operator": "Equal", "value": "v"}, True),
        ({"key": "k", "value": "v"}, True),  # Equal is the default operator
        ({"key": "k", "operator": "Equal", "value": "other"}, False),
        ({"key": "k", "operator": "Exists", "effect": "NoExecute"}, False),
        ({"key": "other", "operator": "Exists"}, False),
    ],
)
def test_tolerations(toleration, fits):
    tainted = node(taints=[{"key": "k", "value": "v", "effect": "NoSchedule"}])
    assert (schedule(pod(tolerations=[toleration]), [tainted], []).node == "n1") is fits


def test_prefer_no_schedule_taints_do_not_refuse():
    soft = node(taints=[{"key": "k", "value": "v", "effect": "PreferNoSchedule"}])
    assert schedule(pod(), [soft], []).node == "n1"


def test_node_selector_mismatch():
    decision = schedule(pod(node_selector={"zone": "b"}), [node(labels={"zone": "a"})], [])
    assert "1 node(s) didn't match Pod's node affinity/selector." in decision.message
    assert schedule(pod(node_selector={"zone": "a"}), [node(labels={"zone": "a"})], []).node


@pytest.mark.parametrize(
    ("expression", "fits"),
    [
        ({"key": "zone", "operator": "In", "values": ["a", "b"]}, True),
        ({"key": "zone", "operator": "In", "values": ["b"]}, False),
        ({"key": "zone", "operator": "NotIn", "values": ["b"]}, True),
        ({"key": "zone", "operator": "NotIn", "values": ["a"]}, False),
        ({"key": "missing", "operator": "NotIn", "values": ["a"]}, True),
        ({"key": "zone", "operator": "Exists"}, True),
        ({"key": "missing", "operator": "Exists"}, False),
        ({"key": "missing", "operator": "DoesNotExist"}, True),
        ({"key": "zone", "operator": "DoesNotExist"}, False),
        ({"key": "gpus", "operator": "Gt", "values": ["1"]}, True),
        ({"key": "gpus", "operator": "Gt", "values": ["2"]}, False),
        ({"key": "gpus", "operator": "Lt", "values": ["3"]}, True),
        ({"key": "gpus", "operator": "Lt", "values": ["2"]}, False),
        ({"key": "zone", "operator": "Gt", "values": ["1"]}, False),  # not an integer
    ],
)
def test_required_node_affinity_operators(expression, fits):
    labelled = node(labels={"zone": "a", "gpus": "2"})
    decision = schedule(pod(affinity_terms=[{"matchExpressions": [expression]}]), [labelled], [])
    assert (decision.node == "n1") is fits
    if not fits:
        assert "didn't match Pod's node affinity/selector" in decision.message


def test_affinity_terms_are_or_ed_and_expressions_and_ed():
    labelled = node(labels={"zone": "a", "disk": "ssd"})
    zone_b = {"key": "zone", "operator": "In", "values": ["b"]}
    zone_a = {"key": "zone", "operator": "In", "values": ["a"]}
    hdd = {"key": "disk", "operator": "In", "values": ["hdd"]}
    assert schedule(
        pod(affinity_terms=[{"matchExpressions": [zone_b]}, {"matchExpressions": [zone_a]}]),
        [labelled],
        [],
    ).node
    assert not schedule(
        pod(affinity_terms=[{"matchExpressions": [zone_a, hdd]}]), [labelled], []
    ).node


def test_affinity_match_fields_on_node_name():
    term = {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n2"]}]}
    assert schedule(pod(affinity_terms=[term]), [node("n1"), node("n2")], []).node == "n2"


@pytest.mark.parametrize(
    ("requests", "reason"),
    [
        ({"cpu": "5"}, "Insufficient cpu"),
        ({"memory": "9Gi"}, "Insufficient memory"),
        ({"nvidia.com/gpu": "1"}, "Insufficient nvidia.com/gpu"),
        ({"nvidia.com/mig-1g.10gb": "1"}, "Insufficient nvidia.com/mig-1g.10gb"),
    ],
)
def test_insufficient_resources(requests, reason):
    decision = schedule(pod(requests=requests), [node()], [])
    assert decision.message == (
        f"0/1 nodes are available: 1 {reason}. preemption: 0/1 nodes are available: "
        "1 No preemption victims found for incoming pod."
    )


def test_every_short_resource_is_named_and_counted():
    decision = schedule(pod(requests={"cpu": "5", "memory": "9Gi"}), [node("a"), node("b")], [])
    assert decision.message.startswith(
        "0/2 nodes are available: 2 Insufficient cpu, 2 Insufficient memory."
    )


def test_too_many_pods():
    full = node(pods=1)
    assert "1 Too many pods." in schedule(pod(), [full], [pod("x", node_name="n1")]).message


def test_node_without_pods_capacity_still_takes_pods():
    bare = node()
    del bare["status"]["allocatable"]["pods"]
    assert schedule(pod(), [bare], []).node == "n1"


def test_unschedulable_node():
    decision = schedule(pod(), [node(unschedulable=True)], [])
    assert decision.message == (
        "0/1 nodes are available: 1 node(s) were unschedulable. preemption: 0/1 nodes are "
        "available: 1 Preemption is not helpful for scheduling."
    )


def test_unschedulable_node_admits_pods_tolerating_the_unschedulable_taint():
    toleration = {"key": "node.kubernetes.io/unschedulable", "operator": "Exists"}
    assert schedule(pod(tolerations=[toleration]), [node(unschedulable=True)], []).node == "n1"


def test_init_containers_count_by_their_largest_request():
    with_init = pod(requests={"cpu": "1"})
    with_init["spec"]["initContainers"] = [
        {"name": "a", "resources": {"requests": {"cpu": "3"}}},
        {"name": "b", "resources": {"limits": {"cpu": "2", "memory": "1Gi"}}},
    ]
    assert pod_requests(with_init) == {"cpu": 3, "memory": 1024**3, "pods": 1}
    assert "Insufficient cpu" in schedule(with_init, [node(cpu=2)], []).message


def test_missing_claim():
    decision = schedule(pod(), [node(), node("n2")], [], missing_claims=("home-ada",))
    assert decision.message == (
        '0/2 nodes are available: persistentvolumeclaim "home-ada" not found. '
        "preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling."
    )


def test_limits_stand_in_for_missing_requests():
    assert pod_requests(pod(limits={"cpu": "2", "memory": "1Gi"})) == {
        "cpu": 2,
        "memory": 1024**3,
        "pods": 1,
    }
    # an explicit request wins over the limit
    assert pod_requests(pod(requests={"cpu": "500m"}, limits={"cpu": "2"}))["cpu"] == pytest.approx(
        0.5
    )
    busy = [pod("x", limits={"cpu": "3"}, node_name="n1")]
    assert "Insufficient cpu" in schedule(pod(limits={"cpu": "2"}), [node()], busy).message


@pytest.mark.parametrize(
    ("phase", "fits"), [("Succeeded", True), ("Failed", True), ("Running", False)]
)
def test_terminal_pods_do_not_hold_resources(phase, fits):
    busy = [pod("x", requests={"cpu": "4"}, node_name="n1", phase=phase)]
    assert (schedule(pod(requests={"cpu": "1"}), [node()], busy).node == "n1") is fits


def test_gpu_pods_are_bin_packed_onto_the_fullest_gpu_node():
    nodes = [node("a", **{"nvidia.com__gpu": 2}), node("b", **{"nvidia.com__gpu": 2})]
    first = schedule(pod("one", requests={"nvidia.com/gpu": "1"}), nodes, [])
    assert first.node == "a"
    bound = [pod("one", requests={"nvidia.com/gpu": "1"}, node_name="b")]
    # b has one GPU left, a has two: the second GPU pod goes next to the first
    assert schedule(pod("two", requests={"nvidia.com/gpu": "1"}), nodes, bound).node == "b"


def test_cpu_pods_are_spread_onto_the_emptiest_node():
    nodes = [node("a"), node("b")]
    bound = [pod("x", requests={"cpu": "2"}, node_name="a")]
    assert schedule(pod(requests={"cpu": "1"}), nodes, bound).node == "b"


def test_mig_pods_land_on_the_mig_node():
    mig_pod = pod(
        limits={"nvidia.com/mig-1g.10gb": "1"}, tolerations=[GPU_TOLERATION], node_selector=A100
    )
    assert schedule(mig_pod, default_nodes(), []).node == "mig-a100-1"
    seven = [
        pod(f"m{i}", limits={"nvidia.com/mig-1g.10gb": "1"}, node_name="mig-a100-1")
        for i in range(7)
    ]
    assert (
        "3 Insufficient nvidia.com/mig-1g.10gb" in schedule(mig_pod, default_nodes(), seven).message
    )


def test_cpu_pod_without_toleration_goes_to_the_cpu_node():
    assert schedule(pod(requests={"cpu": "1"}), default_nodes(), []).node == "cpu-node-1"


def test_no_nodes():
    assert schedule(pod(), [], []).message == "no nodes available to schedule pods"
