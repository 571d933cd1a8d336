"""The dev cluster's API server over real HTTP, driven by kubernetes_asyncio, KubeSpawner's
reflectors and the real kubectl (``.venv/bin/kubectl``)."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from devcluster_api_fixtures import running_api_server
from kubernetes_asyncio import client, watch
from kubernetes_asyncio.client.exceptions import ApiException
from kubespawner.spawner import EventReflector, PodReflector
from tornado.httpclient import AsyncHTTPClient

pytestmark = pytest.mark.integration

SMP = "application/strategic-merge-patch+json"


def _pod(name: str, **labels: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"component": "singleuser-server", **labels}},
        "spec": {"containers": [{"name": "notebook", "image": "course/base:1"}]},
    }


def _running(store, name: str, ip: str = "127.0.0.9") -> None:
    """Do what the scheduler and kubelet would: bind the pod and report it running."""
    store.patch("pods", "default", name, {"spec": {"nodeName": "cpu-1"}}, SMP)
    store.patch(
        "pods",
        "default",
        name,
        {
            "status": {
                "phase": "Running",
                "podIP": ip,
                "containerStatuses": [
                    {
                        "name": "notebook",
                        "ready": True,
                        "restartCount": 0,
                        "image": "course/base:1",
                        "imageID": "",
                        "state": {"running": {"startedAt": "2025-01-01T00:00:00Z"}},
                    }
                ],
            }
        },
        SMP,
        subresource="status",
    )


def _event(store, pod: dict, reason: str, message: str) -> dict:
    return store.create(
        "events",
        "default",
        {
            "metadata": {"name": f"{pod['metadata']['name']}.{reason.lower()}"},
            "involvedObject": {
                "kind": "Pod",
                "name": pod["metadata"]["name"],
                "namespace": "default",
                "uid": pod["metadata"]["uid"],
                "apiVersion": "v1",
            },
            "reason": reason,
            "message": message,
            "type": "Normal",
            "firstTimestamp": "2025-01-01T00:00:00Z",
            "lastTimestamp": "2025-01-01T00:00:00Z",
            "count": 1,
            "source": {"component": "default-scheduler"},
            "reportingComponent": "default-scheduler",
        },
    )


async def _eventually(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


async def test_crud_with_kubernetes_asyncio(tmp_path):
    async with running_api_server(tmp_path) as server, await server.api_client() as api_client:
        core = client.CoreV1Api(api_client)
        pod = client.V1Pod(
            metadata=client.V1ObjectMeta(
                name="nb-alice", labels={"component": "singleuser-server"}
            ),
            spec=client.V1PodSpec(
                containers=[
                    client.V1Container(
                        name="notebook",
                        image="course/base:1",
                        resources=client.V1ResourceRequirements(limits={"cpu": "1"}),
                    )
                ]
            ),
        )
        created = await core.create_namespaced_pod("default", pod)
        assert created.metadata.uid and created.status.phase == "Pending"
        assert created.spec.containers[0].resources.requests == {"cpu": "1"}

        with pytest.raises(ApiException) as conflict:
            await core.create_namespaced_pod("default", pod)
        assert conflict.value.status == 409
        assert json.loads(conflict.value.body)["message"] == 'pods "nb-alice" already exists'

        pods = await core.list_namespaced_pod(
            "default", label_selector="component=singleuser-server"
        )
        assert [p.metadata.name for p in pods.items] == ["nb-alice"]
        assert pods.metadata.resource_version == server.store.resource_version

        patched = await core.patch_namespaced_pod(
            "nb-alice", "default", {"metadata": {"labels": {"course": "ai-101"}}}
        )
        assert patched.metadata.labels["course"] == "ai-101"

        await core.create_namespaced_secret(
            "default",
            client.V1Secret(
                metadata=client.V1ObjectMeta(
                    name="nb-alice-token",
                    owner_references=[
                        client.V1OwnerReference(
                            api_version="v1",
                            kind="Pod",
                            name="nb-alice",
                            uid=created.metadata.uid,
                        )
                    ],
                ),
                string_data={"token": "secret"},
            ),
        )
        _running(server.store, "nb-alice")
        status = await core.read_namespaced_pod_status("nb-alice", "default")
        assert status.status.pod_ip == "127.0.0.9"
        assert status.status.container_statuses[0].ready is True

        # What KubeSpawner.stop() sends: graceful deletion, the kubelet finishes it.
        deleting = await core.delete_namespaced_pod(
            "nb-alice",
            "default",
            body=client.V1DeleteOptions(grace_period_seconds=1),
            grace_period_seconds=1,
        )
        assert deleting.metadata.deletion_grace_period_seconds == 1
        assert (await core.read_namespaced_pod("nb-alice", "default")).metadata.deletion_timestamp
        server.store.finalize_pod("default", "nb-alice")
        with pytest.raises(ApiException) as gone:
            await core.read_namespaced_pod("nb-alice", "default")
        assert gone.value.status == 404
        assert (await core.list_namespaced_secret("default")).items == [], "owner GC"

        with pytest.raises(ApiException) as invalid:
            await core.create_namespaced_config_map(
                "default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="Not_Valid"))
            )
        assert invalid.value.status == 422
        assert "metadata.name: Invalid value" in json.loads(invalid.value.body)["message"]


async def test_watch_replays_streams_and_honours_timeout(tmp_path):
    async with running_api_server(tmp_path) as server:
        store = server.store
        start = store.resource_version
        store.create("pods", "default", _pod("a"))
        store.create("pods", "default", _pod("b", course="ml-200"))
        async with await server.api_client() as api_client:
            core = client.CoreV1Api(api_client)
            seen = []
            began = time.monotonic()
            async with watch.Watch().stream(
                core.list_namespaced_pod,
                namespace="default",
                resource_version=start,
                label_selector="course!=ml-200",
                timeout_seconds=1,
            ) as stream:
                async for event in stream:
                    seen.append((event["type"], event["object"].metadata.name))
                    if len(seen) == 1:
                        store.patch(
                            "pods", "default", "a", {"metadata": {"labels": {"x": "1"}}}, SMP
                        )
                        store.delete("pods", "default", "a")
            elapsed = time.monotonic() - began
            assert seen == [("ADDED", "a"), ("MODIFIED", "a"), ("DELETED", "a")]
            assert 0.9 < elapsed < 3, "the stream ends after timeoutSeconds"


async def test_watch_from_a_compacted_version_gets_410(tmp_path):
    async with running_api_server(tmp_path) as server:
        store = server.store
        old = store.resource_version
        store.create("pods", "default", _pod("a"))
        store.compact()
        async with await server.api_client() as api_client:
            core = client.CoreV1Api(api_client)
            with pytest.raises(ApiException) as expired:
                async with watch.Watch().stream(
                    core.list_namespaced_pod,
                    namespace="default",
                    resource_version=old,
                    timeout_seconds=2,
                ) as stream:
                    async for _ in stream:
                        pass
            assert expired.value.status == 410
        # On the wire: 200 and one ERROR event with a 410 Status, as Kubernetes answers.
        response = await AsyncHTTPClient().fetch(
            f"{server.url}/api/v1/namespaces/default/pods?watch=true&resourceVersion={old}"
        )
        event = json.loads(response.body.decode().strip())
        assert response.code == 200 and event["type"] == "ERROR"
        assert (event["object"]["code"], event["object"]["reason"]) == (410, "Expired")


async def test_kubespawner_reflectors_follow_pods_and_events(tmp_path):
    async with running_api_server(tmp_path) as server:
        store = server.store
        existing = store.create("pods", "default", _pod("nb-existing"))
        store.create("pods", "default", {**_pod("hub"), "metadata": {"name": "hub"}})
        async with await server.api_client() as api_client:
            pods = PodReflector(
                namespace="default",
                labels={"component": "singleuser-server"},
                timeout_seconds=1,
            )
            events = EventReflector(
                namespace="default", fields={"involvedObject.kind": "Pod"}, timeout_seconds=1
            )
            for reflector in (pods, events):
                reflector.api = client.CoreV1Api(api_client)  # this server, not a global config
            try:
                await pods.start()
                await events.start()
                assert set(pods.pods) == {"default/nb-existing"}

                new = store.create("pods", "default", _pod("nb-alice"))
                await _eventually(lambda: "default/nb-alice" in pods.pods)
                _running(store, "nb-alice")
                await _eventually(
                    lambda: pods.pods["default/nb-alice"]["status"].get("podIP") == "127.0.0.9"
                )
                _event(store, new, "Scheduled", "Successfully assigned default/nb-alice to cpu-1")
                await _eventually(lambda: len(events.events) == 1)
                assert events.events[0]["message"].startswith("Successfully assigned")

                # Past a watch restart (timeoutSeconds=1), changes still arrive.
                await asyncio.sleep(1.3)
                store.delete("pods", "default", "nb-alice", grace_period_seconds=0)
                store.delete("pods", "default", existing["metadata"]["name"])
                await _eventually(lambda: not pods.pods)
            finally:
                await pods.stop()
                await events.stop()
                _cancel_kubespawner_client_tasks()


def _cancel_kubespawner_client_tasks() -> None:
    """The reflectors' shared_client() starts a closer task per client; end ours."""
    for task in asyncio.all_tasks():
        if "close_client_task" in repr(task.get_coro()):
            task.cancel()


