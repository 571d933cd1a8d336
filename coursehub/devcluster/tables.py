"""Server-side printing: ``meta.k8s.io/v1`` Table objects, which ``kubectl get`` asks for.

Pure: objects in, Table dicts out. Columns follow Kubernetes' own printers for pods, nodes,
events, namespaces, services, persistent volume claims, config maps, secrets, network
policies and storage classes; other types get NAME and AGE. Columns with ``priority`` 1
appear only with ``kubectl get -o wide``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from coursehub.devcluster.selectors import SelectorError, label_selector_from_spec

__all__ = ["human_age", "to_table", "wants_table"]

Column = tuple[str, str, int]  # (name, type, priority)
Row = list[Any]


def wants_table(accept: str | None) -> bool:
    """True if an ``Accept`` header asks for a Table (``as=Table;g=meta.k8s.io``)."""
    if not accept:
        return False
    for media in accept.split(","):
        parameters = {
            key.strip(): value.strip()
            for key, _, value in (part.partition("=") for part in media.split(";")[1:])
        }
        if parameters.get("as") == "Table" and parameters.get("g", "meta.k8s.io") == "meta.k8s.io":
            return True
    return False


def human_age(timestamp: str | None, now: datetime | None = None) -> str:
    """Age as kubectl prints it (``45s``, ``5m3s``, ``3h``, ``2d4h``), ``<unknown>`` if unset."""
    if not timestamp:
        return "<unknown>"
    try:
        then = datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return "<unknown>"
    seconds = int(((now or datetime.now(UTC)) - then).total_seconds())
    if seconds < -1:
        return "<invalid>"
    seconds = max(seconds, 0)
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if seconds < 120:
        return f"{seconds}s"
    if minutes < 10:
        return f"{minutes}m{seconds % 60}s" if seconds % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 192:
        return f"{days}d{hours % 24}h" if hours % 24 else f"{days}d"
    if days < 730:
        return f"{days}d"
    return f"{days // 365}y{days % 365}d" if days < 2920 else f"{days // 365}y"


def _age(obj: dict) -> str:
    return human_age(obj["metadata"].get("creationTimestamp"))


def _pod_status(pod: dict) -> str:
    status = pod.get("status") or {}
    reason = status.get("reason") or status.get("phase") or "Unknown"
    has_running = False
    for container in reversed(status.get("containerStatuses") or []):
        state = container.get("state") or {}
        waiting, terminated = state.get("waiting"), state.get("terminated")
        if waiting and waiting.get("reason"):
            reason = waiting["reason"]
        elif terminated and terminated.get("reason"):
            reason = terminated["reason"]
        elif terminated:
            signal = terminated.get("signal")
            reason = f"Signal:{signal}" if signal else f"ExitCode:{terminated.get('exitCode', 0)}"
        elif container.get("ready") and state.get("running"):
            has_running = True
    if reason == "Completed" and has_running:
        reason = "Running"
    if pod["metadata"].get("deletionTimestamp"):
        reason = "Unknown" if status.get("reason") == "NodeLost" else "Terminating"
    return reason


def _pod_row(pod: dict) -> Row:
    status = pod.get("status") or {}
    containers = (pod.get("spec") or {}).get("containers") or []
    statuses = status.get("containerStatuses") or []
    ready = sum(1 for container in statuses if container.get("ready"))
    restarts = sum(int(container.get("restartCount") or 0) for container in statuses)
    gates = (pod.get("spec") or {}).get("readinessGates") or []
    return [
        pod["metadata"]["name"],
        f"{ready}/{len(containers)}",
        _pod_status(pod),
        str(restarts),
        _age(pod),
        status.get("podIP") or "<none>",
        (pod.get("spec") or {}).get("nodeName") or "<none>",
        status.get("nominatedNodeName") or "<none>",
        f"0/{len(gates)}" if gates else "<none>",
    ]


def _node_row(node: dict) -> Row:
    status = node.get("status") or {}
    conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
    ready = conditions.get("Ready")
    state = "Unknown" if ready is None else ("Ready" if ready == "True" else "NotReady")
    if (node.get("spec") or {}).get("unschedulable"):
        state += ",SchedulingDisabled"
    labels = node["metadata"].get("labels") or {}
    roles = sorted(
        {key.split("/", 1)[1] for key in labels if key.startswith("node-role.kubernetes.io/")}
        | ({labels["kubernetes.io/role"]} if labels.get("kubernetes.io/role") else set())
    )
    addresses = {a.get("type"): a.get("address") for a in status.get("addresses") or []}
    info = status.get("nodeInfo") or {}
    return [
        node["metadata"]["name"],
        state,
        ",".join(role for role in roles if role) or "<none>",
        _age(node),
        info.get("kubeletVersion", ""),
        addresses.get("InternalIP") or "<none>",
        addresses.get("ExternalIP") or "<none>",
        info.get("osImage") or "<unknown>",
        info.get("kernelVersion") or "<unknown>",
        info.get("containerRuntimeVersion") or "<unknown>",
    ]


def _event_row(event: dict) -> Row:
    involved = event.get("involvedObject") or {}
    source = event.get("source") or {}
    last_seen = event.get("lastTimestamp") or event.get("eventTime") or ""
    if isinstance(last_seen, str) and "." in last_seen:  # eventTime has microseconds
        last_seen = last_seen.split(".", 1)[0] + "Z"
    return [
        human_age(last_seen),
        event.get("type", ""),
        event.get("reason", ""),
        f"{str(involved.get('kind', '')).lower()}/{involved.get('name', '')}",
        involved.get("fieldPath", ""),
        ", ".join(v for v in (source.get("component"), source.get("host")) if v)
        or event.get("reportingComponent", ""),
        (event.get("message") or "").strip(),
        human_age(event.get("firstTimestamp")),
        event.get("count", 1),
        event["metadata"]["name"],
    ]


def _service_row(service: dict) -> Row:
    spec = service.get("spec") or {}
    ports = []
    for port in spec.get("ports") or []:
        text = f"{port.get('port')}/{port.get('protocol', 'TCP')}"
        if port.get("nodePort"):
            text = f"{port.get('port')}:{port['nodePort']}/{port.get('protocol', 'TCP')}"
        ports.append(text)
    selector = spec.get("selector") or {}
    return [
        service["metadata"]["name"],
        spec.get("type", "ClusterIP"),
        spec.get("clusterIP") or "<none>",
        ",".join(spec.get("externalIPs") or []) or "<none>",
        ",".join(ports) or "<none>",
        _age(service),
        ",".join(f"{k}={v}" for k, v in sorted(selector.items())) or "<none>",
    ]


def _access_modes(modes: list[str]) -> str:
    short = {
        "ReadWriteOnce": "RWO",
        "ReadOnlyMany": "ROX",
        "ReadWriteMany": "RWX",
        "ReadWriteOncePod": "RWOP",
    }
    return ",".join(short.get(mode, mode) for mode in modes)


def _pvc_row(claim: dict) -> Row:
    spec, status = claim.get("spec") or {}, claim.get("status") or {}
    return [
        claim["metadata"]["name"],
        status.get("phase", "Pending"),
        spec.get("volumeName", ""),
        (status.get("capacity") or {}).get("storage", ""),
        _access_modes(status.get("accessModes") or []),
        spec.get("storageClassName") or "<unset>",
        _age(claim),
        spec.get("volumeMode", "Filesystem"),
    ]


def _pod_selector(policy: dict) -> str:
    spec = policy.get("spec") or {}
    try:
        return str(label_selector_from_spec(spec.get("podSelector"))) or "<none>"
    except SelectorError:
        return "<error>"


# As coursehub.devcluster.config spells it (tables import nothing of the config).
DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"


def _storage_class_row(storage_class: dict) -> Row:
    """As kubectl prints it: the default class's name ends in ``(default)``."""
    name = storage_class["metadata"]["name"]
    annotations = storage_class["metadata"].get("annotations") or {}
    if annotations.get(DEFAULT_CLASS_ANNOTATION) == "true":
        name += " (default)"
    return [
        name,
        storage_class.get("provisioner", ""),
        storage_class.get("reclaimPolicy", "Delete"),
        storage_class.get("volumeBindingMode", "Immediate"),
        bool(storage_class.get("allowVolumeExpansion", False)),
        _age(storage_class),
    ]


