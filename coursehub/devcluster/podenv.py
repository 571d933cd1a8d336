"""What a container sees when the dev kubelet runs it as a local process (pure functions).

- ``container_env``: the pod's ``env``/``envFrom`` with ``valueFrom`` resolved (secrets,
  config maps, fields, resource fields), plus what a kubelet adds (``HOSTNAME``,
  ``KUBERNETES_SERVICE_*``); ``JUPYTERHUB_SERVICE_URL``'s host becomes the pod IP, because
  jupyterhub-singleuser binds to that host and every pod has its own loopback address.
- ``container_argv``: ``command`` + ``args``, or the image's default command.
- ``mount_plan``: where each volume mount lands inside the pod's root folder.
- ``GPU_ENV``: devices are announced as the NVIDIA device plugin does.

Lookups go through a ``lookup(kind, namespace, name) -> dict | None`` callable so these
functions need no store.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath
from urllib.parse import urlsplit, urlunsplit

from coursehub.quantity import parse_quantity

GPU_ENV = "NVIDIA_VISIBLE_DEVICES"
DEFAULT_WORKING_DIR = "/home/jovyan"
Lookup = Callable[[str, str, str], dict | None]


class EnvError(ValueError):
    """A reference the kubelet cannot resolve (as CreateContainerConfigError)."""


def _field_value(path: str, pod: dict, pod_ip: str, host_ip: str) -> str:
    metadata = pod.get("metadata", {})
    simple = {
        "metadata.name": metadata.get("name", ""),
        "metadata.namespace": metadata.get("namespace", ""),
        "metadata.uid": metadata.get("uid", ""),
        "spec.nodeName": pod.get("spec", {}).get("nodeName", ""),
        "spec.serviceAccountName": pod.get("spec", {}).get("serviceAccountName", ""),
        "status.podIP": pod_ip,
        "status.podIPs": pod_ip,
        "status.hostIP": host_ip,
    }
    if path in simple:
        return simple[path]
    keyed = re.fullmatch(r"metadata\.(labels|annotations)\['([^']+)'\]", path)
    if keyed:
        return (metadata.get(keyed.group(1)) or {}).get(keyed.group(2), "")
    raise EnvError(f"unsupported fieldRef fieldPath {path!r}")


def _resource_value(ref: dict, container: dict) -> str:
    kind, _, resource = ref.get("resource", "").partition(".")
    amounts = (container.get("resources") or {}).get(kind) or {}
    if resource not in amounts:
        return "0"
    amount = parse_quantity(amounts[resource])
    divisor = parse_quantity(ref.get("divisor", "1"))
    # Rounded up, as the kubelet does (Decimal's // truncates, so no -(-a // b) trick).
    return str(math.ceil(amount / divisor))


def _key_value(kind: str, ref: dict, namespace: str, lookup: Lookup) -> str | None:
    obj = lookup(kind, namespace, ref.get("name", ""))
    optional = ref.get("optional", False)
    if obj is None:
        if optional:
            return None
        raise EnvError(f'{kind[:-1]} "{ref.get("name")}" not found')
    data = obj.get("data") or {}
    if ref["key"] not in data:
        if optional:
            return None
        raise EnvError(f"couldn't find key {ref['key']} in {kind[:-1]} {namespace}/{ref['name']}")
    value = data[ref["key"]]
    return base64.b64decode(value).decode() if kind == "secrets" else value


def container_env(
    container: dict,
    pod: dict,
    *,
    pod_ip: str,
    host_ip: str,
    api_host: str,
    api_port: int,
    lookup: Lookup,
) -> dict[str, str]:
    """The environment the container's process gets (before the host's PATH and HOME)."""
    namespace = pod["metadata"]["namespace"]
    env = {
        "HOSTNAME": pod["metadata"]["name"],
        "KUBERNETES_SERVICE_HOST": api_host,
        "KUBERNETES_SERVICE_PORT": str(api_port),
    }
    for source in container.get("envFrom") or []:
        prefix = source.get("prefix", "")
        for kind, ref_key in (("configmaps", "configMapRef"), ("secrets", "secretRef")):
            ref = source.get(ref_key)
            if ref is None:
                continue
            obj = lookup(kind, namespace, ref.get("name", ""))
            if obj is None:
                if ref.get("optional"):
                    continue
                raise EnvError(f'{kind[:-1]} "{ref.get("name")}" not found')
            for key, value in (obj.get("data") or {}).items():
                decoded = base64.b64decode(value).decode() if kind == "secrets" else value
                env[prefix + key] = decoded
    for variable in container.get("env") or []:
        name = variable["name"]
        source = variable.get("valueFrom")
        if source is None:
            env[name] = _expand(variable.get("value", ""), env)
            continue
        if "fieldRef" in source:
            env[name] = _field_value(source["fieldRef"]["fieldPath"], pod, pod_ip, host_ip)
        elif "resourceFieldRef" in source:
            env[name] = _resource_value(source["resourceFieldRef"], container)
        elif "secretKeyRef" in source or "configMapKeyRef" in source:
            kind = "secrets" if "secretKeyRef" in source else "configmaps"
            ref = source.get("secretKeyRef") or source.get("configMapKeyRef")
            value = _key_value(kind, ref, namespace, lookup)
            if value is not None:
                env[name] = value
    if "JUPYTERHUB_SERVICE_URL" in env:
        env["JUPYTERHUB_SERVICE_URL"] = with_host(env["JUPYTERHUB_SERVICE_URL"], pod_ip)
    return env


def _expand(value: str, env: dict[str, str]) -> str:
    """Kubernetes' ``$(VAR)`` references to earlier variables; ``$$`` escapes."""

    def replace(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        return env.get(match.group(1), match.group(0))

    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)", replace, value)


