"""The dev cluster confines pods where production does: container capabilities
(``securityContext.capabilities``, ``privileged``) and deny-all-egress NetworkPolicies.

One dev cluster runs in this process for the module. Its kubelet is this process, which must
be root, as the confinement needs (a non-root kubelet leaves pods as they are). Pods run small
Python programs that report what they can do as one JSON line in their log.
Policies and pods go through the real API with kubernetes_asyncio.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from kubernetes_asyncio import client, config

from coursehub.devcluster.app import DevCluster
from coursehub.devcluster.config import load_cluster_config

pytestmark = pytest.mark.integration

NS = "sandbox"
GRADING = {"coursehub.io/component": "grading"}
CAP_SETUID, CAP_SYS_ADMIN = 1 << 7, 1 << 21
# containerd's and Docker's default set, as /proc/PID/status prints it.
RUNTIME_DEFAULT = 0xA80425FB

REPORT_CAPABILITIES = """
import ctypes, json
caps = {}
for line in open("/proc/self/status"):
    if line.startswith("Cap"):
        name, value = line.split(":")
        caps[name] = int(value, 16)
libc = ctypes.CDLL(None, use_errno=True)
unshared = libc.unshare(0x40000000)  # CLONE_NEWNET
print(json.dumps({"caps": caps, "unshare_errno": ctypes.get_errno() if unshared else 0}))
"""

REPORT_NETWORK = """
import errno, json, socket, sys

def attempt(host, port):
    sock = socket.socket()
    sock.settimeout(5)
    try:
        sock.connect((host, port))
        return "connected"
    except OSError as error:
        return errno.errorcode.get(error.errno, str(error))
    finally:
        sock.close()

own = socket.socket()
own.bind(("127.0.0.1", 0))
own.listen(1)
report = {
    "machine": attempt("127.0.0.1", int(sys.argv[1])),
    "own_loopback": attempt("127.0.0.1", own.getsockname()[1]),
    "interfaces": sorted(
        line.split(":")[0].strip() for line in open("/proc/net/dev").readlines()[2:]
    ),
}
if len(sys.argv) > 2:
    report["outside"] = attempt(sys.argv[2], 9)
print(json.dumps(report))
"""


@pytest.fixture(scope="module")
async def cluster(tmp_path_factory) -> AsyncIterator[DevCluster]:
    running = DevCluster(tmp_path_factory.mktemp("sandbox") / "state", load_cluster_config(None))
    await running.start()
    running.store.create("namespaces", None, {"metadata": {"name": NS}})
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture(scope="module")
async def api(cluster: DevCluster) -> AsyncIterator[client.ApiClient]:
    configuration = client.Configuration()
    await config.load_kube_config(
        config_file=str(cluster.kubeconfig_path), client_configuration=configuration
    )
    async with client.ApiClient(configuration) as api_client:
        yield api_client


@pytest.fixture(autouse=True)
async def no_pods_left(cluster: DevCluster) -> AsyncIterator[None]:
    """Whatever a test asserts, its pods are gone before the next one starts."""
    yield
    cluster.store.delete_collection("pods", NS, grace_period_seconds=0)
    deadline = time.monotonic() + 10
    while cluster.kubelet.runtimes and time.monotonic() < deadline:
        await asyncio.sleep(0.05)


@pytest.fixture
async def deny_all(api: client.ApiClient) -> AsyncIterator[None]:
    """The chart's grading policy: grading pods may send and receive nothing."""
    networking = client.NetworkingV1Api(api)
    await networking.create_namespaced_network_policy(
        NS,
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "grading-deny-all"},
            "spec": {
                "podSelector": {"matchLabels": GRADING},
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [],
                "egress": [],
            },
        },
    )
    yield
    await networking.delete_namespaced_network_policy("grading-deny-all", NS)


@pytest.fixture
async def listener() -> AsyncIterator[tuple[int, list[str]]]:
    """A TCP listener on the machine's 127.0.0.1; the list records who connected."""
    connected: list[str] = []

    async def accept(reader, writer):
        connected.append(writer.get_extra_info("peername")[0])
        writer.close()

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1], connected
    server.close()
    await server.wait_closed()


def python_pod(name: str, script: str, *args: str, labels=None, **container) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 1,
            "containers": [
                {
                    "name": "main",
                    "image": "python:3.11",
                    "command": ["python", "-c", script, *args],
                    **container,
                }
            ],
        },
    }


