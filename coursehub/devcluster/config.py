"""The dev cluster's shape: nodes (capacity, labels, taints), storage classes and image
default commands.

Read from YAML (``default-cluster.yaml`` beside this module unless another file is given);
every problem is reported as ``file:line: field: message``. ``node_object`` builds the
``v1`` Node the API server serves for a node entry, ``storage_class_object`` the
``storage.k8s.io/v1`` StorageClass (pure).
"""

from __future__ import annotations

import platform
import uuid
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError

from coursehub.catalog.loader import line_of, to_plain

# Quantities are checked per entry so an error names the resource (and its line).
from coursehub.catalog.model import SHARED_GPU_RESOURCE, WHOLE_GPU_RESOURCE, Quantity, loc_text
from coursehub.names import GPU_REPLICAS_LABEL
from coursehub.quantity import QuantityError, parse_quantity

DEFAULT_CONFIG = Path(__file__).with_name("default-cluster.yaml")
KUBELET_VERSION = "v1.31.0-coursehub"


NodeName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")]


class ClusterConfigError(ValueError):
    """A cluster file the dev cluster cannot use; ``problems`` are ``file:line: field: msg``."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Taint(_Strict):
    key: Annotated[str, StringConstraints(min_length=1)]
    value: str = ""
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]


class NodeSpec(_Strict):
    """One node. Shared GPUs, as the NVIDIA device plugin advertises time-sliced or MPS
    GPUs: the label ``nvidia.com/gpu.replicas: "4"`` makes each physical GPU 4 units of
    ``nvidia.com/gpu.shared`` (or, with no such resource, of ``nvidia.com/gpu``: the
    plugin without ``renameByDefault``)."""

    name: NodeName
    labels: dict[str, str] = {}
    taints: list[Taint] = []
    allocatable: dict[str, Quantity]

    @field_validator("labels")
    @classmethod
    def _replicas_is_a_count(cls, labels: dict) -> dict:
        value = labels.get(GPU_REPLICAS_LABEL)
        if value is not None and not (value.isdigit() and int(value) >= 1):
            raise ValueError(
                f"{GPU_REPLICAS_LABEL} is {value!r}: use how many replicas the device plugin "
                "makes of each GPU, e.g. '4'"
            )
        return labels

    @field_validator("allocatable")
    @classmethod
    def _cpu_and_memory(cls, allocatable: dict, info: ValidationInfo) -> dict:
        for resource in ("cpu", "memory"):
            if resource not in allocatable:
                raise ValueError(f"a node needs allocatable {resource}")
        labels = info.data.get("labels")
        if labels is not None:  # else the labels' own problem is reported
            problem = shared_gpu_problem(labels, allocatable)
            if problem:
                raise ValueError(problem)
        return allocatable

    @property
    def gpu_replicas(self) -> int:
        return int(self.labels.get(GPU_REPLICAS_LABEL, "1"))

    @property
    def shared_gpu_resource(self) -> str | None:
        """The resource whose units are replicas of a shared GPU (None: GPUs are whole)."""
        return _shared_resource(self.labels, self.allocatable)


def _shared_resource(labels: dict, allocatable: dict) -> str | None:
    if SHARED_GPU_RESOURCE in allocatable:
        return SHARED_GPU_RESOURCE
    if GPU_REPLICAS_LABEL in labels and WHOLE_GPU_RESOURCE in allocatable:
        return WHOLE_GPU_RESOURCE
    return None


def shared_gpu_problem(labels: dict, allocatable: dict) -> str | None:
    """Why the node's shared GPUs do not add up (None: they do, or it has none)."""
    resource = _shared_resource(labels, allocatable)
    if resource is None:
        return None
    if GPU_REPLICAS_LABEL not in labels:
        return (
            f"{resource} needs the node label {GPU_REPLICAS_LABEL} (how many replicas of "
            "each physical GPU the device plugin advertises)"
        )
    replicas = int(labels[GPU_REPLICAS_LABEL])
    try:
        amount = parse_quantity(allocatable[resource])
    except QuantityError:
        return None  # reported with the resource's own line
    if amount % replicas:
        return (
            f"{resource}: {allocatable[resource]} is not a whole number of GPUs at "
            f"{replicas} replicas each ({GPU_REPLICAS_LABEL})"
        )
    return None


# The dev cluster keeps every claim as a folder that all pods of the machine share, so its
# one provisioner offers every access mode, ReadWriteMany included.
DEV_PROVISIONER = "coursehub.dev/folder"
DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"


class StorageClassSpec(_Strict):
    """One StorageClass. ``default``: annotated as the cluster's default class (claims
    without ``storageClassName`` use it on a real cluster)."""

    name: NodeName
    provisioner: Annotated[str, StringConstraints(min_length=1)] = DEV_PROVISIONER
    default: bool = False
    reclaim_policy: Literal["Delete", "Retain"] = "Delete"
    volume_binding_mode: Literal["Immediate", "WaitForFirstConsumer"] = "Immediate"
    allow_volume_expansion: bool = False


class ImageDefaults(_Strict):
    """What an image would run: its ENTRYPOINT and CMD (pod ``command`` replaces the
    entrypoint, pod ``args`` replace the cmd, as in Kubernetes)."""

    entrypoint: list[str] = []
    cmd: list[str] = []


