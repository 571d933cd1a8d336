"""Kubernetes events translated into plain progress messages."""

from __future__ import annotations

import pytest

from coursehub.gpu.nodes import count_gpus, gpu_kind
from coursehub.hub.progress import translate_event, waits_for_gpu

GPU_SHORTAGE = (
    "0/4 nodes are available: 2 Insufficient nvidia.com/gpu, 1 node(s) didn't match Pod's "
    "node affinity/selector, 1 node(s) had untolerated taint {nvidia.com/gpu: }. "
    "preemption: 0/4 nodes are available: 4 No preemption victims found for incoming pod."
)


def event(reason: str, message: str) -> dict:
    return {"reason": reason, "message": message, "type": "Normal"}


def node(name, labels=None, allocatable=None, capacity=None, unschedulable=False) -> dict:
    return {
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {"unschedulable": unschedulable} if unschedulable else {},
        "status": {"allocatable": allocatable or {}, "capacity": capacity or {}},
    }


@pytest.fixture
def gpu_env(catalog):
    return catalog.courses["ai-101"].environment("gpu")


@pytest.fixture
def cpu_env(catalog):
    return catalog.courses["ai-101"].environment("cpu")


@pytest.fixture
def mig_env(catalog):
    return catalog.courses["ml-201"].environment("mig")


A100 = {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"}
NODES = [
    node("cpu-1", allocatable={"cpu": "8", "memory": "32Gi"}),
    node("gpu-a100-1", A100, allocatable={"nvidia.com/gpu": "2"}),
    node("gpu-a100-2", A100, capacity={"nvidia.com/gpu": "2"}),  # no allocatable: capacity
    node("gpu-a100-3", A100, allocatable={"nvidia.com/gpu": "2"}, unschedulable=True),
    node("gpu-t4-1", {"nvidia.com/gpu.product": "Tesla-T4"}, allocatable={"nvidia.com/gpu": 1}),
    node("mig-1", allocatable={"nvidia.com/mig-1g.10gb": "7"}),
]


def test_count_gpus_by_product_and_resource():
    assert count_gpus(NODES, "nvidia.com/gpu", "NVIDIA-A100-SXM4-80GB") == 4
    assert count_gpus(NODES, "nvidia.com/gpu", None) == 5
    assert count_gpus(NODES, "nvidia.com/mig-1g.10gb", None) == 7
    assert count_gpus(NODES, "nvidia.com/gpu", "NVIDIA-H100") == 0


@pytest.mark.parametrize(
    ("resource", "product", "singular"),
    [
        ("nvidia.com/gpu", "NVIDIA-A100-SXM4-80GB", "A100 GPU"),
        ("nvidia.com/gpu", "NVIDIA-H100-80GB-HBM3", "H100 GPU"),
        ("nvidia.com/gpu", "Tesla-T4", "T4 GPU"),
        ("nvidia.com/gpu", "NVIDIA-GeForce-RTX-4090", "NVIDIA-GeForce-RTX-4090 GPU"),
        ("nvidia.com/gpu", None, "GPU"),
        ("nvidia.com/mig-1g.10gb", None, "MIG 1g.10gb GPU slice"),
    ],
)
def test_gpu_kind(resource, product, singular):
    assert gpu_kind(resource, product) == (singular, singular + "s")


def test_gpu_shortage_names_the_count(gpu_env):
    shortage = event("FailedScheduling", GPU_SHORTAGE)
    assert waits_for_gpu(shortage, gpu_env)
    assert translate_event(shortage, gpu_env, 4) == (
        "Waiting for a GPU: all 4 A100 GPUs are in use. "
        "Your server will start as soon as one is free."
    )


def test_gpu_shortage_without_count_or_with_one_gpu(gpu_env):
    shortage = event("FailedScheduling", GPU_SHORTAGE)
    assert translate_event(shortage, gpu_env, None) == (
        "Waiting for a GPU: every A100 GPU is in use. "
        "Your server will start as soon as one is free."
    )
    assert translate_event(shortage, gpu_env, 1).startswith(
        "Waiting for a GPU: the only A100 GPU is in use."
    )


def test_gpu_absent_from_cluster(gpu_env):
    message = translate_event(event("FailedScheduling", GPU_SHORTAGE), gpu_env, 0)
    assert message.startswith("Waiting for a GPU: this cluster has no A100 GPUs right now.")


def test_mig_shortage(mig_env):
    shortage = event(
        "FailedScheduling", "0/4 nodes are available: 1 Insufficient nvidia.com/mig-1g.10gb."
    )
    assert waits_for_gpu(shortage, mig_env)
    assert translate_event(shortage, mig_env, 7) == (
        "Waiting for a GPU slice: all 7 MIG 1g.10gb GPU slices are in use. "
        "Your server will start as soon as one is free."
    )


def test_cpu_environment_never_waits_for_gpu(cpu_env):
    shortage = event("FailedScheduling", "0/4 nodes are available: 4 Insufficient cpu.")
    assert not waits_for_gpu(shortage, cpu_env)
    assert translate_event(shortage, cpu_env).startswith("Waiting for room on the cluster")


def test_other_scheduling_failures_keep_the_reason(gpu_env):
    message = "0/4 nodes are available: 4 node(s) didn't match Pod's node affinity/selector."
    assert not waits_for_gpu(event("FailedScheduling", message), gpu_env)
    assert translate_event(event("FailedScheduling", message), gpu_env) == (
        f"Waiting for a node that can run this environment ({message})"
    )


def test_scheduled_names_the_node(gpu_env, cpu_env, mig_env):
    scheduled = event("Scheduled", "Successfully assigned default/jupyter-student1 to gpu-a100-1")
    assert translate_event(scheduled, gpu_env) == (
        "An A100 GPU is assigned on gpu-a100-1; starting your environment…"
    )
    assert translate_event(scheduled, cpu_env) == (
        "Your server is assigned to gpu-a100-1; starting your environment…"
    )
    assert translate_event(scheduled, mig_env) == (
        "A MIG 1g.10gb GPU slice is assigned on gpu-a100-1; starting your environment…"
    )


def test_container_lifecycle_events(cpu_env):
    assert translate_event(event("Pulling", 'Pulling image "coursehub/cpu:1"'), cpu_env) == (
        "Fetching the course image coursehub/cpu:1…"
    )
    assert translate_event(event("Started", "Started container notebook"), cpu_env) == (
        "Starting JupyterLab…"
    )
    assert translate_event(event("BackOff", "Back-off restarting"), cpu_env) == (
        "Your environment could not start: Back-off restarting"
    )


def test_unknown_events_keep_their_message(cpu_env):
    assert translate_event(event("Preempted", "Preempted by admin"), cpu_env) == (
        "Preempted by admin"
    )
    assert translate_event(event("Killing", "Stopping container notebook"), None) == (
        "Stopping container notebook"
    )
