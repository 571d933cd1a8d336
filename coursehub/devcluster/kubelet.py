"""The dev cluster's kubelet: runs every pod bound to a node as local processes.

For each bound pod it gives the pod its own loopback address (``127.42.x.y``), assigns GPU
devices from the node's pool (``NVIDIA_VISIBLE_DEVICES``, as the NVIDIA device plugin
does), lays out a root folder whose mount points are links to the volumes (a PVC is the
folder ``<state>/devcluster/volumes/<namespace>/<claim>``), starts each container's command
in its own process group with the pod's environment, and reports status like a kubelet:
Pending → Running (ready once the container answers on its port or readiness probe) →
Succeeded/Failed with the exit code. Deleting a pod sends SIGTERM, then SIGKILL after the
grace period, before the pod object goes away.

Where production confines pods, so does it (each in the forked child before ``exec``):

- capabilities: when the kubelet runs as root, each container keeps only what its
  ``securityContext`` gives it (``capabilities.py``); a non-root kubelet changes nothing;
- network: a pod that NetworkPolicies leave no egress at all, decided when it starts
  (``netpolicy.py``), runs in a network namespace of its own with only loopback
  (``netns.py``); if the kubelet cannot make one, the pod is refused, never run open;
- files: as root, each container runs in a mount namespace of its own in which this
  machine's Python is readable by every user, as an image's files are (``imagefs.py``).

Not done locally: images (every container runs from this machine's Python environment),
read-only mounts, resource limits on processes (grading pods confine their own processes:
``coursehub.grading.sandbox``), other NetworkPolicies, restarts (a container that exits ends
the pod, whatever ``restartPolicy`` says).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ipaddress
import logging
import os
import random
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from coursehub.devcluster import capabilities, gpu_load, netns
from coursehub.devcluster.capabilities import CapabilityError, container_capabilities
from coursehub.devcluster.config import ClusterConfig
from coursehub.devcluster.egress import EgressRelays
from coursehub.devcluster.errors import ApiError
from coursehub.devcluster.events import EventRecorder
from coursehub.devcluster.imagefs import enter_image_filesystem
from coursehub.devcluster.netpolicy import pod_network
from coursehub.devcluster.podenv import (
    DEFAULT_WORKING_DIR,
    GPU_ENV,
    EnvError,
    container_argv,
    container_env,
    device_ids,
    mount_plan,
)
from coursehub.devcluster.scheduler import pod_requests
from coursehub.devcluster.store import now_rfc3339
from coursehub.linux import PR_SET_PDEATHSIG, prctl

log = logging.getLogger("coursehub.devcluster.kubelet")

HOST_IP = "127.0.0.1"
POD_NETWORK = ipaddress.ip_network("127.42.0.0/16")
PROBE_INTERVAL = 0.25
RETRY_SECONDS = 2.0


class AddressPool:
    """Pod IPs from 127.42.0.0/16, handed out round-robin so a freed address is not
    reused at once (a stale proxy route must not reach the next pod).

    Several dev clusters may run on one machine (a developer's and a test run's): each
    starts at a random place in the range and skips addresses some socket on the machine
    already uses, so two clusters' pods do not share an address and port.
    """

    def __init__(
        self,
        network: ipaddress.IPv4Network = POD_NETWORK,
        in_use: Callable[[], set[str]] | None = None,
        start: int | None = None,
    ):
        self._hosts = [str(ip) for ip in network.hosts()][1:]  # .0.1 stays unused
        self._next = random.randrange(len(self._hosts)) if start is None else start
        self._used: set[str] = set()
        self._in_use = in_use or local_addresses_in_use

    def take(self) -> str:
        busy = self._in_use()
        for _ in range(len(self._hosts)):
            ip = self._hosts[self._next]
            self._next = (self._next + 1) % len(self._hosts)
            if ip not in self._used and ip not in busy:
                self._used.add(ip)
                return ip
        raise RuntimeError("the pod network 127.42.0.0/16 is full")

    def give_back(self, ip: str | None) -> None:
        self._used.discard(ip)


def local_addresses_in_use() -> set[str]:
    """IPv4 addresses of this machine's TCP sockets (from /proc/net/tcp; empty elsewhere)."""
    try:
        lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return set()
    addresses = set()
    for line in lines:
        local = line.split()[1].split(":")[0]  # little-endian hex, e.g. 0200A87F
        addresses.add(str(ipaddress.IPv4Address(int(local, 16).to_bytes(4, "little"))))
    return addresses


