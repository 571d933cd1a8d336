"""The dev cluster as one process: store, API server, scheduler and kubelet on one loop.

``DevCluster`` is the importable form (``await start()``, ``await stop()``, ``.url``,
``.kubeconfig_path``); ``run`` is ``coursehub devcluster up``: it serves until SIGINT or
SIGTERM, then stops every pod's processes and returns 0.

Files under the state folder:

- ``kubeconfig``: cluster ``coursehub-dev`` at ``http://HOST:PORT``, a dummy bearer token;
  works with ``kubectl``, ``kubernetes_asyncio`` and KubeSpawner's ``load_config()``.
- ``devcluster.json``: ``{"pid": ..., "url": ...}`` of the running cluster.
- ``devcluster/pods/<ns>/<pod>/``: each pod's root folder and container logs.
- ``devcluster/volumes/<ns>/<claim>/``: the contents of each PersistentVolumeClaim.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import sys
from pathlib import Path

from tornado.httpserver import HTTPServer

from coursehub.devcluster.apiserver import make_app
from coursehub.devcluster.config import (
    ClusterConfig,
    ClusterConfigError,
    load_cluster_config,
    node_object,
    storage_class_object,
)
from coursehub.devcluster.events import EventRecorder
from coursehub.devcluster.kubelet import Kubelet
from coursehub.devcluster.scheduler import SchedulerController
from coursehub.devcluster.store import Store

log = logging.getLogger("coursehub.devcluster")


def kubeconfig_text(url: str) -> str:
    """A kubeconfig for the dev cluster (YAML is a superset of this JSON)."""
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "coursehub-dev", "cluster": {"server": url}}],
            "users": [{"name": "coursehub-dev", "user": {"token": "coursehub-dev-token"}}],
            "contexts": [
                {
                    "name": "coursehub-dev",
                    "context": {
                        "cluster": "coursehub-dev",
                        "user": "coursehub-dev",
                        "namespace": "default",
                    },
                }
            ],
            "current-context": "coursehub-dev",
        },
        indent=2,
    )


class DevCluster:
    def __init__(
        self,
        state_dir: Path,
        config: ClusterConfig,
        host: str = "127.0.0.1",
        port: int = 0,
    ):
        self.state_dir = Path(state_dir).absolute()
        self.config = config
        self.host = host
        self.port = port
        self.store = Store()
        self.events = EventRecorder(self.store)
        self.kubeconfig_path = self.state_dir / "kubeconfig"
        self.server: HTTPServer | None = None
        self.kubelet: Kubelet | None = None
        self.scheduler: SchedulerController | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        sockets = _bind(self.host, self.port)
        self.port = sockets[0].getsockname()[1]
        self.kubelet = Kubelet(
            self.store, self.events, self.config, self.state_dir, self.host, self.port
        )
        self.scheduler = SchedulerController(self.store, self.events)
        for node in self.config.nodes:
            self.store.create("nodes", None, node_object(node))
        for storage_class in self.config.storage_classes:
            self.store.create("storageclasses", None, storage_class_object(storage_class))
        self.server = HTTPServer(make_app(self.store, log_path=self.kubelet.log_path))
        self.server.add_sockets(sockets)
        # Written last: a kubeconfig on disk means the API server answers.
        _write_atomically(self.kubeconfig_path, kubeconfig_text(self.url))
        _write_atomically(
            self.state_dir / "devcluster.json", json.dumps({"pid": os.getpid(), "url": self.url})
        )

    async def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
        if self.kubelet is not None:
            await self.kubelet.stop()
        (self.state_dir / "devcluster.json").unlink(missing_ok=True)


def _bind(host: str, port: int) -> list[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.setblocking(False)
    return [sock]


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(text)
    temporary.replace(path)


def run(state_dir: Path, config_path: Path | None, host: str = "127.0.0.1", port: int = 0) -> int:
    """``coursehub devcluster up``: serve until SIGINT/SIGTERM; 0 on a clean stop, 2 for a
    bad cluster file, 1 if the API server cannot listen."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    # One line per request (watches included) would drown what the cluster decides.
    logging.getLogger("tornado.access").setLevel(logging.WARNING)
    try:
        config = load_cluster_config(config_path)
    except ClusterConfigError as error:
        print(f"coursehub devcluster: the cluster file has problems:\n{error}", file=sys.stderr)
        return 2
    return asyncio.run(_serve(DevCluster(state_dir, config, host, port)))


async def _serve(cluster: DevCluster) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await cluster.start()
    except OSError as error:
        print(
            f"coursehub devcluster: cannot listen on {cluster.host}:{cluster.port}: {error}",
            file=sys.stderr,
        )
        return 1
    gpus = sum(int(node.allocatable.get("nvidia.com/gpu", 0) or 0) for node in cluster.config.nodes)
    print(
        f"coursehub devcluster: API server at {cluster.url} "
        f"({len(cluster.config.nodes)} nodes, {gpus} GPUs); "
        f"KUBECONFIG={cluster.kubeconfig_path}",
        flush=True,
    )
    try:
        await stop.wait()
    finally:
        print("coursehub devcluster: stopping pods…", flush=True)
        await cluster.stop()
    return 0