_PRINTERS: dict[str, tuple[list[Column], Callable[[dict], Row]]] = {
    "pods": (
        [
            ("Name", "string", 0),
            ("Ready", "string", 0),
            ("Status", "string", 0),
            ("Restarts", "string", 0),
            ("Age", "string", 0),
            ("IP", "string", 1),
            ("Node", "string", 1),
            ("Nominated Node", "string", 1),
            ("Readiness Gates", "string", 1),
        ],
        _pod_row,
    ),
    "nodes": (
        [
            ("Name", "string", 0),
            ("Status", "string", 0),
            ("Roles", "string", 0),
            ("Age", "string", 0),
            ("Version", "string", 0),
            ("Internal-IP", "string", 1),
            ("External-IP", "string", 1),
            ("OS-Image", "string", 1),
            ("Kernel-Version", "string", 1),
            ("Container-Runtime", "string", 1),
        ],
        _node_row,
    ),
    "events": (
        [
            ("Last Seen", "string", 0),
            ("Type", "string", 0),
            ("Reason", "string", 0),
            ("Object", "string", 0),
            ("Subobject", "string", 1),
            ("Source", "string", 1),
            ("Message", "string", 0),
            ("First Seen", "string", 1),
            ("Count", "integer", 1),
            ("Name", "string", 1),
        ],
        _event_row,
    ),
    "namespaces": (
        [("Name", "string", 0), ("Status", "string", 0), ("Age", "string", 0)],
        lambda ns: [ns["metadata"]["name"], (ns.get("status") or {}).get("phase", ""), _age(ns)],
    ),
    "services": (
        [
            ("Name", "string", 0),
            ("Type", "string", 0),
            ("Cluster-IP", "string", 0),
            ("External-IP", "string", 0),
            ("Port(s)", "string", 0),
            ("Age", "string", 0),
            ("Selector", "string", 1),
        ],
        _service_row,
    ),
    "persistentvolumeclaims": (
        [
            ("Name", "string", 0),
            ("Status", "string", 0),
            ("Volume", "string", 0),
            ("Capacity", "string", 0),
            ("Access Modes", "string", 0),
            ("StorageClass", "string", 0),
            ("Age", "string", 0),
            ("VolumeMode", "string", 1),
        ],
        _pvc_row,
    ),
    "configmaps": (
        [("Name", "string", 0), ("Data", "integer", 0), ("Age", "string", 0)],
        lambda cm: [
            cm["metadata"]["name"],
            len(cm.get("data") or {}) + len(cm.get("binaryData") or {}),
            _age(cm),
        ],
    ),
    "secrets": (
        [
            ("Name", "string", 0),
            ("Type", "string", 0),
            ("Data", "integer", 0),
            ("Age", "string", 0),
        ],
        lambda secret: [
            secret["metadata"]["name"],
            secret.get("type", "Opaque"),
            len(secret.get("data") or {}),
            _age(secret),
        ],
    ),
    "networkpolicies": (
        [("Name", "string", 0), ("Pod-Selector", "string", 0), ("Age", "string", 0)],
        lambda policy: [policy["metadata"]["name"], _pod_selector(policy), _age(policy)],
    ),
    "storageclasses": (
        [
            ("Name", "string", 0),
            ("Provisioner", "string", 0),
            ("ReclaimPolicy", "string", 0),
            ("VolumeBindingMode", "string", 0),
            ("AllowVolumeExpansion", "boolean", 0),
            ("Age", "string", 0),
        ],
        _storage_class_row,
    ),
}
_GENERIC: tuple[list[Column], Callable[[dict], Row]] = (
    [("Name", "string", 0), ("Age", "string", 0)],
    lambda obj: [obj["metadata"]["name"], _age(obj)],
)


def _row_object(obj: dict, include_object: str) -> dict | None:
    if include_object == "None":
        return None
    if include_object == "Object":
        return obj
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj["metadata"],
    }


def to_table(
    plural: str,
    objects: list[dict],
    resource_version: str,
    include_object: str = "Metadata",
) -> dict:
    """A ``meta.k8s.io/v1`` Table of ``objects`` (all of type ``plural``).

    ``include_object`` is the ``includeObject`` query parameter: ``Metadata`` (default,
    PartialObjectMetadata per row, which kubectl needs for ``-A``), ``Object`` or ``None``.
    """
    columns, printer = _PRINTERS.get(plural, _GENERIC)
    rows = []
    for obj in objects:
        row: dict[str, Any] = {"cells": printer(obj)}
        row_object = _row_object(obj, include_object)
        if row_object is not None:
            row["object"] = row_object
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": [
            {
                "name": name,
                "type": column_type,
                "format": "name" if name == "Name" else "",
                "description": "",
                "priority": priority,
            }
            for name, column_type, priority in columns
        ],
        "rows": rows,
    }