async def test_kubectl_get_describe_logs_patch_and_delete(tmp_path):
    async with running_api_server(tmp_path) as server:
        store = server.store
        store.create(
            "nodes",
            None,
            {
                "metadata": {"name": "cpu-1", "labels": {"node-role.kubernetes.io/worker": ""}},
                "status": {
                    "conditions": [{"type": "Ready", "status": "True"}],
                    "nodeInfo": {"kubeletVersion": "v1.37.0-devcluster"},
                    "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
                },
            },
        )
        pod = store.create("pods", "default", _pod("nb-alice"))
        _running(store, "nb-alice", ip="127.0.0.42")
        _event(store, pod, "Scheduled", "Successfully assigned default/nb-alice to cpu-1")
        log_file = server.log_path("default", "nb-alice", "notebook")
        log_file.parent.mkdir(parents=True)
        log_file.write_text("starting\nlistening on 127.0.0.42:8888\n")

        nodes = (await server.kubectl("get", "nodes")).stdout
        assert nodes.split("\n")[0].split() == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
        assert nodes.split("\n")[1].split()[:3] == ["cpu-1", "Ready", "worker"]

        wide = (await server.kubectl("get", "pods", "-A", "-o", "wide")).stdout.splitlines()
        assert wide[0].split()[:7] == [
            "NAMESPACE",
            "NAME",
            "READY",
            "STATUS",
            "RESTARTS",
            "AGE",
            "IP",
        ]
        row = wide[1].split()
        assert row[:4] == ["default", "nb-alice", "1/1", "Running"]
        assert "127.0.0.42" in row and "cpu-1" in row

        short = (await server.kubectl("get", "po", "-o", "name")).stdout
        assert short == "pod/nb-alice\n"
        described_node = (await server.kubectl("describe", "node", "cpu-1")).stdout
        assert "Name:               cpu-1" in described_node and "nb-alice" in described_node

        as_json = json.loads((await server.kubectl("get", "pod", "nb-alice", "-o", "json")).stdout)
        assert as_json["metadata"]["uid"] == pod["metadata"]["uid"]

        described = (await server.kubectl("describe", "pod", "nb-alice")).stdout
        assert "Status:       Running" in described
        assert "Successfully assigned default/nb-alice to cpu-1" in described

        events = (await server.kubectl("get", "events")).stdout
        assert "pod/nb-alice" in events and "Scheduled" in events

        assert (await server.kubectl("logs", "nb-alice")).stdout.endswith("127.0.0.42:8888\n")
        tail = (await server.kubectl("logs", "nb-alice", "--tail=1")).stdout
        assert tail == "listening on 127.0.0.42:8888\n"

        await server.kubectl("label", "pod", "nb-alice", "course=ai-101")
        await server.kubectl(
            "patch", "pod", "nb-alice", "--type=merge", "-p", '{"metadata":{"labels":{"m":"1"}}}'
        )
        await server.kubectl(
            "patch",
            "pod",
            "nb-alice",
            "--type=json",
            "-p",
            '[{"op":"add","path":"/metadata/labels/j","value":"2"}]',
        )
        await server.kubectl(
            "patch",
            "pod",
            "nb-alice",
            "--type=strategic",
            "-p",
            '{"spec":{"containers":[{"name":"notebook","image":"course/base:2"}]}}',
        )
        stored = store.get("pods", "default", "nb-alice")
        labels = stored["metadata"]["labels"]
        assert (labels["course"], labels["m"], labels["j"]) == ("ai-101", "1", "2")
        assert stored["spec"]["containers"][0]["image"] == "course/base:2"

        missing = await server.kubectl("get", "pod", "nope", check=False)
        assert missing.returncode != 0
        assert 'pods "nope" not found' in missing.stderr

        # kubectl delete waits until the pod is gone; the "kubelet" finishes it meanwhile.
        deleting = asyncio.create_task(server.kubectl("delete", "pod", "nb-alice"))
        await _eventually(
            lambda: "deletionTimestamp" in store.get("pods", "default", "nb-alice")["metadata"]
        )
        assert not deleting.done()
        store.finalize_pod("default", "nb-alice")
        assert 'pod "nb-alice" deleted' in (await deleting).stdout
        assert store.list("pods")[0] == []