async def finished(cluster: DevCluster, name: str, timeout: float = 60) -> dict:
    """The pod once it has ended (Succeeded or Failed)."""
    deadline = time.monotonic() + timeout
    while True:
        pod = cluster.store.get("pods", NS, name)
        if pod["status"].get("phase") in ("Succeeded", "Failed"):
            return pod
        assert time.monotonic() < deadline, f"pod {name} still {pod['status'].get('phase')}"
        await asyncio.sleep(0.1)


async def pod_log(api, name: str, container: str | None = None) -> str:
    """The container's log as text (the client would parse a JSON log line into a dict)."""
    extra = {"container": container} if container else {}
    response = await client.CoreV1Api(api).read_namespaced_pod_log(
        name, NS, _preload_content=False, **extra
    )
    return await response.text()


async def run_report(cluster: DevCluster, api, manifest: dict) -> dict:
    """Run a reporting pod to its end; its JSON report."""
    name = manifest["metadata"]["name"]
    core = client.CoreV1Api(api)
    await core.create_namespaced_pod(NS, manifest)
    pod = await finished(cluster, name)
    log = await pod_log(api, name)
    await core.delete_namespaced_pod(name, NS, grace_period_seconds=0)
    assert pod["status"]["phase"] == "Succeeded", log
    return json.loads(log.strip().splitlines()[-1])


def kubelet_bounding_set() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapBnd:"):
            return int(line.split()[1], 16)
    raise AssertionError("no CapBnd in /proc/self/status")


def events_of(cluster: DevCluster, name: str) -> list[tuple[str, str, str]]:
    events, _ = cluster.store.list("events", NS, field_selector=f"involvedObject.name={name}")
    return [(e["type"], e["reason"], e["message"]) for e in events]


# ---- capabilities -------------------------------------------------------------------------


async def test_drop_all_add_setuid_leaves_exactly_setuid_and_no_unshare(cluster, api):
    report = await run_report(
        cluster,
        api,
        python_pod(
            "caps-setuid",
            REPORT_CAPABILITIES,
            securityContext={"capabilities": {"drop": ["ALL"], "add": ["SETUID"]}},
        ),
    )
    caps = report["caps"]
    assert (caps["CapBnd"], caps["CapEff"], caps["CapPrm"]) == (CAP_SETUID,) * 3
    assert (caps["CapInh"], caps["CapAmb"]) == (0, 0)
    assert report["unshare_errno"] == 1  # EPERM: no CAP_SYS_ADMIN


async def test_added_sys_admin_lets_the_pod_unshare(cluster, api):
    report = await run_report(
        cluster,
        api,
        python_pod(
            "caps-sys-admin",
            REPORT_CAPABILITIES,
            securityContext={"capabilities": {"add": ["CAP_SYS_ADMIN"]}},
        ),
    )
    assert report["caps"]["CapEff"] == (RUNTIME_DEFAULT | CAP_SYS_ADMIN) & kubelet_bounding_set()
    assert report["unshare_errno"] == 0


async def test_a_pod_without_security_context_gets_the_runtime_default_set(cluster, api):
    report = await run_report(cluster, api, python_pod("caps-default", REPORT_CAPABILITIES))
    assert report["caps"]["CapBnd"] == RUNTIME_DEFAULT & kubelet_bounding_set()
    assert report["caps"]["CapEff"] == report["caps"]["CapBnd"]
    assert report["unshare_errno"] == 1


async def test_a_privileged_pod_keeps_everything_the_kubelet_has(cluster, api):
    report = await run_report(
        cluster,
        api,
        python_pod("caps-privileged", REPORT_CAPABILITIES, securityContext={"privileged": True}),
    )
    assert report["caps"]["CapBnd"] == kubelet_bounding_set()
    assert report["caps"]["CapEff"] == kubelet_bounding_set()


async def test_an_unknown_capability_fails_the_pod_naming_the_field(cluster, api):
    core = client.CoreV1Api(api)
    manifest = python_pod(
        "caps-unknown",
        "print('never runs')",
        securityContext={"capabilities": {"add": ["SETUID", "FLY"]}},
    )
    await core.create_namespaced_pod(NS, manifest)
    pod = await finished(cluster, "caps-unknown")
    terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    expected = (
        "spec.containers[0].securityContext.capabilities.add[1]: "
        'Unsupported value: "FLY": not a Linux capability'
    )
    assert pod["status"]["phase"] == "Failed" and expected in terminated["message"]
    assert any(expected in message for _, _, message in events_of(cluster, "caps-unknown"))
    assert await pod_log(api, "caps-unknown") == ""
    await core.delete_namespaced_pod("caps-unknown", NS, grace_period_seconds=0)


