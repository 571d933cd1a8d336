"""Discovery documents and resource URLs: each type is served in its own API group version."""

import pytest

from coursehub.devcluster.apiserver import parse_resource_path
from coursehub.devcluster.discovery import api_group, api_group_list, api_resource_list
from coursehub.devcluster.errors import ApiError
from coursehub.devcluster.resources import RESOURCES, group_versions


def test_plural_names_are_unique_across_groups():
    # The store keys objects by plural: a second type with the same plural would be lost.
    assert len(RESOURCES) == len({(r.group, r.plural) for r in RESOURCES.values()})
    assert group_versions() == [("", "v1"), ("networking.k8s.io", "v1"), ("storage.k8s.io", "v1")]


def test_core_group_lists_only_core_types():
    names = {entry["name"] for entry in api_resource_list()["resources"]}
    assert {"pods", "pods/status", "pods/log", "events", "namespaces"} <= names
    assert "networkpolicies" not in names
    assert api_resource_list()["groupVersion"] == "v1"


def test_networking_group_is_discoverable():
    groups = api_group_list()["groups"]
    version = {"groupVersion": "networking.k8s.io/v1", "version": "v1"}
    assert groups[0] == {
        "name": "networking.k8s.io",
        "versions": [version],
        "preferredVersion": version,
    }
    assert api_group("networking.k8s.io") == {
        "kind": "APIGroup",
        "apiVersion": "v1",
        **groups[0],
    }
    resources = api_resource_list("networking.k8s.io", "v1")
    assert resources["groupVersion"] == "networking.k8s.io/v1"
    [entry] = resources["resources"]
    assert entry["name"] == "networkpolicies" and entry["kind"] == "NetworkPolicy"
    assert entry["namespaced"] and entry["shortNames"] == ["netpol"]
    assert sorted(entry["verbs"]) == [
        "create",
        "delete",
        "deletecollection",
        "get",
        "list",
        "patch",
        "update",
        "watch",
    ]


def test_storage_classes_are_discoverable_cluster_wide_as_sc():
    groups = {group["name"]: group for group in api_group_list()["groups"]}
    version = {"groupVersion": "storage.k8s.io/v1", "version": "v1"}
    assert groups["storage.k8s.io"]["preferredVersion"] == version
    assert api_group("storage.k8s.io")["versions"] == [version]
    resources = api_resource_list("storage.k8s.io", "v1")
    assert resources["groupVersion"] == "storage.k8s.io/v1"
    [entry] = resources["resources"]
    assert (entry["name"], entry["kind"], entry["namespaced"]) == (
        "storageclasses",
        "StorageClass",
        False,
    )
    assert entry["shortNames"] == ["sc"]
    assert {"get", "list", "watch", "create"} <= set(entry["verbs"])
    core = {entry["name"] for entry in api_resource_list()["resources"]}
    assert "storageclasses" not in core


def test_unknown_groups_and_versions_have_no_documents():
    assert api_group("apps") is None and api_group("") is None
    assert api_resource_list("networking.k8s.io", "v1beta1") is None
    assert api_resource_list("", "v2") is None


def test_resource_paths_resolve_within_their_group_version():
    target = parse_resource_path("namespaces/grading/networkpolicies/deny", "networking.k8s.io")
    assert (target.resource.kind, target.namespace, target.name) == (
        "NetworkPolicy",
        "grading",
        "deny",
    )
    assert parse_resource_path("networkpolicies", "networking.k8s.io").namespace is None
    assert parse_resource_path("namespaces/default/pods/p/log").subresource == "log"


@pytest.mark.parametrize(
    ("path", "group", "version"),
    [
        ("namespaces/default/networkpolicies", "", "v1"),  # not in the core group
        ("namespaces/default/pods", "networking.k8s.io", "v1"),  # not in networking
        ("namespaces/default/networkpolicies", "networking.k8s.io", "v1beta1"),
        ("networkpolicies/deny", "networking.k8s.io", "v1"),  # namespaced needs a namespace
    ],
)
def test_a_type_outside_the_url_group_version_is_not_found(path, group, version):
    with pytest.raises(ApiError) as caught:
        parse_resource_path(path, group, version)
    assert caught.value.code == 404
