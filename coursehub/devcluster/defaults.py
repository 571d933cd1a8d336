"""Defaulting and validation of new and updated objects, the way the Kubernetes API does it.

Pure: functions take plain dicts. ``apply_create_defaults`` mutates the (already copied) object
it is given; ``validation_errors`` returns Kubernetes-style field errors such as
``spec.containers[0].image: Required value``, which the store joins into a 422 message.
"""

from __future__ import annotations

import base64
import re
from decimal import Decimal
from typing import Any

from coursehub.devcluster import netpolicy
from coursehub.devcluster.resources import ResourceType
from coursehub.quantity import QuantityError, parse_quantity

__all__ = [
    "apply_create_defaults",
    "apply_update_defaults",
    "is_valid_name",
    "name_errors",
    "normalize_secret",
    "validation_errors",
]

_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_SUBDOMAIN_HINT = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
    "or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex "
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
_LABEL_HINT = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', "
    "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
# Resources that are counted in whole devices and cannot be overcommitted.
_NATIVE_RESOURCES = frozenset({"cpu", "memory", "ephemeral-storage", "pods"})


def is_valid_name(name: str, rule: str = "subdomain") -> bool:
    """True if ``name`` is an RFC 1123 subdomain (or label, for ``rule="label"``)."""
    if rule == "label":
        return len(name) <= 63 and bool(_LABEL.match(name))
    return len(name) <= 253 and bool(_SUBDOMAIN.match(name))


def name_errors(name: str, rule: str, field: str = "metadata.name") -> list[str]:
    """Field errors for an object name; empty when valid."""
    if not name:
        return [f"{field}: Required value: name or generateName is required"]
    if is_valid_name(name, rule):
        return []
    hint = _LABEL_HINT if rule == "label" else _SUBDOMAIN_HINT
    limit = 63 if rule == "label" else 253
    if len(name) > limit:
        hint = f"must be no more than {limit} characters"
    return [f'{field}: Invalid value: "{name}": {hint}']


def apply_create_defaults(resource: ResourceType, obj: dict[str, Any]) -> None:
    """Fill the fields Kubernetes defaults when an object of this type is created."""
    if resource.plural == "pods":
        _default_pod(obj)
    elif resource.plural == "namespaces":
        obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
        obj["status"] = {"phase": "Active"}
    elif resource.plural == "services":
        spec = obj.setdefault("spec", {})
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        for port in spec.get("ports") or []:
            port.setdefault("protocol", "TCP")
            port.setdefault("targetPort", port.get("port"))
        obj.setdefault("status", {"loadBalancer": {}})
    elif resource.plural == "persistentvolumeclaims":
        spec = obj.setdefault("spec", {})
        spec.setdefault("volumeMode", "Filesystem")
        # The dev cluster's storage is a local directory: every claim is bound at once.
        requested = ((spec.get("resources") or {}).get("requests") or {}).get("storage")
        status: dict[str, Any] = {"phase": "Bound", "accessModes": spec.get("accessModes", [])}
        if requested is not None:
            status["capacity"] = {"storage": requested}
        obj["status"] = status
    elif resource.plural == "secrets":
        normalize_secret(obj)
    elif resource.plural == "events":
        obj.setdefault("count", 1)
        obj.setdefault("type", "Normal")
    elif resource.plural == "networkpolicies":
        netpolicy.apply_defaults(obj)


def apply_update_defaults(resource: ResourceType, obj: dict[str, Any]) -> None:
    """Fill what Kubernetes defaults again when an existing object is replaced or patched."""
    if resource.plural == "secrets":
        normalize_secret(obj)
    elif resource.plural == "networkpolicies":
        netpolicy.apply_defaults(obj)


def normalize_secret(secret: dict[str, Any]) -> None:
    """Move ``stringData`` into base64 ``data`` and default ``type``, as the API does."""
    secret.setdefault("type", "Opaque")
    string_data = secret.pop("stringData", None) or {}
    if string_data:
        data = secret.setdefault("data", {})
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode()


def _image_pull_policy(image: str) -> str:
    last_part = image.rsplit("/", 1)[-1]
    if "@" in last_part:
        return "IfNotPresent"
    tag = last_part.split(":", 1)[1] if ":" in last_part else "latest"
    return "Always" if tag == "latest" else "IfNotPresent"