# ---- network policy -----------------------------------------------------------------------


async def test_a_pod_selected_by_deny_all_reaches_nothing_but_its_own_loopback(
    cluster, api, deny_all, listener
):
    port, connected = listener
    report = await run_report(
        cluster,
        api,
        python_pod("net-isolated", REPORT_NETWORK, str(port), "10.255.255.1", labels=GRADING),
    )
    assert report["machine"] == "ECONNREFUSED"  # its 127.0.0.1 is not the machine's
    assert report["outside"] == "ENETUNREACH"
    assert report["own_loopback"] == "connected"
    assert report["interfaces"] == ["lo"]
    assert connected == []
    assert any(
        reason == "NetworkIsolated" and '"grading-deny-all"' in message
        for _, reason, message in events_of(cluster, "net-isolated")
    )


async def test_a_pod_the_policy_does_not_select_keeps_the_network(cluster, api, deny_all, listener):
    port, connected = listener
    report = await run_report(
        cluster,
        api,
        python_pod("net-open", REPORT_NETWORK, str(port), labels={"component": "notebook"}),
    )
    assert report["machine"] == "connected" and connected == ["127.0.0.1"]
    machine_interfaces = sorted(
        line.split(":")[0].strip() for line in Path("/proc/net/dev").read_text().splitlines()[2:]
    )
    assert report["interfaces"] == machine_interfaces


async def test_a_policy_applies_to_pods_started_after_it(cluster, api, listener):
    """The kubelet decides at pod start: a running pod keeps the network it started with."""
    port, connected = listener
    core = client.CoreV1Api(api)
    late = "import sys, time; time.sleep(2)\n" + REPORT_NETWORK
    await core.create_namespaced_pod(NS, python_pod("net-early", late, str(port), labels=GRADING))
    deadline = time.monotonic() + 30
    while cluster.store.get("pods", NS, "net-early")["status"].get("phase") != "Running":
        assert time.monotonic() < deadline, "net-early never ran"
        await asyncio.sleep(0.05)
    networking = client.NetworkingV1Api(api)
    await networking.create_namespaced_network_policy(
        NS,
        {
            "metadata": {"name": "late-deny-all"},
            "spec": {"podSelector": {}, "policyTypes": ["Egress"]},
        },
    )
    try:
        await finished(cluster, "net-early")
        early = json.loads((await pod_log(api, "net-early")).strip().splitlines()[-1])
        later = await run_report(
            cluster, api, python_pod("net-later", REPORT_NETWORK, str(port), labels=GRADING)
        )
    finally:
        await networking.delete_namespaced_network_policy("late-deny-all", NS)
    assert early["machine"] == "connected" and connected == ["127.0.0.1"]
    assert later["machine"] == "ECONNREFUSED" and later["interfaces"] == ["lo"]


