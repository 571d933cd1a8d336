"""The resource types the dev cluster serves: the core ``v1`` group only.

Pure data shared by the store (scoping, kinds, which types have a ``status`` subresource) and
the API server (discovery documents). Adding a type here makes the store and the REST paths
serve it; Table columns for it live in ``tables.py`` (a generic NAME/AGE table otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RESOURCES", "ResourceType", "resource_type"]

_ALL_VERBS = (
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
)


@dataclass(frozen=True)
class ResourceType:
    """One served resource type.

    ``has_status``: the type has a ``status`` subresource, so a plain update keeps the stored
    status and only ``/status`` writes change it. ``name_rule``: ``"subdomain"`` (RFC 1123
    subdomain, up to 253 characters) or ``"label"`` (RFC 1123 label, up to 63 characters).
    """

    plural: str
    singular: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    has_status: bool = False
    subresources: tuple[str, ...] = ()
    name_rule: str = "subdomain"
    verbs: tuple[str, ...] = _ALL_VERBS

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"


RESOURCES: dict[str, ResourceType] = {
    resource.plural: resource
    for resource in (
        ResourceType(
            "namespaces",
            "namespace",
            "Namespace",
            namespaced=False,
            short_names=("ns",),
            has_status=True,
            subresources=("status",),
            name_rule="label",
            verbs=("create", "delete", "get", "list", "patch", "update", "watch"),
        ),
        ResourceType(
            "nodes",
            "node",
            "Node",
            namespaced=False,
            short_names=("no",),
            has_status=True,
            subresources=("status",),
        ),
        ResourceType(
            "pods",
            "pod",
            "Pod",
            namespaced=True,
            short_names=("po",),
            has_status=True,
            subresources=("status", "log", "binding"),
        ),
        ResourceType(
            "persistentvolumeclaims",
            "persistentvolumeclaim",
            "PersistentVolumeClaim",
            namespaced=True,
            short_names=("pvc",),
            has_status=True,
            subresources=("status",),
        ),
        ResourceType(
            "services",
            "service",
            "Service",
            namespaced=True,
            short_names=("svc",),
            has_status=True,
            subresources=("status",),
            name_rule="label",
        ),
        ResourceType("secrets", "secret", "Secret", namespaced=True),
        ResourceType("configmaps", "configmap", "ConfigMap", namespaced=True, short_names=("cm",)),
        ResourceType("events", "event", "Event", namespaced=True, short_names=("ev",)),
    )
}


def resource_type(plural: str) -> ResourceType | None:
    """The served type for a plural name (``"pods"``), or None."""
    return RESOURCES.get(plural)
