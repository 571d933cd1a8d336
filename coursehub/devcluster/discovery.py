"""Discovery documents: ``/version``, ``/api``, ``/apis`` and ``/api/v1``.

Pure: built from :data:`coursehub.devcluster.resources.RESOURCES`. Only the legacy
(unaggregated) discovery format is served; kubectl asks for aggregated discovery first and falls
back to these plain JSON documents when the response's content type says so.
"""

from __future__ import annotations

from coursehub.devcluster.resources import RESOURCES

__all__ = [
    "SERVER_VERSION",
    "api_group_list",
    "api_resource_list",
    "api_versions",
    "version_info",
]

# Close enough to the kubectl shipped in the venv that kubectl prints no version-skew warning.
SERVER_VERSION = (1, 37)

_SUBRESOURCE_VERBS = {
    "status": ["get", "patch", "update"],
    "log": ["get"],
    "binding": ["create"],
}


def version_info() -> dict:
    """The ``/version`` document."""
    major, minor = SERVER_VERSION
    return {
        "major": str(major),
        "minor": str(minor),
        "gitVersion": f"v{major}.{minor}.0+coursehub-devcluster",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-01-01T00:00:00Z",
        "goVersion": "go1.24.0",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


def api_versions(server_address: str) -> dict:
    """The ``/api`` document (core group versions)."""
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


def api_group_list() -> dict:
    """The ``/apis`` document: the dev cluster serves no named API groups."""
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": []}


def api_resource_list() -> dict:
    """The ``/api/v1`` APIResourceList, subresources included."""
    resources = []
    for resource in RESOURCES.values():
        entry = {
            "name": resource.plural,
            "singularName": resource.singular,
            "namespaced": resource.namespaced,
            "kind": resource.kind,
            "verbs": list(resource.verbs),
        }
        if resource.short_names:
            entry["shortNames"] = list(resource.short_names)
        if resource.plural in (
            "pods",
            "services",
            "configmaps",
            "secrets",
            "persistentvolumeclaims",
        ):
            entry["categories"] = ["all"] if resource.plural in ("pods", "services") else []
        resources.append(entry)
        for subresource in resource.subresources:
            resources.append(
                {
                    "name": f"{resource.plural}/{subresource}",
                    "singularName": "",
                    "namespaced": resource.namespaced,
                    "kind": "Binding" if subresource == "binding" else resource.kind,
                    "verbs": _SUBRESOURCE_VERBS[subresource],
                }
            )
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": "v1",
        "resources": resources,
    }
