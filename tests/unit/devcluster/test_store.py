"""The dev cluster's object store: defaulting, validation, versions, deletion, GC and watches."""

import pytest

from coursehub.devcluster.store import ApiError, Store

SMP = "application/strategic-merge-patch+json"


def _pod(name="nb-alice", **metadata):
    return {
        "metadata": {"name": name, "labels": {"component": "singleuser-server"}, **metadata},
        "spec": {
            "containers": [
                {
                    "name": "notebook",
                    "image": "course/pytorch:1.0",
                    "resources": {"limits": {"cpu": "2", "memory": "4Gi", "nvidia.com/gpu": "1"}},
                }
            ]
        },
    }


def _bound_pod(store, name="nb-alice"):
    store.create("pods", "default", _pod(name))
    return store.patch("pods", "default", name, {"spec": {"nodeName": "gpu-1"}}, SMP)


def _api_error(call, *args, **kwargs) -> ApiError:
    with pytest.raises(ApiError) as caught:
        call(*args, **kwargs)
    return caught.value


def test_create_fills_metadata_and_pod_defaults():
    store = Store()
    pod = store.create("pods", "default", _pod())
    metadata = pod["metadata"]
    assert metadata["namespace"] == "default"
    assert metadata["uid"] and metadata["creationTimestamp"].endswith("Z")
    assert int(metadata["resourceVersion"]) > 0
    assert (pod["kind"], pod["apiVersion"]) == ("Pod", "v1")
    container = pod["spec"]["containers"][0]
    assert container["resources"]["requests"] == {
        "cpu": "2",
        "memory": "4Gi",
        "nvidia.com/gpu": "1",
    }
    assert pod["spec"]["terminationGracePeriodSeconds"] == 30
    assert pod["spec"]["schedulerName"] == "default-scheduler"
    assert "nodeName" not in pod["spec"]
    assert pod["status"]["phase"] == "Pending"
    assert pod["status"]["qosClass"] == "Guaranteed"


def test_resource_versions_increase_globally_across_types():
    store = Store()
    first = store.create("configmaps", "default", {"metadata": {"name": "a"}})
    second = store.create("pods", "default", _pod())
    assert int(second["metadata"]["resourceVersion"]) > int(first["metadata"]["resourceVersion"])
    assert store.list("configmaps")[1] == second["metadata"]["resourceVersion"]


def test_generate_name_gives_unique_names():
    store = Store()
    names = {
        store.create("pods", "default", _pod(name="", generateName="grade-"))["metadata"]["name"]
        for _ in range(20)
    }
    assert len(names) == 20
    assert all(name.startswith("grade-") and len(name) == len("grade-") + 5 for name in names)


def test_create_errors_read_like_kubernetes():
    store = Store()
    store.create("pods", "default", _pod())
    error = _api_error(store.create, "pods", "default", _pod())
    assert (error.code, error.reason, error.message) == (
        409,
        "AlreadyExists",
        'pods "nb-alice" already exists',
    )
    error = _api_error(store.create, "pods", "ai-101", _pod())
    assert (error.code, error.message) == (404, 'namespaces "ai-101" not found')
    error = _api_error(store.create, "pods", "default", _pod(name="Bad_Name"))
    assert error.code == 422
    assert error.message.startswith('Pod "Bad_Name" is invalid: metadata.name: Invalid value')
    status = error.to_status()
    assert status["kind"] == "Status" and status["status"] == "Failure" and status["code"] == 422


def test_pod_validation_names_the_field():
    store = Store()
    no_image = _pod()
    del no_image["spec"]["containers"][0]["image"]
    error = _api_error(store.create, "pods", "default", no_image)
    assert error.message == 'Pod "nb-alice" is invalid: spec.containers[0].image: Required value'
    gpu_mismatch = _pod()
    gpu_mismatch["spec"]["containers"][0]["resources"]["requests"] = {"nvidia.com/gpu": "2"}
    error = _api_error(store.create, "pods", "default", gpu_mismatch)
    assert "requests[nvidia.com/gpu]" in error.message and "must be equal" in error.message
    error = _api_error(store.create, "pods", "default", {"metadata": {"name": "x"}, "spec": {}})
    assert error.message == 'Pod "x" is invalid: spec.containers: Required value'


def test_namespace_in_body_must_match_the_request():
    store = Store()
    error = _api_error(
        store.create, "configmaps", "default", {"metadata": {"name": "a", "namespace": "x"}}
    )
    assert error.code == 400 and "does not match" in error.message