async def test_kubectl_create_and_apply_configmaps(tmp_path):
    def manifest(name: str, data: str):
        path = tmp_path / f"{name}.yaml"
        path.write_text(
            f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata: {data}\n"
        )
        return str(path)

    async with running_api_server(tmp_path) as server:
        store = server.store
        # The dev cluster serves no OpenAPI documents, so client-side validation is off.
        await server.kubectl("create", "--validate=false", "-f", manifest("created", "{a: '1'}"))
        assert store.get("configmaps", "default", "created")["data"] == {"a": "1"}

        applied = await server.kubectl(
            "apply", "--validate=false", "-f", manifest("applied", "{a: '1'}")
        )
        assert "configmap/applied created" in applied.stdout
        applied = await server.kubectl(
            "apply", "--validate=false", "-f", manifest("applied", "{b: '2'}")
        )
        assert "configmap/applied configured" in applied.stdout
        # Client-side apply computes a patch from the last applied manifest: a goes, b comes.
        assert store.get("configmaps", "default", "applied")["data"] == {"b": "2"}

        listed = (await server.kubectl("get", "cm")).stdout.splitlines()
        assert [line.split()[:2] for line in listed] == [
            ["NAME", "DATA"],
            ["applied", "1"],
            ["created", "1"],
        ]