async def test_nothing_reaches_an_isolated_pod_but_the_kubelets_probe(cluster, api, deny_all):
    core = client.CoreV1Api(api)
    serve = (
        "import os, socket, time\n"
        "s = socket.socket(); s.bind((os.environ['POD_IP'], 8080)); s.listen(8)\n"
        "while True: s.accept()[0].close()\n"
    )
    manifest = python_pod(
        "net-server",
        serve,
        labels=GRADING,
        ports=[{"containerPort": 8080}],
        env=[{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
    )
    await core.create_namespaced_pod(NS, manifest)
    deadline = time.monotonic() + 60
    while True:  # ready: the kubelet's probe reached the port inside the pod's namespace
        pod = cluster.store.get("pods", NS, "net-server")
        statuses = pod["status"].get("containerStatuses") or []
        if statuses and statuses[0]["ready"]:
            break
        assert pod["status"].get("phase") in ("Pending", "Running"), pod["status"]
        assert time.monotonic() < deadline, "the isolated pod never became ready"
        await asyncio.sleep(0.2)
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection(pod["status"]["podIP"], 8080)
    await core.delete_namespaced_pod("net-server", NS, grace_period_seconds=0)


async def test_containers_of_an_isolated_pod_share_one_loopback(cluster, api, deny_all):
    core = client.CoreV1Api(api)
    server = (
        "import socket\n"
        "s = socket.socket(); s.bind(('127.0.0.1', 7000)); s.listen(1)\n"
        "s.accept()[0].sendall(b'hello from server')\n"
    )
    reader = (
        "import socket, time\n"
        "for _ in range(100):\n"
        "    try:\n"
        "        c = socket.create_connection(('127.0.0.1', 7000)); break\n"
        "    except OSError:\n"
        "        time.sleep(0.1)\n"
        "print(c.recv(100).decode())\n"
    )
    manifest = python_pod("net-pair", server, labels=GRADING)
    manifest["spec"]["containers"].append(
        {"name": "reader", "image": "python:3.11", "command": ["python", "-c", reader]}
    )
    await core.create_namespaced_pod(NS, manifest)
    pod = await finished(cluster, "net-pair")
    log = await pod_log(api, "net-pair", "reader")
    await core.delete_namespaced_pod("net-pair", NS, grace_period_seconds=0)
    assert pod["status"]["phase"] == "Succeeded" and log == "hello from server\n"


async def test_without_the_right_to_isolate_the_kubelet_refuses_the_pod(cluster, api, deny_all):
    """Fail closed: a pod the policy cuts off never runs with the machine's network."""
    core = client.CoreV1Api(api)
    cluster.kubelet.can_isolate_network = False
    try:
        await core.create_namespaced_pod(
            NS, python_pod("net-refused", "print('ran')", labels=GRADING)
        )
        pod = await finished(cluster, "net-refused")
    finally:
        cluster.kubelet.can_isolate_network = True
    assert pod["status"]["phase"] == "Failed"
    terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert "not started rather than started with network access" in terminated["message"]
    [(kind, reason, message)] = [
        event for event in events_of(cluster, "net-refused") if event[0] == "Warning"
    ]
    assert (kind, reason) == ("Warning", "FailedCreatePodSandBox")
    assert message.startswith('Failed to create pod sandbox: NetworkPolicy "grading-deny-all"')
    assert "CAP_SYS_ADMIN" in message
    assert await pod_log(api, "net-refused") == ""
    await core.delete_namespaced_pod("net-refused", NS, grace_period_seconds=0)


# ---- egress to one address and port (the grading pods' way to the service) -----------------

REPORT_EGRESS = """
import errno, json, socket, sys

def exchange(port):
    sock = socket.socket()
    sock.settimeout(5)
    try:
        sock.connect(("127.0.0.1", port))
        sock.sendall(b"ping")
        return sock.recv(100).decode()
    except OSError as error:
        return errno.errorcode.get(error.errno, str(error))
    finally:
        sock.close()

print(json.dumps({
    "allowed": exchange(int(sys.argv[1])),
    "other": exchange(int(sys.argv[2])),
}))
"""


async def test_a_pod_allowed_one_address_and_port_reaches_that_and_nothing_else(
    cluster, api, listener
):
    """What ``coursehub dev`` gives grading pods: egress to the service's address and port
    only. The bytes go both ways through the kubelet's relay; another port of the same
    address refuses, and the machine's listener there never sees a connection."""
    other_port, other_connected = listener

    async def echo(reader, writer):
        writer.write(b"pong:" + await reader.read(4))
        await writer.drain()
        writer.close()

    service = await asyncio.start_server(echo, "127.0.0.1", 0)
    port = service.sockets[0].getsockname()[1]
    networking = client.NetworkingV1Api(api)
    await networking.create_namespaced_network_policy(
        NS,
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "grading-to-service"},
            "spec": {
                "podSelector": {"matchLabels": GRADING},
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [],
                "egress": [
                    {
                        "to": [{"ipBlock": {"cidr": "127.0.0.1/32"}}],
                        "ports": [{"protocol": "TCP", "port": port}],
                    }
                ],
            },
        },
    )
    try:
        report = await run_report(
            cluster,
            api,
            python_pod("net-to-service", REPORT_EGRESS, str(port), str(other_port), labels=GRADING),
        )
    finally:
        await networking.delete_namespaced_network_policy("grading-to-service", NS)
        service.close()
    assert report == {"allowed": "pong:ping", "other": "ECONNREFUSED"}
    assert other_connected == []
    assert any(
        reason == "NetworkIsolated" and f"egress to 127.0.0.1:{port} only" in message
        for _, reason, message in events_of(cluster, "net-to-service")
    )