def test_get_and_list_return_copies_and_filter():
    store = Store()
    store.create("namespaces", None, {"metadata": {"name": "ai-101"}})
    store.create("pods", "default", _pod("a"))
    store.create("pods", "ai-101", _pod("b", labels={"component": "grader"}))
    got = store.get("pods", "default", "a")
    got["metadata"]["labels"]["changed"] = "yes"
    assert "changed" not in store.get("pods", "default", "a")["metadata"]["labels"]
    everywhere, _ = store.list("pods")
    assert [p["metadata"]["name"] for p in everywhere] == ["b", "a"]  # sorted by namespace
    assert [p["metadata"]["name"] for p in store.list("pods", "ai-101")[0]] == ["b"]
    selected, _ = store.list("pods", label_selector="component=singleuser-server")
    assert [p["metadata"]["name"] for p in selected] == ["a"]
    by_field, _ = store.list("pods", field_selector="metadata.namespace=ai-101")
    assert [p["metadata"]["name"] for p in by_field] == ["b"]
    assert _api_error(store.get, "pods", "default", "nope").message == 'pods "nope" not found'
    assert _api_error(store.list, "pods", None, "a in (").code == 400


def test_replace_checks_resource_version_and_keeps_status():
    store = Store()
    pod = store.create("pods", "default", _pod())
    pod["metadata"]["labels"]["x"] = "1"
    pod["status"] = {"phase": "Running"}
    updated = store.replace("pods", "default", "nb-alice", pod)
    assert updated["metadata"]["labels"]["x"] == "1"
    assert updated["status"]["phase"] == "Pending", "a plain PUT must not change status"
    assert updated["metadata"]["uid"] == pod["metadata"]["uid"]
    error = _api_error(store.replace, "pods", "default", "nb-alice", pod)  # stale version
    assert error.code == 409 and error.reason == "Conflict"
    assert "the object has been modified" in error.message


def test_status_subresource_changes_only_status():
    store = Store()
    pod = store.create("pods", "default", _pod())
    pod["status"] = {"phase": "Running", "podIP": "127.0.0.7"}
    pod["metadata"]["labels"] = {}
    updated = store.replace("pods", "default", "nb-alice", pod, subresource="status")
    assert updated["status"] == {"phase": "Running", "podIP": "127.0.0.7"}
    assert updated["metadata"]["labels"] == {"component": "singleuser-server"}
    patched = store.patch(
        "pods",
        "default",
        "nb-alice",
        {"status": {"containerStatuses": [{"name": "notebook", "ready": True}]}},
        SMP,
        subresource="status",
    )
    assert patched["status"]["podIP"] == "127.0.0.7"
    assert patched["status"]["containerStatuses"][0]["ready"] is True


def test_noop_update_keeps_resource_version():
    store = Store()
    pod = store.create("pods", "default", _pod())
    again = store.patch("pods", "default", "nb-alice", {"metadata": {"labels": {}}}, SMP)
    assert again["metadata"]["resourceVersion"] == pod["metadata"]["resourceVersion"]


def test_patch_content_types():
    store = Store()
    store.create("configmaps", "default", {"metadata": {"name": "c"}, "data": {"a": "1"}})
    merged = store.patch(
        "configmaps", "default", "c", '{"data": {"b": "2"}}', "application/merge-patch+json"
    )
    assert merged["data"] == {"a": "1", "b": "2"}
    json_patched = store.patch(
        "configmaps",
        "default",
        "c",
        [{"op": "remove", "path": "/data/a"}],
        "application/json-patch+json",
    )
    assert json_patched["data"] == {"b": "2"}
    assert (
        _api_error(
            store.patch, "configmaps", "default", "c", {}, "application/apply-patch+yaml"
        ).code
        == 415
    )
    bad = _api_error(
        store.patch,
        "configmaps",
        "default",
        "c",
        [{"op": "remove", "path": "/nope"}],
        "application/json-patch+json",
    )
    assert bad.code == 422


def test_unbound_pods_and_other_kinds_are_deleted_at_once():
    store = Store()
    store.create("pods", "default", _pod())
    store.delete("pods", "default", "nb-alice")
    assert store.list("pods")[0] == []
    store.create("secrets", "default", {"metadata": {"name": "s"}, "stringData": {"token": "abc"}})
    assert store.get("secrets", "default", "s")["data"] == {"token": "YWJj"}
    store.delete("secrets", "default", "s")
    assert _api_error(store.get, "secrets", "default", "s").code == 404


