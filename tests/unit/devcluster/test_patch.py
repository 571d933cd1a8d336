"""The three Kubernetes patch formats, applied to pods the way the API server applies them."""

import pytest

from coursehub.devcluster.patch import (
    PatchError,
    apply_json_patch,
    apply_merge_patch,
    apply_strategic_merge_patch,
)


def _pod():
    return {
        "metadata": {"name": "nb", "labels": {"a": "1", "b": "2"}, "finalizers": ["x"]},
        "spec": {
            "containers": [
                {
                    "name": "notebook",
                    "image": "img:1",
                    "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                    "ports": [{"containerPort": 8888, "name": "http"}],
                },
                {"name": "sidecar", "image": "side:1"},
            ],
            "tolerations": [{"key": "gpu", "operator": "Exists"}],
        },
        "status": {"conditions": [{"type": "Ready", "status": "False"}]},
    }


def test_merge_patch_merges_maps_deletes_nulls_and_replaces_lists():
    original = _pod()
    patched = apply_merge_patch(
        original,
        {"metadata": {"labels": {"a": None, "c": "3"}}, "spec": {"containers": [{"name": "x"}]}},
    )
    assert patched["metadata"]["labels"] == {"b": "2", "c": "3"}
    assert patched["spec"]["containers"] == [{"name": "x"}]
    assert original == _pod(), "the input must not change"


def test_json_patch_applies_operations_and_reports_failures():
    patched = apply_json_patch(
        _pod(),
        [
            {"op": "replace", "path": "/spec/containers/0/image", "value": "img:2"},
            {"op": "add", "path": "/metadata/labels/c", "value": "3"},
            {"op": "remove", "path": "/metadata/labels/a"},
        ],
    )
    assert patched["spec"]["containers"][0]["image"] == "img:2"
    assert patched["metadata"]["labels"] == {"b": "2", "c": "3"}
    with pytest.raises(PatchError, match="cannot be applied"):
        apply_json_patch(_pod(), [{"op": "remove", "path": "/metadata/nothing"}])
    with pytest.raises(PatchError, match="list of operations"):
        apply_json_patch(_pod(), {"op": "remove"})


def test_strategic_patch_merges_containers_by_name_and_env_by_name():
    patched = apply_strategic_merge_patch(
        _pod(),
        {
            "spec": {
                "containers": [
                    {"name": "notebook", "image": "img:2", "env": [{"name": "B", "value": "9"}]},
                    {"name": "new", "image": "new:1"},
                ]
            }
        },
    )
    containers = patched["spec"]["containers"]
    assert [c["name"] for c in containers] == ["notebook", "sidecar", "new"]
    assert containers[0]["image"] == "img:2"
    assert containers[0]["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "9"}]
    assert containers[0]["ports"] == [{"containerPort": 8888, "name": "http"}]


def test_strategic_patch_status_conditions_merge_by_type():
    patched = apply_strategic_merge_patch(
        _pod(),
        {
            "status": {
                "conditions": [
                    {"type": "Ready", "status": "True"},
                    {"type": "PodScheduled", "status": "True"},
                ]
            }
        },
    )
    assert patched["status"]["conditions"] == [
        {"type": "Ready", "status": "True"},
        {"type": "PodScheduled", "status": "True"},
    ]


def test_strategic_patch_replaces_atomic_lists_and_merges_finalizers_as_a_set():
    patched = apply_strategic_merge_patch(
        _pod(),
        {"metadata": {"finalizers": ["x", "y"]}, "spec": {"tolerations": [{"key": "other"}]}},
    )
    assert patched["metadata"]["finalizers"] == ["x", "y"]
    assert patched["spec"]["tolerations"] == [{"key": "other"}]


def test_strategic_patch_directives():
    patched = apply_strategic_merge_patch(
        _pod(),
        {
            "metadata": {"$deleteFromPrimitiveList/finalizers": ["x"], "labels": {"a": None}},
            "spec": {
                "containers": [{"name": "sidecar", "$patch": "delete"}],
                "$setElementOrder/containers": [{"name": "notebook"}],
            },
        },
    )
    assert patched["metadata"]["finalizers"] == []
    assert patched["metadata"]["labels"] == {"b": "2"}
    assert [c["name"] for c in patched["spec"]["containers"]] == ["notebook"]
    replaced = apply_strategic_merge_patch(
        _pod(), {"metadata": {"labels": {"$patch": "replace", "only": "this"}}}
    )
    assert replaced["metadata"]["labels"] == {"only": "this"}


def test_strategic_patch_refuses_items_without_their_merge_key():
    with pytest.raises(PatchError, match="merge key 'name'"):
        apply_strategic_merge_patch(_pod(), {"spec": {"containers": [{"image": "x"}]}})
    with pytest.raises(PatchError, match="JSON object"):
        apply_strategic_merge_patch(_pod(), [1])
