"""The dev cluster's node half end to end: ``coursehub devcluster up`` as a subprocess,
driven over real HTTP with kubernetes_asyncio and the real kubectl.

One cluster serves the module (``devcluster``); the last tests stop it with SIGTERM and
start a second one to SIGKILL. Pods run small Python programs from this environment.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.exceptions import ApiException

REPO_ROOT = Path(__file__).resolve().parents[2]
KUBECTL = REPO_ROOT / ".venv" / "bin" / "kubectl"
NS = "default"
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
A100 = {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"}


@dataclass
class Running:
    process: subprocess.Popen
    state_dir: Path
    api: client.ApiClient
    core: client.CoreV1Api

    @property
    def kubeconfig(self) -> Path:
        return self.state_dir / "kubeconfig"

    def kubectl(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(KUBECTL), "--kubeconfig", str(self.kubeconfig), *args],
            capture_output=True,
            text=True,
            timeout=20,
        )


@contextlib.asynccontextmanager
async def devcluster_process(state_dir: Path) -> AsyncIterator[Running]:
    """``coursehub devcluster up`` until its kubeconfig appears; killed on exit if still up."""
    log = open(state_dir.parent / f"{state_dir.name}.log", "wb")  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-m", "coursehub", "devcluster", "up", "--state-dir", str(state_dir)],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=REPO_ROOT,
    )
    api = None
    try:
        deadline = time.monotonic() + 20
        while not (state_dir / "kubeconfig").exists():
            assert process.poll() is None, "the dev cluster exited while starting"
            assert time.monotonic() < deadline, "no kubeconfig after 20 s"
            await asyncio.sleep(0.05)
        configuration = client.Configuration()
        await config.load_kube_config(
            config_file=str(state_dir / "kubeconfig"), client_configuration=configuration
        )
        api = client.ApiClient(configuration)
        yield Running(process, state_dir, api, client.CoreV1Api(api))
    finally:
        if api is not None:
            await api.close()
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()


@pytest.fixture(scope="module")
async def devcluster(tmp_path_factory) -> AsyncIterator[Running]:
    async with devcluster_process(tmp_path_factory.mktemp("nodes") / "state") as running:
        yield running


def python_pod(name: str, script: str, **spec) -> dict:
    """A pod whose one container runs ``python -c script``; extra keys go to the container
    (``env``, ``ports``, ``resources``, ``volumeMounts``) or the pod spec."""
    container_keys = {"env", "ports", "resources", "volumeMounts"}
    container = {
        "name": "main",
        "image": "python:3.11",
        "command": ["python", "-c", script],
        **{k: v for k, v in spec.items() if k in container_keys},
    }
    pod_spec = {
        "restartPolicy": "Never",
        "containers": [container],
        **{k: v for k, v in spec.items() if k not in container_keys},
    }
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": pod_spec}


def gpu_pod(name: str) -> dict:
    script = (
        "import os, time; print(os.environ['NVIDIA_VISIBLE_DEVICES'], flush=True); time.sleep(600)"
    )
    return python_pod(
        name,
        script,
        resources={"limits": {"nvidia.com/gpu": "1"}},
        tolerations=[GPU_TOLERATION],
        nodeSelector=A100,
    )


async def wait_for(check, timeout: float = 15, interval: float = 0.1):
    """Poll ``await check()`` until it returns something truthy; that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {check.__name__}")
        await asyncio.sleep(interval)


async def wait_for_pod(core, name: str, predicate, timeout: float = 15):
    async def pod_matches():
        pod = await core.read_namespaced_pod(name, NS)
        return pod if predicate(pod) else None

    pod_matches.__name__ = f"pod {name}"
    return await wait_for(pod_matches, timeout)


async def wait_gone(core, name: str, timeout: float = 15) -> None:
    async def gone():
        try:
            await core.read_namespaced_pod(name, NS)
        except ApiException as error:
            return error.status == 404
        return False

    gone.__name__ = f"pod {name} removed"
    await wait_for(gone, timeout)


async def log_line(running: Running, name: str, text: str, timeout: float = 15) -> str:
    """The pod's log (through ``kubectl logs``) once it contains ``text``."""

    async def logs():
        result = running.kubectl("logs", name)
        return result.stdout if text in result.stdout else None

    logs.__name__ = f"{text!r} in the log of {name}"
    return await wait_for(logs, timeout, interval=0.2)