class ClusterConfig(_Strict):
    nodes: list[NodeSpec] = Field(min_length=1)
    # Every image not listed in ``images`` behaves like the project's notebook image.
    default_image: ImageDefaults = ImageDefaults(cmd=["jupyterhub-singleuser"])
    images: dict[str, ImageDefaults] = {}
    # What a cluster made by kind or a cloud has: one default class. ``[]``: none at all.
    storage_classes: list[StorageClassSpec] = [StorageClassSpec(name="standard", default=True)]

    @model_validator(mode="after")
    def _unique_names(self) -> ClusterConfig:
        names = [node.name for node in self.nodes]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(f"node name(s) used twice: {', '.join(twice)}")
        classes = [storage_class.name for storage_class in self.storage_classes]
        twice = sorted({name for name in classes if classes.count(name) > 1})
        if twice:
            raise ValueError(f"storage class name(s) used twice: {', '.join(twice)}")
        return self

    def image(self, name: str) -> ImageDefaults:
        return self.images.get(name, self.default_image)

    def device_count(self, node_name: str, resource: str) -> int | None:
        """Units of ``resource`` the node has (None: a node this file does not describe)."""
        node = next((node for node in self.nodes if node.name == node_name), None)
        if node is None:
            return None
        amount = node.allocatable.get(resource)
        return 0 if amount is None else int(parse_quantity(amount))

    def gpu_replicas(self, node_name: str, resource: str) -> int:
        """How many units of ``resource`` on the node are one physical GPU (1 unless the
        node shares its GPUs and ``resource`` is the shared one)."""
        node = next((node for node in self.nodes if node.name == node_name), None)
        if node is None or node.shared_gpu_resource != resource:
            return 1
        return node.gpu_replicas


def load_cluster_config(path: Path | None = None) -> ClusterConfig:
    """The cluster described by ``path`` (default: ``default-cluster.yaml``).

    Raises ``ClusterConfigError`` listing every problem with file, line and field.
    """
    path = path or DEFAULT_CONFIG
    try:
        tree = YAML(typ="rt").load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ClusterConfigError([f"{path}: cannot read the file: {exc}"]) from None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark else ""
        raise ClusterConfigError([f"{path}{line}: (YAML syntax): {exc.problem}"]) from None
    if not isinstance(tree, dict):
        raise ClusterConfigError([f"{path}:1: (file): expected a mapping with 'nodes:'"])
    problems = _duplicate_names(path, tree)
    try:
        config = ClusterConfig.model_validate(to_plain(tree))
    except ValidationError as exc:
        for error in exc.errors():
            loc = tuple(error["loc"])
            if not loc and problems:
                continue  # the duplicate names, already reported with their lines
            line = line_of(tree, loc)
            where = f"{path}:{line}" if line else str(path)
            message = error["msg"].removeprefix("Value error, ")
            problems.append(f"{where}: {loc_text(loc) or '(file)'}: {message}")
    if problems:
        raise ClusterConfigError(problems)
    return config


def _duplicate_names(path: Path, tree: dict) -> list[str]:
    """``file:line: nodes[i].name: ...`` for each node named like an earlier one."""
    nodes = tree.get("nodes")
    if not isinstance(nodes, list):
        return []
    problems, seen = [], set()
    for index, node in enumerate(nodes):
        name = node.get("name") if isinstance(node, dict) else None
        if not isinstance(name, str):
            continue
        if name in seen:
            loc = ("nodes", index, "name")
            problems.append(
                f"{path}:{line_of(tree, loc)}: {loc_text(loc)}: "
                f"node name {name!r} is used by an earlier node"
            )
        seen.add(name)
    return problems


def node_object(node: NodeSpec) -> dict:
    """The ``v1`` Node for a configured node: Ready, with capacity = allocatable."""
    resources = {name: str(amount) for name, amount in node.allocatable.items()}
    node_uuid = str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{node.name}.coursehub.dev"))
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": node.name,
            "labels": {
                "kubernetes.io/hostname": node.name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                **node.labels,
            },
        },
        "spec": {"taints": [taint.model_dump() for taint in node.taints]},
        "status": {
            "capacity": resources,
            "allocatable": dict(resources),
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "KubeletReady",
                    "message": "kubelet is posting ready status",
                }
            ],
            "addresses": [
                {"type": "InternalIP", "address": "127.0.0.1"},
                {"type": "Hostname", "address": node.name},
            ],
            # Every field Kubernetes clients require (kubernetes_asyncio validates them).
            "nodeInfo": {
                "architecture": "amd64",
                "bootID": node_uuid,
                "containerRuntimeVersion": "coursehub-process://1",
                "kernelVersion": platform.release(),
                "kubeProxyVersion": KUBELET_VERSION,
                "kubeletVersion": KUBELET_VERSION,
                "machineID": node_uuid.replace("-", ""),
                "operatingSystem": "linux",
                "osImage": "coursehub dev cluster",
                "systemUUID": node_uuid,
            },
        },
    }


def storage_class_object(storage_class: StorageClassSpec) -> dict:
    """The ``storage.k8s.io/v1`` StorageClass for a configured class."""
    metadata: dict = {"name": storage_class.name}
    if storage_class.default:
        metadata["annotations"] = {DEFAULT_CLASS_ANNOTATION: "true"}
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": metadata,
        "provisioner": storage_class.provisioner,
        "reclaimPolicy": storage_class.reclaim_policy,
        "volumeBindingMode": storage_class.volume_binding_mode,
        "allowVolumeExpansion": storage_class.allow_volume_expansion,
    }
