"""The resource types the dev cluster serves: the core ``v1`` group, ``networking.k8s.io/v1``
and ``storage.k8s.io/v1``.

Pure data shared by the store (scoping, kinds, which types have a ``status`` subresource) and
the API server (REST paths and discovery documents). Each type knows its API group and
version: the core group (``group == ""``) is served under ``/api/v1``, a named group under
``/apis/GROUP/VERSION``. Adding a type here makes the store, the REST paths and discovery
serve it; Table columns for it live in ``tables.py`` (a generic NAME/AGE table otherwise).
Plural names are unique across groups: the store keys its objects by plural.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RESOURCES", "ResourceType", "group_versions", "resource_type", "resources_in"]

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
    group: str = ""  # "" is the core group
    version: str = "v1"

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def qualified_plural(self) -> str:
        """How API errors name the type: ``pods``, ``networkpolicies.networking.k8s.io``."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def qualified_kind(self) -> str:
        """How validation errors name the type: ``Pod``, ``NetworkPolicy.networking.k8s.io``."""
        return f"{self.kind}.{self.group}" if self.group else self.kind

    @property
    def api_version(self) -> str:
        """``apiVersion`` of its objects: ``v1`` (core) or ``GROUP/VERSION``."""
        return f"{self.group}/{self.version}" if self.group else self.version


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
        ResourceType(
            "networkpolicies",
            "networkpolicy",
            "NetworkPolicy",
            namespaced=True,
            short_names=("netpol",),
            group="networking.k8s.io",
        ),
        ResourceType(
            "storageclasses",
            "storageclass",
            "StorageClass",
            namespaced=False,
            short_names=("sc",),
            group="storage.k8s.io",
        ),
    )
}


def resource_type(plural: str, group: str = "", version: str = "v1") -> ResourceType | None:
    """The type served as ``plural`` in ``group``/``version``, or None."""
    resource = RESOURCES.get(plural)
    if resource is None or (resource.group, resource.version) != (group, version):
        return None
    return resource


def resources_in(group: str, version: str) -> list[ResourceType]:
    """Every type of one group version, in declaration order."""
    return [r for r in RESOURCES.values() if (r.group, r.version) == (group, version)]


def group_versions() -> list[tuple[str, str]]:
    """Every served (group, version), the core group first, each once."""
    return list(dict.fromkeys((r.group, r.version) for r in RESOURCES.values()))