def is_running(phase: str):
    return lambda pod: pod.status.phase == phase


def ready(pod) -> bool:
    statuses = pod.status.container_statuses or []
    return pod.status.phase == "Running" and bool(statuses) and statuses[0].ready


def alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie left to init counts as dead)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")


async def test_kubectl_lists_the_default_storage_class(devcluster):
    listed = devcluster.kubectl("get", "storageclass")
    assert listed.returncode == 0, listed.stderr
    header, row = listed.stdout.splitlines()
    assert header.split()[:5] == [
        "NAME",
        "PROVISIONER",
        "RECLAIMPOLICY",
        "VOLUMEBINDINGMODE",
        "ALLOWVOLUMEEXPANSION",
    ]
    assert row.split()[:3] == ["standard", "(default)", "coursehub.dev/folder"]
    got = devcluster.kubectl("get", "sc", "standard", "-o", "json")
    assert got.returncode == 0, got.stderr
    annotations = json.loads(got.stdout)["metadata"]["annotations"]
    assert annotations == {"storageclass.kubernetes.io/is-default-class": "true"}
    storage = client.StorageV1Api(devcluster.api)
    classes = await storage.list_storage_class()
    assert [item.metadata.name for item in classes.items] == ["standard"]


async def test_http_pod_on_its_own_ip_gets_ready_and_env_from_a_secret(devcluster):
    core = devcluster.core
    await core.create_namespaced_secret(
        NS, {"metadata": {"name": "creds"}, "data": {"token": base64.b64encode(b"s3cr3t").decode()}}
    )
    script = (
        "import http.server, os\n"
        "print('token', os.environ['TOKEN'], flush=True)\n"
        "http.server.HTTPServer((os.environ['POD_IP'], 8888), "
        "http.server.SimpleHTTPRequestHandler).serve_forever()\n"
    )
    env = [
        {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}},
    ]
    await core.create_namespaced_pod(
        NS, python_pod("web", script, env=env, ports=[{"containerPort": 8888}])
    )
    pod = await wait_for_pod(core, "web", ready)
    assert pod.spec.node_name == "cpu-node-1"
    assert pod.status.pod_ip.startswith("127.42.") and pod.status.pod_ip != "127.0.0.1"
    with urllib.request.urlopen(f"http://{pod.status.pod_ip}:8888/", timeout=5) as response:
        assert response.status == 200
    assert "token s3cr3t" in await log_line(devcluster, "web", "token")
    await core.delete_namespaced_pod("web", NS, grace_period_seconds=1)
    await wait_gone(core, "web")


async def test_four_gpu_pods_run_and_a_fifth_waits_until_one_is_deleted(devcluster):
    core = devcluster.core
    names = [f"gpu-{i}" for i in range(4)]
    for name in names:
        await core.create_namespaced_pod(NS, gpu_pod(name))
    devices = set()
    for name in names:
        pod = await wait_for_pod(core, name, is_running("Running"))
        assert pod.spec.node_name in ("gpu-a100-1", "gpu-a100-2")
        devices.add((await log_line(devcluster, name, "GPU-")).strip())
    assert len(devices) == 4  # each pod sees its own device

    await core.create_namespaced_pod(NS, gpu_pod("gpu-fifth"))

    async def failed_scheduling():
        events = await core.list_namespaced_event(
            NS, field_selector="involvedObject.name=gpu-fifth"
        )
        return [e for e in events.items if e.reason == "FailedScheduling"]

    (event,) = await wait_for(failed_scheduling)
    assert event.type == "Warning"
    assert event.message == (
        "0/4 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, "
        "3 Insufficient nvidia.com/gpu. preemption: 0/4 nodes are available: "
        "1 Preemption is not helpful for scheduling, "
        "3 No preemption victims found for incoming pod."
    )
    pending = await core.read_namespaced_pod("gpu-fifth", NS)
    assert pending.status.phase == "Pending" and not pending.spec.node_name
    scheduled = {c.type: c for c in pending.status.conditions}["PodScheduled"]
    assert (scheduled.status, scheduled.reason) == ("False", "Unschedulable")

    await core.delete_namespaced_pod("gpu-0", NS, grace_period_seconds=1)
    fifth = await wait_for_pod(core, "gpu-fifth", is_running("Running"))
    assert fifth.spec.node_name in ("gpu-a100-1", "gpu-a100-2")
    for name in [*names[1:], "gpu-fifth"]:
        await core.delete_namespaced_pod(name, NS, grace_period_seconds=0)
    for name in [*names[1:], "gpu-fifth"]:
        await wait_gone(core, name)


