"""Discovery documents: ``/version``, ``/api``, ``/api/v1``, ``/apis``, ``/apis/GROUP`` and
``/apis/GROUP/VERSION``.

Pure: built from :data:`coursehub.devcluster.resources.RESOURCES`. Only the legacy
(unaggregated) discovery format is served; kubectl asks for aggregated discovery first and falls
back to these plain JSON documents when the response's content type says so.
"""

from __future__ import annotations

from coursehub.devcluster.resources import group_versions, resources_in

__all__ = [
    "SERVER_VERSION",
    "api_group",
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


def _group_entry(group: str) -> dict | None:
    versions = [
        {"groupVersion": f"{group}/{version}", "version": version}
        for served_group, version in group_versions()
        if served_group == group
    ]
    if not group or not versions:
        return None
    return {"name": group, "versions": versions, "preferredVersion": versions[0]}


def api_group_list() -> dict:
    """The ``/apis`` document: every named API group (the core group is at ``/api``)."""
    groups = dict.fromkeys(group for group, _ in group_versions() if group)
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [_group_entry(group) for group in groups],
    }


def api_group(group: str) -> dict | None:
    """The ``/apis/GROUP`` document, or None for a group the dev cluster does not serve."""
    entry = _group_entry(group)
    return None if entry is None else {"kind": "APIGroup", "apiVersion": "v1", **entry}


def api_resource_list(group: str = "", version: str = "v1") -> dict | None:
    """The APIResourceList of ``/api/v1`` (core group) or ``/apis/GROUP/VERSION``,
    subresources included; None for a group version the dev cluster does not serve."""
    served = resources_in(group, version)
    if not served:
        return None
    resources = []
    for resource in served:
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
        "groupVersion": served[0].api_version,
        "resources": resources,
    }
