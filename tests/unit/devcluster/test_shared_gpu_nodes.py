"""Dev cluster nodes that share their GPUs like the NVIDIA device plugin's time-slicing:
``nvidia.com/gpu.replicas`` replicas per physical GPU, checked with file:line errors, and
``NVIDIA_VISIBLE_DEVICES`` naming the physical GPU that replicas share."""

from __future__ import annotations

from pathlib import Path

import pytest

from coursehub.devcluster.config import ClusterConfigError, load_cluster_config
from coursehub.devcluster.kubelet import DevicePool
from coursehub.devcluster.podenv import device_ids

SHARED_NODE = """\
nodes:
  - name: t4-shared
    labels: {nvidia.com/gpu.product: Tesla-T4, nvidia.com/gpu.replicas: "4"}
    allocatable: {cpu: 8, memory: 32Gi, nvidia.com/gpu.shared: 8}
  - name: t4-unrenamed
    labels: {nvidia.com/gpu.product: Tesla-T4-SHARED, nvidia.com/gpu.replicas: "2"}
    allocatable: {cpu: 8, memory: 32Gi, nvidia.com/gpu: 4}
  - name: a100
    allocatable: {cpu: 8, memory: 32Gi, nvidia.com/gpu: 2}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cluster.yaml"
    path.write_text(text)
    return path


def test_replicas_of_the_shared_resource_only(tmp_path):
    config = load_cluster_config(write(tmp_path, SHARED_NODE))
    assert config.gpu_replicas("t4-shared", "nvidia.com/gpu.shared") == 4
    # Without renameByDefault the device plugin advertises replicas as nvidia.com/gpu.
    assert config.gpu_replicas("t4-unrenamed", "nvidia.com/gpu") == 2
    assert config.gpu_replicas("a100", "nvidia.com/gpu") == 1
    assert config.gpu_replicas("t4-shared", "nvidia.com/gpu") == 1
    assert config.gpu_replicas("no-such-node", "nvidia.com/gpu.shared") == 1


def test_pods_sharing_a_gpu_see_the_same_physical_device():
    pool = DevicePool()
    taken = [pool.take("t4-shared", "nvidia.com/gpu.shared", 1) for _ in range(5)]
    ids = [device_ids("t4-shared", "nvidia.com/gpu.shared", t, replicas=4) for t in taken]
    assert ids == [["GPU-t4-shared-gpu-0"]] * 4 + [["GPU-t4-shared-gpu-1"]]
    # Two replicas of one GPU name it once; whole GPUs keep one id each.
    assert device_ids("n", "nvidia.com/gpu.shared", [0, 1], replicas=4) == ["GPU-n-gpu-0"]
    assert device_ids("n", "nvidia.com/gpu", [0, 1]) == ["GPU-n-gpu-0", "GPU-n-gpu-1"]


@pytest.mark.parametrize(
    ("node", "problem"),
    [
        (
            (
                '    labels: {nvidia.com/gpu.replicas: "four"}\n'
                "    allocatable: {cpu: 8, memory: 32Gi, nvidia.com/gpu.shared: 8}\n"
            ),
            "3: nodes[0].labels: nvidia.com/gpu.replicas is 'four'",
        ),
        (
            "    allocatable: {cpu: 8, memory: 32Gi, nvidia.com/gpu.shared: 8}\n",
            (
                "3: nodes[0].allocatable: nvidia.com/gpu.shared needs the node label "
                "nvidia.com/gpu.replicas"
            ),
        ),
        (
            (
                '    labels: {nvidia.com/gpu.replicas: "4"}\n'
                "    allocatable: {cpu: 8, memory: 32Gi, nvidia.com/gpu.shared: 6}\n"
            ),
            (
                "4: nodes[0].allocatable: nvidia.com/gpu.shared: 6 is not a whole number of "
                "GPUs at 4 replicas each"
            ),
        ),
    ],
    ids=["replicas-not-a-number", "shared-without-replicas", "not-whole-gpus"],
)
def test_shared_gpus_that_do_not_add_up_are_refused_with_their_line(tmp_path, node, problem):
    path = write(tmp_path, "nodes:\n  - name: t4\n" + node)
    with pytest.raises(ClusterConfigError) as caught:
        load_cluster_config(path)
    assert len(caught.value.problems) == 1, caught.value.problems
    assert caught.value.problems[0].startswith(f"{path}:{problem}"), caught.value.problems