class DevicePool:
    """Device indices per (node, extended resource), like the device plugin's allocator."""

    def __init__(self):
        self._taken: dict[tuple[str, str], set[int]] = {}

    def take(self, node: str, resource: str, count: int) -> list[int]:
        taken = self._taken.setdefault((node, resource), set())
        chosen = []
        index = 0
        while len(chosen) < count:
            if index not in taken:
                chosen.append(index)
            index += 1
        taken.update(chosen)
        return chosen

    def taken(self, node: str, resource: str) -> int:
        return len(self._taken.get((node, resource), ()))

    def give_back(self, node: str, resource: str, indices: list[int]) -> None:
        self._taken.get((node, resource), set()).difference_update(indices)


@dataclass
class PodRuntime:
    """What the kubelet holds for one running pod."""

    namespace: str
    name: str
    uid: str
    node: str
    ip: str | None = None
    devices: dict[str, list[int]] = field(default_factory=dict)
    processes: dict[str, asyncio.subprocess.Process] = field(default_factory=dict)
    task: asyncio.Task | None = None
    terminating: bool = False
    ended: bool = False
    netns_fd: int | None = None  # the pod's own network namespace, when policy isolates it
    relays: EgressRelays | None = None  # the egress its policies allow out of that namespace


class PodStartRefused(Exception):
    """The pod must not start: ``reason`` and ``message`` for its event and status."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


class Kubelet:
    """Runs the pods the scheduler binds; one kubelet serves every node of the cluster."""

    def __init__(
        self,
        store,
        events: EventRecorder,
        config: ClusterConfig,
        state_dir: Path,
        api_host: str,
        api_port: int,
    ):
        self.store = store
        self.events = events
        self.config = config
        self.state_dir = state_dir
        self.pods_dir = state_dir / "devcluster" / "pods"
        self.volumes_dir = state_dir / "devcluster" / "volumes"
        self.api_host, self.api_port = api_host, api_port
        self.addresses = AddressPool()
        self.devices = DevicePool()
        self.runtimes: dict[str, PodRuntime] = {}
        self._tasks: set[asyncio.Task] = set()
        # Pods get at most what this process has; only a root kubelet confines them.
        own = capabilities.kubelet_sets()
        self.bounding_set = own.bounding
        self.confines_capabilities = os.geteuid() == 0
        self.can_isolate_network = own.has("SYS_ADMIN", "NET_ADMIN")
        store.add_listener(self._on_change)

    # ----- paths -------------------------------------------------------------------------

    def pod_dir(self, namespace: str, name: str) -> Path:
        return self.pods_dir / namespace / name

    def log_path(self, namespace: str, pod: str, container: str) -> Path:
        return self.pod_dir(namespace, pod) / f"{container}.log"

    # ----- reacting to the store ---------------------------------------------------------

    def _on_change(self, event_type: str, plural: str, pod: dict) -> None:
        if plural != "pods":
            return
        uid = pod["metadata"]["uid"]
        runtime = self.runtimes.get(uid)
        if event_type == "DELETED":
            if runtime is not None:  # removed outright (force delete): kill at once
                self._spawn(self._terminate(runtime, grace=0, finalize=False))
            self.events.forget(uid)
            return
        if pod["metadata"].get("deletionTimestamp"):
            if runtime is None:
                self._finalize(pod["metadata"]["namespace"], pod["metadata"]["name"])
            elif not runtime.terminating:
                grace = pod["metadata"].get("deletionGracePeriodSeconds", 30)
                self._spawn(self._terminate(runtime, grace=grace, finalize=True))
            return
        node = pod["spec"].get("nodeName")
        phase = pod.get("status", {}).get("phase", "Pending")
        if node and runtime is None and phase == "Pending":
            runtime = PodRuntime(pod["metadata"]["namespace"], pod["metadata"]["name"], uid, node)
            self.runtimes[uid] = runtime
            runtime.task = self._spawn(self._run_pod(runtime))

    def _spawn(self, coroutine) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _lookup(self, kind: str, namespace: str, name: str) -> dict | None:
        try:
            return self.store.get(kind, namespace, name)
        except ApiError:
            return None

    def _patch_status(self, runtime: PodRuntime, status: dict) -> dict | None:
        try:
            return self.store.patch(
                "pods",
                runtime.namespace,
                runtime.name,
                {"status": status},
                "application/merge-patch+json",
                subresource="status",
            )
        except ApiError:
            return None  # the pod is gone

    def _record(self, runtime: PodRuntime, reason: str, message: str, type="Normal") -> None:
        pod = self._lookup("pods", runtime.namespace, runtime.name)
        if pod is not None and pod["metadata"]["uid"] == runtime.uid:
            self.events.record(pod, reason, message, type=type)

    def _finalize(self, namespace: str, name: str) -> None:
        with contextlib.suppress(ApiError):
            self.store.finalize_pod(namespace, name)

    # ----- a pod's life ------------------------------------------------------------------

    async def _run_pod(self, runtime: PodRuntime) -> None:
        pod = self._lookup("pods", runtime.namespace, runtime.name)
        if pod is None or pod["metadata"]["uid"] != runtime.uid:
            return
        if not await self._wait_for_claims(runtime, pod):
            return
        if not await self._wait_for_devices(runtime, pod):
            return
        runtime.ip = self.addresses.take()
        self._assign_devices(runtime, pod)
        containers = pod["spec"]["containers"]
        launches = await self._prepare_all(runtime, pod)
        if launches is None:
            return
        started = now_rfc3339()
        try:
            child_setups = self._sandbox(runtime, pod)
            if runtime.relays is not None:
                await runtime.relays.serve()
        except PodStartRefused as refused:
            await self._fail_start(runtime, containers, started, refused)
            return
        for container, (argv, env, cwd), child_setup in zip(
            containers, launches, child_setups, strict=True
        ):
            self._record(
                runtime,
                "Pulled",
                f'Container image "{container.get("image")}" already present on machine',
            )
            try:
                runtime.processes[container["name"]] = await self._start_process(
                    runtime, container["name"], argv, env, cwd, child_setup
                )
            except (OSError, subprocess.SubprocessError) as error:
                message = f"failed to start container {container['name']!r}: {error}"
                refused = PodStartRefused("Failed", message)
                await self._fail_start(runtime, containers, started, refused)
                return
            self._record(runtime, "Created", f"Created container {container['name']}")
            self._record(runtime, "Started", f"Started container {container['name']}")
        self._patch_status(
            runtime,
            {
                "phase": "Running",
                "podIP": runtime.ip,
                "podIPs": [{"ip": runtime.ip}],
                "hostIP": HOST_IP,
                "startTime": started,
                "conditions": _conditions(scheduled=True, ready=False),
                "containerStatuses": [_running(c, started, ready=False) for c in containers],
            },
        )
        deadline = pod["spec"].get("activeDeadlineSeconds")
        if deadline:
            asyncio.get_running_loop().call_later(
                deadline, lambda: self._spawn(self._deadline_exceeded(runtime, deadline))
            )
        await asyncio.gather(
            self._watch_readiness(runtime, pod, started),
            self._wait_for_exit(runtime, containers, started),
        )

    async def _fail_start(
        self, runtime: PodRuntime, containers: list[dict], started: str, refused: PodStartRefused
    ) -> None:
        """End a pod whose containers could not (all) start: Failed, StartError each."""
        event = refused.message
        if refused.reason == "Failed":
            event = f"Error: {event}"
        self._record(runtime, refused.reason, event, "Warning")
        # Not _terminate: it would cancel this very task before the status is set.
        runtime.terminating = True
        await _stop_processes(runtime, grace=0)
        now = now_rfc3339()
        self._patch_status(
            runtime,
            {
                "phase": "Failed",
                "podIP": runtime.ip,
                "hostIP": HOST_IP,
                "startTime": started,
                "conditions": _conditions(scheduled=True, ready=False),
                "containerStatuses": [
                    _terminated(c, started, now, 128, "StartError", refused.message)
                    for c in containers
                ],
            },
        )
        self._release(runtime)

    # ----- confinement -------------------------------------------------------------------

    def _sandbox(self, runtime: PodRuntime, pod: dict) -> list[Callable[[], None]]:
        """What each container's forked child does before ``exec``, in this order: die with
        the kubelet, join the pod's network namespace (if policy isolates the pod), keep only
        its capabilities. Raises PodStartRefused."""
        self._isolate_network(runtime, pod)
        return [
            self._child_setup(runtime, index, container)
            for index, container in enumerate(pod["spec"]["containers"])
        ]

    def _isolate_network(self, runtime: PodRuntime, pod: dict) -> None:
        """Give the pod a loopback-only network namespace if the NetworkPolicies of its
        namespace, as they are now, allow it no egress; refuse it if that cannot be done."""
        policies, _ = self.store.list("networkpolicies", runtime.namespace)
        network = pod_network(policies, pod, self.can_isolate_network)
        if network.refusal is not None:
            raise PodStartRefused(
                "FailedCreatePodSandBox", f"Failed to create pod sandbox: {network.refusal}"
            )
        if not network.isolated:
            return
        try:
            runtime.netns_fd = netns.create_isolated()
        except OSError as error:
            raise PodStartRefused(
                "FailedCreatePodSandBox",
                f"Failed to create pod sandbox: {network.reason}, but its network namespace "
                f"could not be made ({error}). The pod is not started rather than started "
                "with network access.",
            ) from error
        if network.allowed:
            runtime.relays = EgressRelays()
            try:
                runtime.relays.listen(runtime.netns_fd, network.allowed)
            except OSError as error:
                raise PodStartRefused(
                    "FailedCreatePodSandBox",
                    f"Failed to create pod sandbox: {network.reason}, but that egress could not "
                    f"be set up in its network namespace ({error}). The pod is not started.",
                ) from error
            self._record(
                runtime,
                "NetworkIsolated",
                f"{network.reason}: it runs in a network namespace of its own where only "
                "those addresses answer",
            )
            return
        self._record(
            runtime,
            "NetworkIsolated",
            f"{network.reason}: it runs in a network namespace of its own with only loopback",
        )

    def _child_setup(self, runtime: PodRuntime, index: int, container: dict) -> Callable[[], None]:
        # No pod outlives the cluster: the kernel kills it when the kubelet's process dies.
        die_with_kubelet = partial(prctl, PR_SET_PDEATHSIG, signal.SIGKILL, "PR_SET_PDEATHSIG")
        steps: list[Callable[[], None]] = [die_with_kubelet]
        if runtime.netns_fd is not None:
            steps.append(partial(netns.enter, runtime.netns_fd))
        if self.confines_capabilities:
            # As an image's files are: a container that switches to another user (grading
            # pods do, per submission) still reads this machine's Python.
            steps.append(partial(enter_image_filesystem, self.pods_dir))
            field = f"spec.containers[{index}].securityContext"
            try:
                granted = container_capabilities(
                    container.get("securityContext"), self.bounding_set, field
                )
            except CapabilityError as error:
                raise PodStartRefused("Failed", str(error)) from error
            if granted.unavailable:
                self._record(
                    runtime,
                    "CapabilitiesUnavailable",
                    f"container {container['name']} adds {', '.join(granted.unavailable)}, "
                    "which the dev cluster's kubelet does not have: it runs without them",
                    "Warning",
                )
            drop = capabilities.to_drop(self.bounding_set, granted.bounding)
            steps.append(partial(capabilities.keep_only, drop))
        return partial(_run_in_order, tuple(steps))

    async def _prepare_all(self, runtime: PodRuntime, pod: dict) -> list | None:
        """Every container's launch, retried while a secret or config map it needs is
        missing (CreateContainerConfigError, as a kubelet keeps retrying); None if the pod
        is deleted meanwhile."""
        containers = pod["spec"]["containers"]
        while not runtime.terminating:
            try:
                return [self._prepare(runtime, pod, container) for container in containers]
            except EnvError as error:
                self._record(runtime, "Failed", f"Error: {error}", type="Warning")
                self._patch_status(
                    runtime,
                    {
                        "containerStatuses": [
                            _waiting(c, "CreateContainerConfigError", str(error))
                            for c in containers
                        ]
                    },
                )
                await asyncio.sleep(RETRY_SECONDS)
        return None

    async def _wait_for_claims(self, runtime: PodRuntime, pod: dict) -> bool:
        """Wait until every PVC the pod uses exists (a kubelet's FailedMount while not)."""
        claims = [
            v["persistentVolumeClaim"]["claimName"]
            for v in pod["spec"].get("volumes") or []
            if "persistentVolumeClaim" in v
        ]
        while True:
            missing = [
                c
                for c in claims
                if self._lookup("persistentvolumeclaims", runtime.namespace, c) is None
            ]
            if not missing:
                return True
            if runtime.terminating:
                return False
            self._record(
                runtime,
                "FailedMount",
                f'persistentvolumeclaim "{missing[0]}" not found',
                type="Warning",
            )
            await asyncio.sleep(RETRY_SECONDS)

    async def _wait_for_devices(self, runtime: PodRuntime, pod: dict) -> bool:
        """Wait until the node's pool has the pod's devices. The scheduler may bind a pod to
        the room a deleted pod left while that pod's processes still stop: its devices are
        free only once it gave them back (else a third GPU of a two-GPU node would appear)."""
        wanted = {
            resource: int(amount)
            for resource, amount in pod_requests(pod).items()
            if resource.startswith("nvidia.com/") and amount > 0
        }

        def room() -> bool:
            for resource, count in wanted.items():
                capacity = self.config.device_count(runtime.node, resource)
                taken = self.devices.taken(runtime.node, resource)
                if capacity is not None and taken + count > capacity:
                    return False
            return True

        while not room():
            if runtime.terminating:
                return False
            await asyncio.sleep(RETRY_SECONDS)
        return True

    def _assign_devices(self, runtime: PodRuntime, pod: dict) -> None:
        for resource, amount in pod_requests(pod).items():
            if resource.startswith("nvidia.com/") and amount > 0:
                runtime.devices[resource] = self.devices.take(runtime.node, resource, int(amount))

    def _prepare(
        self, runtime: PodRuntime, pod: dict, container: dict
    ) -> tuple[list[str], dict[str, str], Path]:
        """argv, environment and working folder of one container (folders created)."""
        rootfs = self.pod_dir(runtime.namespace, runtime.name) / "rootfs"
        if container is pod["spec"]["containers"][0]:
            shutil.rmtree(rootfs, ignore_errors=True)  # links only: volumes stay intact
        rootfs.mkdir(parents=True, exist_ok=True)
        for mount in mount_plan(container, pod):
            target = rootfs / str(mount.path).lstrip("/")
            source = self._volume_dir(runtime, mount.volume, pod) / mount.sub_path
            source.mkdir(parents=True, exist_ok=True)
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.is_symlink() or target.exists():
                continue
            target.symlink_to(source, target_is_directory=True)
        home = rootfs / DEFAULT_WORKING_DIR.lstrip("/")
        home.mkdir(parents=True, exist_ok=True)
        env = container_env(
            container,
            pod,
            pod_ip=runtime.ip or "",
            host_ip=HOST_IP,
            api_host=self.api_host,
            api_port=self.api_port,
            lookup=self._lookup,
        )
        visible = [
            device
            for resource, indices in sorted(runtime.devices.items())
            for device in device_ids(
                runtime.node, resource, indices, self.config.gpu_replicas(runtime.node, resource)
            )
        ]
        if visible:
            env[GPU_ENV] = ",".join(visible)
            # No GPU to read through NVML: a telemetry file stands in (gpu_load). A new pod's
            # GPUs start idle, whatever a former pod of the same name left.
            telemetry = gpu_load.telemetry_path(self.state_dir, runtime.namespace, runtime.name)
            if container is pod["spec"]["containers"][0] or not telemetry.exists():
                telemetry.parent.mkdir(parents=True, exist_ok=True)
                gpu_load.write_load(telemetry, 0, devices=len(set(visible)))
            env[gpu_load.VARIABLE] = str(telemetry)
        python_bin = str(Path(sys.executable).parent)
        process_env = {
            "PATH": f"{python_bin}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
            "HOME": str(home.resolve()),
            "LANG": os.environ.get("LANG", "C.UTF-8"),
            "PYTHONUNBUFFERED": "1",
            **env,
        }
        working_dir = rootfs / container.get("workingDir", DEFAULT_WORKING_DIR).lstrip("/")
        working_dir.mkdir(parents=True, exist_ok=True)
        image = self.config.image(container.get("image", ""))
        argv = container_argv(container, image.entrypoint, image.cmd, process_env)
        return argv, process_env, working_dir.resolve()

    def _volume_dir(self, runtime: PodRuntime, volume: dict, pod: dict) -> Path:
        if "hostPath" in volume:  # this machine's folder itself, as on a one-node cluster
            return Path(volume["hostPath"]["path"])
        if "persistentVolumeClaim" in volume:
            claim = volume["persistentVolumeClaim"]["claimName"]
            return self.volumes_dir / runtime.namespace / claim
        folder = self.pod_dir(runtime.namespace, runtime.name) / "volumes" / volume["name"]
        folder.mkdir(parents=True, exist_ok=True)
        for kind, key in (("configmaps", "configMap"), ("secrets", "secret")):
            if key in volume:
                ref = volume[key]
                name = ref.get("name") or ref.get("secretName", "")
                obj = self._lookup(kind, runtime.namespace, name)
                if obj is None and not ref.get("optional"):
                    raise EnvError(f'{kind[:-1]} "{name}" not found')
                for item, value in ((obj or {}).get("data") or {}).items():
                    data = base64.b64decode(value) if kind == "secrets" else value.encode()
                    (folder / item).write_bytes(data)
        return folder  # emptyDir and anything else: a folder of the pod's own

    async def _start_process(
        self,
        runtime: PodRuntime,
        container: str,
        argv: list[str],
        env: dict,
        cwd: Path,
        child_setup: Callable[[], None],
    ) -> asyncio.subprocess.Process:
        log_path = self.log_path(runtime.namespace, runtime.name, container)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        # A fresh log per pod: a new pod with an old pod's name must not show its output.
        with open(log_path, "wb") as log_file:
            return await asyncio.create_subprocess_exec(
                *argv,
                env=env,
                cwd=cwd,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log_file,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,  # its own process group: stopped as a whole
                preexec_fn=child_setup,
            )

    async def _watch_readiness(self, runtime: PodRuntime, pod: dict, started: str) -> None:
        containers = pod["spec"]["containers"]
        ready: dict[str, bool] = {c["name"]: False for c in containers}
        while not runtime.ended and not runtime.terminating and not all(ready.values()):
            for container in containers:
                if not ready[container["name"]]:
                    ready[container["name"]] = await self._probe(runtime, container)
            if all(ready.values()):
                break
            await asyncio.sleep(PROBE_INTERVAL)
        if runtime.ended or runtime.terminating:
            return
        self._patch_status(
            runtime,
            {
                "conditions": _conditions(scheduled=True, ready=True),
                "containerStatuses": [_running(c, started, ready=True) for c in containers],
            },
        )

    async def _probe(self, runtime: PodRuntime, container: dict) -> bool:
        probe = container.get("readinessProbe") or {}
        ports = container.get("ports") or []
        # An isolated pod is reachable from inside its own namespace only.
        inside = runtime.netns_fd
        if "httpGet" in probe:
            port = _port(probe["httpGet"].get("port"), ports)
            return await _http_ok(runtime.ip, port, probe["httpGet"].get("path", "/"), inside)
        if "tcpSocket" in probe:
            port = _port(probe["tcpSocket"].get("port"), ports)
            return await _tcp_open(runtime.ip, port, inside)
        if ports:
            return await _tcp_open(runtime.ip, int(ports[0]["containerPort"]), inside)
        return True

    async def _wait_for_exit(self, runtime: PodRuntime, containers: list[dict], started: str):
        codes = {}
        for container in containers:
            codes[container["name"]] = await runtime.processes[container["name"]].wait()
        runtime.ended = True
        if runtime.terminating:
            return  # _terminate reports and finalizes
        finished = now_rfc3339()
        statuses = [_terminated(c, started, finished, codes[c["name"]]) for c in containers]
        failed = any(code != 0 for code in codes.values())
        for container in containers:
            if codes[container["name"]] != 0:
                self._record(
                    runtime,
                    "Failed",
                    f"Container {container['name']} exited with code {codes[container['name']]}",
                    type="Warning",
                )
        self._patch_status(
            runtime,
            {
                "phase": "Failed" if failed else "Succeeded",
                "conditions": _conditions(scheduled=True, ready=False),
                "containerStatuses": statuses,
            },
        )
        self._release(runtime)

    async def _deadline_exceeded(self, runtime: PodRuntime, seconds: int) -> None:
        if runtime.ended or runtime.terminating or self.runtimes.get(runtime.uid) is not runtime:
            return
        self._record(
            runtime,
            "DeadlineExceeded",
            f"Pod was active on the node longer than the specified deadline ({seconds} s)",
            type="Warning",
        )
        runtime.terminating = True
        await _stop_processes(runtime, grace=0)
        self._patch_status(
            runtime,
            {
                "phase": "Failed",
                "reason": "DeadlineExceeded",
                "message": "Pod was active on the node longer than the specified deadline",
                "conditions": _conditions(scheduled=True, ready=False),
            },
        )
        self._release(runtime)

    async def _terminate(self, runtime: PodRuntime, grace: float, finalize: bool) -> None:
        """SIGTERM, wait up to ``grace`` seconds, SIGKILL; then drop the pod object."""
        if runtime.terminating and not finalize:
            grace = 0
        runtime.terminating = True
        for name in runtime.processes:
            self._record(runtime, "Killing", f"Stopping container {name}")
        await _stop_processes(runtime, grace)
        if runtime.task is not None and not runtime.task.done():
            runtime.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await runtime.task
        self._release(runtime)
        if finalize:
            self._finalize(runtime.namespace, runtime.name)

    def _release(self, runtime: PodRuntime) -> None:
        """Give back the pod's address, devices and network namespace (once)."""
        for resource, indices in runtime.devices.items():
            self.devices.give_back(runtime.node, resource, indices)
        runtime.devices = {}
        self.addresses.give_back(runtime.ip)
        if runtime.relays is not None:
            runtime.relays.close()
            runtime.relays = None
        if runtime.netns_fd is not None:
            os.close(runtime.netns_fd)
            runtime.netns_fd = None
        if self.runtimes.get(runtime.uid) is runtime:
            del self.runtimes[runtime.uid]

    async def stop(self) -> None:
        """Stop every pod's processes (SIGTERM, then SIGKILL after 5 s)."""
        runtimes = list(self.runtimes.values())
        for runtime in runtimes:
            runtime.terminating = True
        await asyncio.gather(*(_stop_processes(r, grace=5) for r in runtimes))
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def _run_in_order(steps: tuple[Callable[[], None], ...]) -> None:
    """A container's child setup (``preexec_fn``): each step, in order."""
    for step in steps:
        step()


async def _stop_processes(runtime: PodRuntime, grace: float) -> None:
    alive = [p for p in runtime.processes.values() if p.returncode is None]
    for process in alive:
        _signal_group(process, signal.SIGTERM)
    if alive and grace > 0:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(p.wait() for p in alive)), grace)
    for process in runtime.processes.values():
        _signal_group(process, signal.SIGKILL)  # leftovers of the group, too
    await asyncio.gather(*(p.wait() for p in runtime.processes.values()))