async def test_graceful_deletion_sends_sigterm_then_sigkill(devcluster):
    core = devcluster.core
    polite = (
        "import os, signal, sys, time\n"
        "def bye(*_):\n    print('got SIGTERM', flush=True); sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, bye)\n"
        "print('pid', os.getpid(), flush=True)\n"
        "time.sleep(600)\n"
    )
    stubborn = (
        "import os, signal, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "print('pid', os.getpid(), flush=True)\n"
        "time.sleep(600)\n"
    )
    await core.create_namespaced_pod(NS, python_pod("polite", polite))
    await core.create_namespaced_pod(NS, python_pod("stubborn", stubborn))
    pids = {}
    for name in ("polite", "stubborn"):
        log = await log_line(devcluster, name, "pid ")
        pids[name] = int(log.split()[1])

    started = time.monotonic()
    await core.delete_namespaced_pod("polite", NS, grace_period_seconds=20)
    await wait_gone(core, "polite")
    assert time.monotonic() - started < 5  # it left on SIGTERM, not after the grace period
    # The log file outlives the pod object (kubectl cannot read it any more).
    log_file = devcluster.state_dir / "devcluster" / "pods" / NS / "polite" / "main.log"
    assert "got SIGTERM" in log_file.read_text()
    assert not alive(pids["polite"])

    started = time.monotonic()
    await core.delete_namespaced_pod("stubborn", NS, grace_period_seconds=2)
    marked = await core.read_namespaced_pod("stubborn", NS)
    assert marked.metadata.deletion_timestamp is not None
    await wait_gone(core, "stubborn")
    assert 1.8 <= time.monotonic() - started < 6  # killed once the grace period ran out
    assert not alive(pids["stubborn"])


async def test_exit_code_3_fails_the_pod_and_logs_are_served(devcluster):
    core = devcluster.core
    await core.create_namespaced_pod(
        NS, python_pod("exit3", "print('about to fail', flush=True); raise SystemExit(3)")
    )
    pod = await wait_for_pod(core, "exit3", is_running("Failed"))
    terminated = pod.status.container_statuses[0].state.terminated
    assert (terminated.exit_code, terminated.reason) == (3, "Error")
    assert devcluster.kubectl("logs", "exit3").stdout == "about to fail\n"
    get = devcluster.kubectl("get", "pod", "exit3", "-o", "jsonpath={.status.phase}")
    assert get.stdout == "Failed"
    await core.delete_namespaced_pod("exit3", NS)
    await wait_gone(core, "exit3")
    # A new pod of the same name starts with a log of its own.
    await core.create_namespaced_pod(NS, python_pod("exit3", "print('second pod')"))
    await wait_for_pod(core, "exit3", is_running("Succeeded"))
    assert devcluster.kubectl("logs", "exit3").stdout == "second pod\n"
    await core.delete_namespaced_pod("exit3", NS)


async def test_a_command_that_does_not_exist_fails_the_pod_with_start_error(devcluster):
    core = devcluster.core
    pod = python_pod("no-binary", "")
    pod["spec"]["containers"][0]["command"] = ["no-such-binary-coursehub"]
    await core.create_namespaced_pod(NS, pod)
    failed = await wait_for_pod(core, "no-binary", is_running("Failed"))
    terminated = failed.status.container_statuses[0].state.terminated
    assert (terminated.exit_code, terminated.reason) == (128, "StartError")
    assert "no-such-binary-coursehub" in terminated.message
    await core.delete_namespaced_pod("no-binary", NS)