def test_bound_pods_are_deleted_gracefully_until_finalized():
    store = Store()
    _bound_pod(store)
    marked = store.delete("pods", "default", "nb-alice", grace_period_seconds=5)
    assert marked["metadata"]["deletionGracePeriodSeconds"] == 5
    assert marked["metadata"]["deletionTimestamp"].endswith("Z")
    assert store.get("pods", "default", "nb-alice")["metadata"]["deletionGracePeriodSeconds"] == 5
    shorter = store.delete("pods", "default", "nb-alice", grace_period_seconds=1)
    assert shorter["metadata"]["deletionGracePeriodSeconds"] == 1
    longer = store.delete("pods", "default", "nb-alice", grace_period_seconds=60)
    assert longer["metadata"]["deletionGracePeriodSeconds"] == 1
    store.finalize_pod("default", "nb-alice")
    assert store.list("pods")[0] == []
    store.finalize_pod("default", "nb-alice")  # a second call is harmless


def test_graceful_deletion_defaults_to_termination_grace_period_and_zero_forces():
    store = Store()
    _bound_pod(store)
    marked = store.delete("pods", "default", "nb-alice")
    assert marked["metadata"]["deletionGracePeriodSeconds"] == 30
    store.delete("pods", "default", "nb-alice", grace_period_seconds=0)
    assert store.list("pods")[0] == []


def test_terminal_pods_are_deleted_at_once():
    store = Store()
    _bound_pod(store)
    store.patch(
        "pods", "default", "nb-alice", {"status": {"phase": "Succeeded"}}, SMP, subresource="status"
    )
    store.delete("pods", "default", "nb-alice")
    assert store.list("pods")[0] == []


def test_owner_garbage_collection_and_orphaning():
    store = Store()
    pod = _bound_pod(store)
    owner = [{"apiVersion": "v1", "kind": "Pod", "name": "nb-alice", "uid": pod["metadata"]["uid"]}]
    store.create("secrets", "default", {"metadata": {"name": "token", "ownerReferences": owner}})
    store.create(
        "services", "default", {"metadata": {"name": "nb-alice", "ownerReferences": owner}}
    )
    store.delete("pods", "default", "nb-alice", grace_period_seconds=1)
    assert len(store.list("secrets")[0]) == 1, "dependents stay while the owner is terminating"
    store.finalize_pod("default", "nb-alice")
    assert store.list("secrets")[0] == [] and store.list("services")[0] == []

    config = store.create("configmaps", "default", {"metadata": {"name": "owner"}})
    owner = [
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": config["metadata"]["uid"]}
    ]
    store.create("secrets", "default", {"metadata": {"name": "kept", "ownerReferences": owner}})
    store.delete("configmaps", "default", "owner", propagation_policy="Orphan")
    assert "ownerReferences" not in store.get("secrets", "default", "kept")["metadata"]


def test_deleting_a_namespace_deletes_its_contents():
    store = Store()
    store.create("namespaces", None, {"metadata": {"name": "ai-101"}})
    store.create("configmaps", "ai-101", {"metadata": {"name": "c"}})
    store.create("pods", "ai-101", _pod())
    store.delete("namespaces", None, "ai-101")
    assert store.list("configmaps", "ai-101")[0] == [] and store.list("pods", "ai-101")[0] == []
    assert _api_error(store.create, "configmaps", "ai-101", {"metadata": {"name": "c"}}).code == 404