def _default_container(container: dict[str, Any]) -> None:
    resources = container.setdefault("resources", {})
    limits = resources.get("limits") or {}
    if limits:
        requests = resources.setdefault("requests", {})
        for resource_name, limit in limits.items():
            requests.setdefault(resource_name, limit)
    if container.get("image"):
        container.setdefault("imagePullPolicy", _image_pull_policy(container["image"]))
    container.setdefault("terminationMessagePath", "/dev/termination-log")
    container.setdefault("terminationMessagePolicy", "File")


def _qos_class(containers: list[dict[str, Any]]) -> str:
    any_set = False
    guaranteed = True
    for container in containers:
        resources = container.get("resources") or {}
        requests = resources.get("requests") or {}
        limits = resources.get("limits") or {}
        if requests or limits:
            any_set = True
        for name in ("cpu", "memory"):
            if name not in limits or requests.get(name, limits[name]) != limits[name]:
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def _default_pod(pod: dict[str, Any]) -> None:
    spec = pod.setdefault("spec", {})
    for field in ("initContainers", "containers"):
        for container in spec.get(field) or []:
            if isinstance(container, dict):
                _default_container(container)
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("securityContext", {})
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("priority", 0)
    containers = [c for c in spec.get("containers") or [] if isinstance(c, dict)]
    # A new pod's status is the API server's to set, whatever the client sent.
    pod["status"] = {"phase": "Pending", "qosClass": _qos_class(containers)}


def _container_errors(field: str, index: int, container: Any) -> list[str]:
    path = f"spec.{field}[{index}]"
    if not isinstance(container, dict):
        return [f"{path}: Invalid value: must be an object"]
    errors = []
    name = container.get("name") or ""
    if not name:
        errors.append(f"{path}.name: Required value")
    elif not is_valid_name(name, "label"):
        errors.extend(name_errors(name, "label", f"{path}.name"))
    if not container.get("image"):
        errors.append(f"{path}.image: Required value")
    resources = container.get("resources") or {}
    requests = resources.get("requests") or {}
    limits = resources.get("limits") or {}
    parsed: dict[str, dict[str, Decimal]] = {"requests": {}, "limits": {}}
    for kind, values in (("requests", requests), ("limits", limits)):
        for resource_name, value in values.items():
            try:
                parsed[kind][resource_name] = parse_quantity(value)
            except QuantityError:
                errors.append(
                    f'{path}.resources.{kind}[{resource_name}]: Invalid value: "{value}": '
                    "must match the regex ^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
                )
    for resource_name, request in parsed["requests"].items():
        limit = parsed["limits"].get(resource_name)
        extended = resource_name not in _NATIVE_RESOURCES and "/" in resource_name
        if extended and limit is None:
            errors.append(
                f"{path}.resources.limits: Required value: Limit must be set for non "
                f"overcommitable resources"
            )
        elif extended and limit != request:
            errors.append(
                f"{path}.resources.requests[{resource_name}]: Invalid value: "
                f'"{requests[resource_name]}": '
                f"must be equal to {resource_name} limit of {limits[resource_name]}"
            )
        elif limit is not None and request > limit:
            errors.append(
                f'{path}.resources.requests: Invalid value: "{requests[resource_name]}": '
                f"must be less than or equal to {resource_name} limit of {limits[resource_name]}"
            )
    return errors


def validation_errors(resource: ResourceType, obj: dict[str, Any]) -> list[str]:
    """Field errors in an object about to be stored (beyond its name); empty when valid."""
    errors: list[str] = []
    labels = (obj.get("metadata") or {}).get("labels")
    if labels is not None and not isinstance(labels, dict):
        errors.append("metadata.labels: Invalid value: must be a map of strings")
    elif labels:
        for value in labels.values():
            if not isinstance(value, str):
                errors.append(f'metadata.labels: Invalid value: "{value}": must be a string')
    if resource.plural == "pods":
        spec = obj.get("spec")
        containers = spec.get("containers") if isinstance(spec, dict) else None
        if not containers or not isinstance(containers, list):
            errors.append("spec.containers: Required value")
        else:
            names = set()
            for index, container in enumerate(containers):
                errors.extend(_container_errors("containers", index, container))
                name = container.get("name") if isinstance(container, dict) else None
                if name in names:
                    errors.append(f'spec.containers[{index}].name: Duplicate value: "{name}"')
                names.add(name)
            for index, container in enumerate(spec.get("initContainers") or []):
                errors.extend(_container_errors("initContainers", index, container))
    if resource.plural == "events" and not isinstance(obj.get("involvedObject"), dict):
        errors.append("involvedObject: Required value")
    if resource.plural == "networkpolicies":
        errors.extend(netpolicy.validation_errors(obj))
    return errors
