"""A hub restart keeps running servers (cleanup_servers is off, as in z2jh)."""

from __future__ import annotations

import asyncio

import pytest

pytestmark = pytest.mark.integration


async def test_running_server_survives_a_hub_restart(hub_api, cluster):
    status, body = await hub_api.spawn("student1", "ai-101-cpu")
    assert status in (201, 202), body
    await hub_api.wait_ready("student1")
    (before,) = await cluster.user_pods("student1")

    await asyncio.to_thread(hub_api.platform.restart_hub)

    server = (await hub_api.user("student1"))["servers"][""]
    assert server["ready"] is True
    assert await hub_api.server_status("student1", hub_api.platform.admin_token) == 200
    (after,) = await cluster.user_pods("student1")
    assert after["metadata"]["uid"] == before["metadata"]["uid"]  # the same pod, not a new one

    # and the restarted hub still manages it
    assert await hub_api.stop("student1") in (202, 204)
    await hub_api.wait_stopped("student1")
    assert await cluster.user_pods("student1") == []
