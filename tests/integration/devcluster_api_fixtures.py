"""A real dev-cluster API server on a free loopback port, for tests that drive it over HTTP.

``running_api_server(tmp_path)`` is an async context manager yielding an :class:`ApiServer`: the
``Store`` behind it (tests may change it directly, as the scheduler and kubelet would), the
server URL, a kubeconfig file, the directory the ``log_path`` callable points into, and helpers
to run ``kubectl`` and to build a ``kubernetes_asyncio`` client. The server is stopped on exit.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from kubernetes_asyncio import client, config
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets

from coursehub.devcluster.apiserver import make_app
from coursehub.devcluster.store import Store

REPO_ROOT = Path(__file__).resolve().parents[2]
KUBECTL = REPO_ROOT / ".venv" / "bin" / "kubectl"

KUBECONFIG_TEMPLATE = """\
apiVersion: v1
kind: Config
clusters:
- name: devcluster
  cluster:
    server: {server}
users:
- name: dev
  user:
    token: dummy-token
contexts:
- name: devcluster
  context:
    cluster: devcluster
    user: dev
    namespace: default
current-context: devcluster
"""


@dataclass
class KubectlResult:
    returncode: int
    stdout: str
    stderr: str


@dataclass
class ApiServer:
    store: Store
    url: str
    kubeconfig: Path
    log_dir: Path

    def log_path(self, namespace: str, pod: str, container: str) -> Path:
        return self.log_dir / namespace / pod / f"{container}.log"

    async def kubectl(self, *args: str, check: bool = True, timeout: float = 20) -> KubectlResult:
        """Run the real kubectl without blocking the loop that serves it."""
        process = await asyncio.create_subprocess_exec(
            str(KUBECTL),
            "--kubeconfig",
            str(self.kubeconfig),
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            stdout, stderr = await asyncio.wait_for(process.communicate(), timeout)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise
        result = KubectlResult(process.returncode or 0, stdout.decode(), stderr.decode())
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {result.stderr}")
        return result

    async def api_client(self) -> client.ApiClient:
        configuration = client.Configuration()
        await config.load_kube_config(
            config_file=str(self.kubeconfig), client_configuration=configuration
        )
        return client.ApiClient(configuration)


@contextlib.asynccontextmanager
async def running_api_server(
    tmp_path: Path, store: Store | None = None
) -> AsyncIterator[ApiServer]:
    store = store or Store()
    log_dir = tmp_path / "logs"
    sockets = bind_sockets(0, "127.0.0.1")
    port = sockets[0].getsockname()[1]
    kubeconfig = tmp_path / "kubeconfig"
    url = f"http://127.0.0.1:{port}"
    kubeconfig.write_text(KUBECONFIG_TEMPLATE.format(server=url))
    server = ApiServer(store, url, kubeconfig, log_dir)
    http_server = HTTPServer(make_app(store, log_path=server.log_path))
    http_server.add_sockets(sockets)
    try:
        yield server
    finally:
        http_server.stop()
        await asyncio.wait_for(http_server.close_all_connections(), 5)
