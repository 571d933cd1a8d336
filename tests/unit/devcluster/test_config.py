"""The cluster file: the default cluster, errors with file:line: field, Node objects."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kubernetes_asyncio.client import ApiClient

from coursehub.devcluster.config import (
    ClusterConfigError,
    load_cluster_config,
    node_object,
    storage_class_object,
)
from coursehub.quantity import parse_quantity


def test_default_cluster_has_four_nodes_four_gpus_and_seven_mig_slices():
    config = load_cluster_config()
    assert [node.name for node in config.nodes] == [
        "cpu-node-1",
        "gpu-a100-1",
        "gpu-a100-2",
        "mig-a100-1",
    ]
    total = {
        resource: sum(parse_quantity(n.allocatable.get(resource, 0)) for n in config.nodes)
        for resource in ("nvidia.com/gpu", "nvidia.com/mig-1g.10gb")
    }
    assert total == {"nvidia.com/gpu": 4, "nvidia.com/mig-1g.10gb": 7}
    gpu_nodes = [n for n in config.nodes if n.name != "cpu-node-1"]
    for node in gpu_nodes:
        assert node.labels["nvidia.com/gpu.product"] == "NVIDIA-A100-SXM4-80GB"
        assert [t.model_dump() for t in node.taints] == [
            {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}
        ]
    assert config.image("any/image:tag").cmd == ["jupyterhub-singleuser"]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cluster.yaml"
    path.write_text(text)
    return path


def problems_of(path: Path) -> list[str]:
    with pytest.raises(ClusterConfigError) as caught:
        load_cluster_config(path)
    return caught.value.problems


def test_unknown_key_is_named_with_its_line(tmp_path):
    path = write(
        tmp_path,
        "nodes:\n  - name: a\n    allocatable: {cpu: 4, memory: 8Gi}\n    colour: red\n",
    )
    assert problems_of(path) == [f"{path}:4: nodes[0].colour: Extra inputs are not permitted"]


def test_bad_quantity_names_the_resource_line(tmp_path):
    path = write(
        tmp_path,
        "nodes:\n  - name: a\n    allocatable:\n      cpu: lots\n      memory: 8Gi\n",
    )
    (problem,) = problems_of(path)
    assert problem.startswith(f"{path}:4: nodes[0].allocatable.cpu: 'lots' is not")


def test_missing_cpu_is_reported(tmp_path):
    path = write(tmp_path, "nodes:\n  - name: a\n    allocatable: {memory: 8Gi}\n")
    assert problems_of(path) == [f"{path}:3: nodes[0].allocatable: a node needs allocatable cpu"]


def test_duplicate_node_names_the_second_entry(tmp_path):
    path = write(
        tmp_path,
        "nodes:\n"
        "  - name: a\n    allocatable: {cpu: 4, memory: 8Gi}\n"
        "  - name: a\n    allocatable: {cpu: 4, memory: 8Gi}\n",
    )
    assert problems_of(path) == [
        f"{path}:4: nodes[1].name: node name 'a' is used by an earlier node"
    ]


def test_yaml_syntax_error_names_the_line(tmp_path):
    path = write(tmp_path, "nodes:\n  - name: a\n    allocatable: {cpu: 4\n")
    (problem,) = problems_of(path)
    assert problem.startswith(f"{path}:4: (YAML syntax): ")


def test_missing_file(tmp_path):
    (problem,) = problems_of(tmp_path / "nope.yaml")
    assert problem.startswith(f"{tmp_path / 'nope.yaml'}: cannot read the file")


def test_every_problem_is_reported_at_once(tmp_path):
    path = write(
        tmp_path,
        "nodes:\n"
        "  - name: a\n    allocatable: {cpu: 4, memory: 8Gi}\n"
        "  - name: B_bad\n    allocatable: {cpu: -1, memory: 8Gi}\n"
        "  - name: a\n    allocatable: {cpu: 4, memory: 8Gi}\n",
    )
    problems = problems_of(path)
    assert len(problems) == 3
    assert any(p.startswith(f"{path}:4: nodes[1].name:") for p in problems)
    assert any(
        p.startswith(f"{path}:5: nodes[1].allocatable.cpu: -1 is negative") for p in problems
    )
    assert any(p.startswith(f"{path}:6: nodes[2].name:") for p in problems)


async def test_node_object_is_a_valid_v1_node_for_kubernetes_asyncio():
    config = load_cluster_config()
    node = node_object(config.nodes[1])

    class Response:  # what ApiClient.deserialize reads
        data = json.dumps(node)

    async with ApiClient() as api:
        v1_node = api.deserialize(Response(), "V1Node")
    assert v1_node.metadata.name == "gpu-a100-1"
    assert v1_node.metadata.labels["kubernetes.io/hostname"] == "gpu-a100-1"
    assert v1_node.metadata.labels["nvidia.com/gpu.count"] == "2"
    assert v1_node.status.allocatable["nvidia.com/gpu"] == "2"
    assert v1_node.status.capacity == v1_node.status.allocatable
    assert [(t.key, t.value, t.effect) for t in v1_node.spec.taints] == [
        ("nvidia.com/gpu", "present", "NoSchedule")
    ]
    assert v1_node.status.conditions[0].type == "Ready"
    assert v1_node.status.conditions[0].status == "True"
    assert v1_node.status.node_info.kubelet_version == "v1.31.0-coursehub"
    assert (
        api.sanitize_for_serialization(v1_node)["status"]["allocatable"]
        == node["status"]["allocatable"]
    )


def test_default_cluster_has_one_default_storage_class():
    (standard,) = load_cluster_config().storage_classes
    assert standard.default and standard.name == "standard"
    assert storage_class_object(standard) == {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {
            "name": "standard",
            "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
        },
        "provisioner": "coursehub.dev/folder",
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "Immediate",
        "allowVolumeExpansion": False,
    }


def test_a_cluster_file_may_have_no_storage_class_or_one_that_is_not_default(tmp_path):
    node = "nodes:\n  - {name: n1, allocatable: {cpu: 1, memory: 1Gi}}\n"
    assert (
        load_cluster_config(write(tmp_path, node + "storage_classes: []\n")).storage_classes == []
    )
    config = load_cluster_config(
        write(tmp_path, node + "storage_classes:\n  - {name: fast, provisioner: ebs.csi.aws.com}\n")
    )
    (fast,) = config.storage_classes
    assert "annotations" not in storage_class_object(fast)["metadata"]
    assert storage_class_object(fast)["provisioner"] == "ebs.csi.aws.com"


def test_a_bad_storage_class_is_named_with_its_line(tmp_path):
    path = write(
        tmp_path,
        "nodes:\n  - {name: n1, allocatable: {cpu: 1, memory: 1Gi}}\n"
        "storage_classes:\n  - {name: fast, reclaim_policy: Recycle}\n",
    )
    (problem,) = problems_of(path)
    assert problem.startswith(f"{path}:4: storage_classes[0].reclaim_policy:")


async def test_storage_class_object_is_a_valid_v1_storage_class_for_kubernetes_asyncio():
    (standard,) = load_cluster_config().storage_classes

    class Response:
        data = json.dumps(storage_class_object(standard))

    async with ApiClient() as api:
        parsed = api.deserialize(Response(), "V1StorageClass")
    assert parsed.provisioner == "coursehub.dev/folder"
    assert parsed.metadata.annotations == {"storageclass.kubernetes.io/is-default-class": "true"}