async def test_network_policies_carry_their_group_version_and_api_defaults():
    store = Store()
    created = store.create(
        "networkpolicies",
        "default",
        {"metadata": {"name": "egress"}, "spec": {"egress": [{"ports": [{"port": 53}]}]}},
    )
    assert (created["apiVersion"], created["kind"]) == ("networking.k8s.io/v1", "NetworkPolicy")
    assert created["spec"]["podSelector"] == {}
    assert created["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert created["spec"]["egress"][0]["ports"] == [{"port": 53, "protocol": "TCP"}]
    watch = store.watch("networkpolicies", "default", send_initial_events=True)
    added, bookmark = await watch.next_event(0.1), await watch.next_event(0.1)
    assert added["object"]["apiVersion"] == "networking.k8s.io/v1"
    assert (bookmark["type"], bookmark["object"]["apiVersion"]) == (
        "BOOKMARK",
        "networking.k8s.io/v1",
    )
    # A patch that removes policyTypes gets them defaulted again, as the API server does.
    patched = store.patch(
        "networkpolicies",
        "default",
        "egress",
        {"spec": {"policyTypes": None, "egress": None}},
        "application/merge-patch+json",
    )
    assert patched["spec"]["policyTypes"] == ["Ingress"]
    assert patched["apiVersion"] == "networking.k8s.io/v1"


def test_invalid_network_policy_is_refused_with_the_field_at_fault():
    store = Store()
    error = _api_error(
        store.create,
        "networkpolicies",
        "default",
        {"metadata": {"name": "bad"}, "spec": {"policyTypes": ["Outbound"]}},
    )
    assert (error.code, error.message) == (
        422,
        (
            'NetworkPolicy.networking.k8s.io "bad" is invalid: spec.policyTypes[0]: Unsupported '
            'value: "Outbound": '
            'supported values: "Ingress", "Egress"'
        ),
    )
    assert error.details == {"name": "bad", "kind": "NetworkPolicy", "group": "networking.k8s.io"}
    assert store.list("networkpolicies")[0] == []
    created = store.create("networkpolicies", "default", {"metadata": {"name": "a"}})
    error = _api_error(store.create, "networkpolicies", "default", created)
    assert error.message == 'networkpolicies.networking.k8s.io "a" already exists'
    error = _api_error(store.get, "networkpolicies", "default", "b")
    assert error.message == 'networkpolicies.networking.k8s.io "b" not found'


async def _drain(watch) -> list[tuple[str, str]]:
    events = []
    while (event := await watch.next_event(timeout=0.05)) is not None:
        events.append((event["type"], event["object"]["metadata"]["name"]))
    return events


async def test_watch_replays_from_a_version_then_streams_live_changes():
    store = Store()
    start = store.resource_version
    store.create("pods", "default", _pod("a"))
    store.create("configmaps", "default", {"metadata": {"name": "not-a-pod"}})
    store.patch("pods", "default", "a", {"metadata": {"labels": {"x": "1"}}}, SMP)
    watch = store.watch("pods", "default", resource_version=start)
    assert await _drain(watch) == [("ADDED", "a"), ("MODIFIED", "a")]
    store.delete("pods", "default", "a")
    assert await _drain(watch) == [("DELETED", "a")]
    watch.close()
    assert await watch.next_event(timeout=1) is None


async def test_watch_without_version_starts_with_current_objects():
    store = Store()
    store.create("pods", "default", _pod("a"))
    watch = store.watch("pods")
    assert await _drain(watch) == [("ADDED", "a")]
    watch.close()


async def test_watch_selectors_turn_matching_changes_into_added_and_deleted():
    store = Store()
    store.create("pods", "default", _pod("a"))
    watch = store.watch("pods", "default", store.resource_version, label_selector="course=ai-101")
    store.patch("pods", "default", "a", {"metadata": {"labels": {"course": "ai-101"}}}, SMP)
    store.patch("pods", "default", "a", {"metadata": {"labels": {"x": "1"}}}, SMP)
    store.patch("pods", "default", "a", {"metadata": {"labels": {"course": "ml-200"}}}, SMP)
    assert await _drain(watch) == [("ADDED", "a"), ("MODIFIED", "a"), ("DELETED", "a")]
    watch.close()


async def test_watch_from_a_compacted_version_is_expired():
    store = Store(history_limit=3)
    old = store.resource_version
    for index in range(5):
        store.create("configmaps", "default", {"metadata": {"name": f"c{index}"}})
    error = _api_error(store.watch, "configmaps", None, old)
    assert (error.code, error.reason) == (410, "Expired")
    recent = store.watch("configmaps", None, str(int(store.resource_version) - 3))
    assert [name for _, name in await _drain(recent)] == ["c2", "c3", "c4"]
    recent.close()
    store.compact()
    assert (
        _api_error(store.watch, "configmaps", None, str(int(store.resource_version) - 1)).code
        == 410
    )
    current = store.watch("configmaps", None, store.resource_version)
    assert await _drain(current) == []
    current.close()


def test_listeners_see_changes_in_order_even_when_they_change_the_store():
    store = Store()
    seen = []

    def bind_new_pods(event_type, plural, obj):
        seen.append((event_type, plural, obj["metadata"]["resourceVersion"]))
        if plural == "pods" and event_type == "ADDED":
            store.patch(
                "pods", "default", obj["metadata"]["name"], {"spec": {"nodeName": "n"}}, SMP
            )

    def crashing(event_type, plural, obj):
        raise RuntimeError("a broken controller must not break the API")

    store.add_listener(bind_new_pods)
    store.add_listener(crashing)
    pod = store.create("pods", "default", _pod())
    version = int(pod["metadata"]["resourceVersion"])
    assert seen == [("ADDED", "pods", str(version)), ("MODIFIED", "pods", str(version + 1))]
    assert store.get("pods", "default", "nb-alice")["spec"]["nodeName"] == "n"