async def test_pod_with_a_missing_secret_waits_and_starts_once_it_exists(devcluster):
    core = devcluster.core
    env = [{"name": "LATE", "valueFrom": {"secretKeyRef": {"name": "late", "key": "value"}}}]
    await core.create_namespaced_pod(
        NS, python_pod("waits", "import os; print('late', os.environ['LATE'])", env=env)
    )

    def config_error(pod) -> bool:
        statuses = pod.status.container_statuses or []
        return (
            bool(statuses)
            and bool(statuses[0].state.waiting)
            and (statuses[0].state.waiting.reason == "CreateContainerConfigError")
        )

    pod = await wait_for_pod(core, "waits", config_error)
    assert pod.status.phase == "Pending"
    assert 'secret "late" not found' in pod.status.container_statuses[0].state.waiting.message
    await core.create_namespaced_secret(
        NS, {"metadata": {"name": "late"}, "stringData": {"value": "here"}}
    )
    await wait_for_pod(core, "waits", is_running("Succeeded"))
    assert "late here" in devcluster.kubectl("logs", "waits").stdout
    await core.delete_namespaced_pod("waits", NS)


async def test_a_claim_keeps_files_from_one_pod_to_the_next(devcluster):
    core = devcluster.core
    await core.create_namespaced_persistent_volume_claim(
        NS,
        {
            "metadata": {"name": "home-ada"},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Gi"}},
            },
        },
    )
    volume = {
        "volumes": [{"name": "home", "persistentVolumeClaim": {"claimName": "home-ada"}}],
        "volumeMounts": [{"name": "home", "mountPath": "/home/jovyan"}],
    }
    writer = "open('note.txt', 'w').write('kept across pods')"
    await core.create_namespaced_pod(NS, python_pod("writer", writer, **volume))
    await wait_for_pod(core, "writer", is_running("Succeeded"))
    reader = "print(open('note.txt').read())"
    await core.create_namespaced_pod(NS, python_pod("reader", reader, **volume))
    await wait_for_pod(core, "reader", is_running("Succeeded"))
    assert devcluster.kubectl("logs", "reader").stdout == "kept across pods\n"
    for name in ("writer", "reader"):
        await core.delete_namespaced_pod(name, NS)


async def test_sigterm_stops_the_cluster_and_every_pod_process(devcluster):
    core = devcluster.core
    sleeper = "import os, time; print('pid', os.getpid(), flush=True); time.sleep(600)"
    await core.create_namespaced_pod(NS, python_pod("left-running", sleeper))
    await core.create_namespaced_pod(NS, gpu_pod("gpu-left-running"))
    pid = int((await log_line(devcluster, "left-running", "pid ")).split()[1])
    await wait_for_pod(core, "gpu-left-running", is_running("Running"))
    assert alive(pid)
    devcluster.process.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(devcluster.process.wait, 15) == 0
    assert not alive(pid)
    assert not (devcluster.state_dir / "devcluster.json").exists()


async def test_pod_processes_die_with_a_killed_cluster(tmp_path):
    async with devcluster_process(tmp_path / "state") as running:
        sleeper = "import os, time; print('pid', os.getpid(), flush=True); time.sleep(600)"
        await running.core.create_namespaced_pod(NS, python_pod("orphan", sleeper))
        pid = int((await log_line(running, "orphan", "pid ")).split()[1])
        assert alive(pid)
        running.process.send_signal(signal.SIGKILL)
        await asyncio.to_thread(running.process.wait, 10)

        async def pod_process_gone():
            return not alive(pid)

        await wait_for(pod_process_gone, timeout=5)


def test_a_bad_cluster_file_exits_2_naming_file_line_and_field(tmp_path):
    bad = tmp_path / "cluster.yaml"
    bad.write_text("nodes:\n  - name: a\n    allocatable: {cpu: lots, memory: 8Gi}\n")
    result = subprocess.run(
        [sys.executable, "-m", "coursehub", "devcluster", "up", "--state-dir", str(tmp_path),
         "--config", str(bad)],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=REPO_ROOT,
    )  # fmt: skip
    assert result.returncode == 2
    assert f"{bad}:3: nodes[0].allocatable.cpu: 'lots' is not a Kubernetes quantity" in (
        result.stderr
    )
    assert not (tmp_path / "kubeconfig").exists()