DENY_ALL_MANIFEST = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: grading-deny-all
spec:
  podSelector:
    matchLabels: {{coursehub.io/component: grading}}
  policyTypes: [Ingress, Egress]
  egress: {egress}
"""


async def test_kubectl_apply_get_describe_and_delete_networkpolicies(tmp_path):
    manifest = tmp_path / "netpol.yaml"
    async with running_api_server(tmp_path) as server:
        store = server.store
        groups = json.loads((await server.kubectl("get", "--raw", "/apis")).stdout)
        assert [group["name"] for group in groups["groups"]] == [
            "networking.k8s.io",
            "storage.k8s.io",
        ]
        resources = (await server.kubectl("api-resources", "--api-group=networking.k8s.io")).stdout
        assert "networkpolicies" in resources and "netpol" in resources

        manifest.write_text(DENY_ALL_MANIFEST.format(egress="[]"))
        applied = await server.kubectl("apply", "--validate=false", "-f", str(manifest))
        assert "networkpolicy.networking.k8s.io/grading-deny-all created" in applied.stdout
        stored = store.get("networkpolicies", "default", "grading-deny-all")
        assert stored["apiVersion"] == "networking.k8s.io/v1"
        assert stored["spec"]["egress"] == []

        listed = (await server.kubectl("get", "netpol")).stdout.splitlines()
        assert [line.split()[:2] for line in listed] == [
            ["NAME", "POD-SELECTOR"],
            ["grading-deny-all", "coursehub.io/component=grading"],
        ]
        described = (await server.kubectl("describe", "networkpolicy", "grading-deny-all")).stdout
        assert "coursehub.io/component=grading" in described

        # Re-applied with a DNS rule: client-side apply patches the stored object.
        manifest.write_text(
            DENY_ALL_MANIFEST.format(egress="[{ports: [{port: 53, protocol: UDP}]}]")
        )
        applied = await server.kubectl("apply", "--validate=false", "-f", str(manifest))
        assert "configured" in applied.stdout
        stored = store.get("networkpolicies", "default", "grading-deny-all")
        assert stored["spec"]["egress"] == [{"ports": [{"port": 53, "protocol": "UDP"}]}]

        as_json = json.loads(
            (await server.kubectl("get", "networkpolicy", "grading-deny-all", "-o", "json")).stdout
        )
        assert as_json["kind"] == "NetworkPolicy"

        deleted = await server.kubectl("delete", "-f", str(manifest))
        assert 'networkpolicy.networking.k8s.io "grading-deny-all" deleted' in deleted.stdout
        assert store.list("networkpolicies")[0] == []
        missing = await server.kubectl("get", "networkpolicy", "nope", check=False)
        assert 'networkpolicies.networking.k8s.io "nope" not found' in missing.stderr


async def test_networking_v1_api_crud_watch_and_deletecollection(tmp_path):
    def policy(name: str, **labels: str) -> client.V1NetworkPolicy:
        return client.V1NetworkPolicy(
            metadata=client.V1ObjectMeta(name=name, labels=labels or None),
            spec=client.V1NetworkPolicySpec(
                pod_selector=client.V1LabelSelector(
                    match_expressions=[
                        client.V1LabelSelectorRequirement(key="coursehub.io/job", operator="Exists")
                    ]
                ),
                policy_types=["Egress"],
            ),
        )

    async with running_api_server(tmp_path) as server, await server.api_client() as api_client:
        networking = client.NetworkingV1Api(api_client)
        start = server.store.resource_version
        created = await networking.create_namespaced_network_policy(
            "default", policy("deny-egress", team="grading")
        )
        assert created.metadata.uid and created.spec.policy_types == ["Egress"]
        assert created.spec.pod_selector.match_expressions[0].operator == "Exists"

        read = await networking.read_namespaced_network_policy("deny-egress", "default")
        assert read.metadata.resource_version == created.metadata.resource_version
        listed = await networking.list_network_policy_for_all_namespaces()
        assert [p.metadata.name for p in listed.items] == ["deny-egress"]

        read.spec.policy_types = ["Ingress", "Egress"]
        replaced = await networking.replace_namespaced_network_policy(
            "deny-egress", "default", read
        )
        assert replaced.spec.policy_types == ["Ingress", "Egress"]
        patched = await networking.patch_namespaced_network_policy(
            "deny-egress", "default", {"metadata": {"labels": {"patched": "yes"}}}
        )
        assert patched.metadata.labels == {"team": "grading", "patched": "yes"}

        with pytest.raises(ApiException) as invalid:
            await networking.create_namespaced_network_policy(
                "default",
                {
                    "metadata": {"name": "bad"},
                    "spec": {"podSelector": {}, "policyTypes": ["Sideways"]},
                },
            )
        assert invalid.value.status == 422
        assert json.loads(invalid.value.body)["message"] == (
            'NetworkPolicy.networking.k8s.io "bad" is invalid: spec.policyTypes[0]: '
            'Unsupported value: "Sideways": supported values: "Ingress", "Egress"'
        )

        seen = []
        async with watch.Watch().stream(
            networking.list_namespaced_network_policy,
            namespace="default",
            resource_version=start,
            timeout_seconds=1,
        ) as stream:
            async for event in stream:
                seen.append((event["type"], event["object"].kind))
        assert seen == [
            ("ADDED", "NetworkPolicy"),
            ("MODIFIED", "NetworkPolicy"),
            ("MODIFIED", "NetworkPolicy"),
        ]

        await networking.create_namespaced_network_policy("default", policy("other"))
        await networking.delete_collection_namespaced_network_policy(
            "default", label_selector="team=grading"
        )
        remaining = await networking.list_namespaced_network_policy("default")
        assert [p.metadata.name for p in remaining.items] == ["other"]
        await networking.delete_namespaced_network_policy("other", "default")
        assert (await networking.list_namespaced_network_policy("default")).items == []
