"""Clients of a running platform (``platforms.running_platform`` starts one) in tests.

- ``HubAPI``: the hub REST API over real HTTP (aiohttp), through the proxy.
- ``Cluster``: the dev cluster's Kubernetes API through ``kubernetes_asyncio``, with a
  client configuration of its own (never the process-wide default).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
from kubernetes_asyncio import client as k8s
from kubernetes_asyncio import config as k8s_config

from coursehub.dev import Platform


class HubAPI:
    """The hub REST API through the proxy, with one token per call."""

    def __init__(self, platform: Platform, session: aiohttp.ClientSession):
        self.platform = platform
        self.session = session
        self.base = platform.public_url

    async def request(
        self, method: str, path: str, token: str, body: dict | None = None
    ) -> tuple[int, dict | str | None]:
        """``(status, parsed JSON or text)`` of ``<public>/hub/api<path>``."""
        url = f"{self.base}/hub/api{path}"
        headers = {"Authorization": f"token {token}"}
        async with self.session.request(method, url, headers=headers, json=body) as response:
            text = await response.text()
            try:
                return response.status, json.loads(text) if text else None
            except ValueError:
                return response.status, text

    async def user(self, name: str) -> dict:
        status, model = await self.request("GET", f"/users/{name}", self.platform.admin_token)
        assert status == 200, (status, model)
        return model

    async def token_for(self, name: str) -> str:
        status, model = await self.request(
            "POST", f"/users/{name}/tokens", self.platform.admin_token, {"note": "test"}
        )
        assert status == 201, (status, model)
        return model["token"]

    async def spawn(self, name: str, profile: str | None, token: str | None = None):
        body = {"profile": profile} if profile else None
        return await self.request(
            "POST", f"/users/{name}/server", token or self.platform.admin_token, body
        )

    async def stop(self, name: str, token: str | None = None) -> int:
        status, _ = await self.request(
            "DELETE", f"/users/{name}/server", token or self.platform.admin_token
        )
        return status

    async def wait_ready(self, name: str, timeout: float = 120) -> dict:
        """Wait until the user's default server is ready; returns its model."""
        deadline = time.monotonic() + timeout
        while True:
            server = (await self.user(name)).get("servers", {}).get("")
            if server and server.get("ready"):
                return server
            assert time.monotonic() < deadline, f"{name}'s server not ready: {server}"
            await asyncio.sleep(0.5)

    async def settle(self, name: str, timeout: float = 120) -> bool:
        """Wait until the user's spawn has ended: True with a ready server, False with none.
        A spawn the hub answered 202 (its slow-spawn timeout passed first, as on a busy
        machine) may still be refused after that answer."""
        deadline = time.monotonic() + timeout
        while True:
            server = (await self.user(name)).get("servers", {}).get("")
            if not server or server.get("ready"):
                return bool(server)
            assert time.monotonic() < deadline, f"{name}'s spawn did not settle: {server}"
            await asyncio.sleep(0.5)

    async def wait_stopped(self, name: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while (await self.user(name)).get("servers", {}).get(""):
            assert time.monotonic() < deadline, f"{name}'s server did not stop"
            await asyncio.sleep(0.5)

    async def server_status(self, name: str, token: str) -> int:
        """HTTP status of the user's Jupyter server API through the proxy."""
        url = f"{self.base}/user/{name}/api/status"
        headers = {"Authorization": f"token {token}"}
        async with self.session.get(url, headers=headers, allow_redirects=False) as response:
            return response.status

    async def progress(self, name: str, timeout: float = 120) -> AsyncIterator[dict]:
        """The spawn progress event stream of the user's server, event by event."""
        url = f"{self.base}/hub/api/users/{name}/server/progress"
        headers = {"Authorization": f"token {self.platform.admin_token}"}
        client_timeout = aiohttp.ClientTimeout(total=timeout)
        async with self.session.get(url, headers=headers, timeout=client_timeout) as response:
            assert response.status == 200, response.status
            async for raw in response.content:
                line = raw.decode().strip()
                if line.startswith("data:"):
                    yield json.loads(line[len("data:") :])


class Cluster:
    """Read the dev cluster's pods with the unmodified Kubernetes client."""

    def __init__(self, api_client: k8s.ApiClient):
        self.api_client = api_client
        self.core = k8s.CoreV1Api(api_client)

    @classmethod
    async def connect(cls, kubeconfig: Path) -> Cluster:
        configuration = k8s.Configuration()
        await k8s_config.load_kube_config(
            config_file=str(kubeconfig), client_configuration=configuration
        )
        return cls(k8s.ApiClient(configuration))

    async def pods(self, label_selector: str = "") -> list[dict]:
        result = await self.core.list_pod_for_all_namespaces(label_selector=label_selector)
        return self.api_client.sanitize_for_serialization(result)["items"]

    async def user_pods(self, username: str) -> list[dict]:
        return await self.pods(f"hub.jupyter.org/username={username}")

    async def close(self) -> None:
        await self.api_client.close()