def _signal_group(process: asyncio.subprocess.Process, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)


def _port(port: int | str | None, ports: list[dict]) -> int:
    if isinstance(port, int) or (isinstance(port, str) and port.isdigit()):
        return int(port)
    for declared in ports:
        if declared.get("name") == port:
            return int(declared["containerPort"])
    raise EnvError(f"probe port {port!r} is neither a number nor a named container port")


async def _connect(host: str | None, port: int, namespace_fd: int | None):
    """(reader, writer) to host:port, from inside a network namespace when one is given."""
    if namespace_fd is None:
        return await asyncio.wait_for(asyncio.open_connection(host, port), 1.0)
    sock = netns.socket_inside(namespace_fd)
    try:
        sock.setblocking(False)
        await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, (host, port)), 1.0)
    except BaseException:
        sock.close()
        raise
    return await asyncio.open_connection(sock=sock)


async def _tcp_open(host: str | None, port: int, namespace_fd: int | None = None) -> bool:
    try:
        _, writer = await _connect(host, port, namespace_fd)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


async def _http_ok(host: str | None, port: int, path: str, namespace_fd: int | None = None) -> bool:
    try:
        reader, writer = await _connect(host, port, namespace_fd)
        writer.write(f"GET {path} HTTP/1.0\r\nHost: {host}:{port}\r\n\r\n".encode())
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 2.0)
        writer.close()
    except (OSError, TimeoutError):
        return False
    parts = status_line.split()
    return len(parts) >= 2 and parts[1].isdigit() and 200 <= int(parts[1]) < 400