def with_host(url: str, host: str) -> str:
    """``url`` with its host replaced, keeping scheme, port and path."""
    parts = urlsplit(url)
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def container_argv(
    container: dict, entrypoint: list[str], cmd: list[str], env: dict[str, str]
) -> list[str]:
    """What the container runs, as Kubernetes combines it with the image: ``command``
    replaces the image's ENTRYPOINT, ``args`` its CMD (``$(VAR)`` expanded in both)."""
    command = container.get("command")
    args = container.get("args")
    argv = [*command, *(args or [])] if command else [*entrypoint, *(args or cmd)]
    if not argv:
        raise EnvError(f"container {container.get('name')!r} has no command to run")
    return [_expand(part, env) for part in argv]


@dataclass(frozen=True)
class Mount:
    """A volume mount: ``path`` inside the pod, ``volume`` the pod volume it shows."""

    path: PurePosixPath
    volume: dict
    sub_path: str
    read_only: bool


def mount_plan(container: dict, pod: dict) -> list[Mount]:
    """The container's mounts, parents before children; unknown volume names refused."""
    volumes = {volume["name"]: volume for volume in pod["spec"].get("volumes") or []}
    mounts = []
    for mount in container.get("volumeMounts") or []:
        volume = volumes.get(mount["name"])
        if volume is None:
            raise EnvError(f"volumeMount {mount['name']!r} names no volume of the pod")
        mounts.append(
            Mount(
                path=PurePosixPath(mount["mountPath"]),
                volume=volume,
                sub_path=mount.get("subPath", ""),
                read_only=bool(mount.get("readOnly")),
            )
        )
    return sorted(mounts, key=lambda m: len(m.path.parts))


def device_ids(node: str, resource: str, indices: list[int], replicas: int = 1) -> list[str]:
    """Stable device identifiers like the device plugin's (``GPU-…``, ``MIG-…``).

    On a node that shares each GPU as ``replicas`` replicas, replica ``i`` is physical GPU
    ``i // replicas``: pods that share a GPU see the same identifier (listed once each)."""
    if replicas > 1:
        physical = dict.fromkeys(index // replicas for index in indices)
        return [f"GPU-{node}-gpu-{index}" for index in physical]
    kind = "MIG" if "/mig-" in resource else "GPU"
    shape = resource.rsplit("/", 1)[-1]
    return [f"{kind}-{node}-{shape}-{index}" for index in indices]