def _conditions(scheduled: bool, ready: bool) -> list[dict]:
    flag = {True: "True", False: "False"}
    return [
        {"type": "PodScheduled", "status": flag[scheduled]},
        {"type": "Initialized", "status": "True"},
        {"type": "ContainersReady", "status": flag[ready]},
        {"type": "Ready", "status": flag[ready]},
    ]


def _base_status(container: dict) -> dict:
    return {
        "name": container["name"],
        "image": container.get("image", ""),
        "imageID": "",
        "restartCount": 0,
    }


def _waiting(container: dict, reason: str, message: str) -> dict:
    return {
        **_base_status(container),
        "ready": False,
        "started": False,
        "state": {"waiting": {"reason": reason, "message": message}},
    }


def _running(container: dict, started: str, ready: bool) -> dict:
    return {
        **_base_status(container),
        "containerID": f"process://{container['name']}",
        "ready": ready,
        "started": True,
        "state": {"running": {"startedAt": started}},
    }


def _terminated(
    container: dict,
    started: str,
    finished: str,
    code: int,
    reason: str | None = None,
    message: str | None = None,
) -> dict:
    if code < 0:  # killed by a signal: report as a container runtime does
        code = 128 - code
    reason = reason or ("Completed" if code == 0 else "Error")
    details = {"message": message} if message else {}
    return {
        **_base_status(container),
        "containerID": f"process://{container['name']}",
        "ready": False,
        "started": False,
        "state": {
            "terminated": {
                "exitCode": code,
                "reason": reason,
                "startedAt": started,
                "finishedAt": finished,
                **details,
            }
        },
    }
