"""Spawning course environments through the hub REST API on the dev cluster.

The dev cluster's default nodes have four A100 GPUs in all (two nodes with two each),
which the GPU queue test fills.
"""

from __future__ import annotations

import asyncio

import pytest

pytestmark = pytest.mark.integration

A100 = "NVIDIA-A100-SXM4-80GB"


def notebook_container(pod: dict) -> dict:
    return next(c for c in pod["spec"]["containers"] if c["name"] == "notebook")


async def test_cpu_spawn_answers_through_the_proxy(hub_api, cluster):
    status, body = await hub_api.spawn("student1", "ai-101-cpu")
    assert status in (201, 202), body
    await hub_api.wait_ready("student1")
    assert await hub_api.server_status("student1", hub_api.platform.admin_token) == 200

    (pod,) = await cluster.user_pods("student1")
    labels = pod["metadata"]["labels"]
    assert labels["coursehub.io/course"] == "ai-101"
    assert labels["coursehub.io/environment"] == "cpu"
    assert labels["coursehub.io/role"] == "student"
    assert notebook_container(pod)["resources"]["limits"]["nvidia.com/gpu"] == "0"

    assert await hub_api.stop("student1") in (202, 204)
    await hub_api.wait_stopped("student1")


async def test_foreign_course_profile_is_refused_and_creates_no_pod(hub_api, cluster):
    student_token = await hub_api.token_for("student1")
    for token in (hub_api.platform.admin_token, student_token):
        status, body = await hub_api.spawn("student1", "ml-201-mig", token)
        assert status == 403, body
        assert "You are not enrolled in ml-201" in body["message"]
    status, body = await hub_api.spawn("student1", "ai-101-tpu")
    assert status == 400, body
    assert "There is no environment 'ai-101-tpu'" in body["message"]
    assert await cluster.user_pods("student1") == []
    assert (await hub_api.user("student1"))["servers"] == {}


async def test_gpu_queue_waits_with_a_plain_message_and_starts_when_a_gpu_frees(hub_api, cluster):
    holders = ["student1", "student2", "student3", "student4"]
    results = await asyncio.gather(*(hub_api.spawn(name, "ai-101-gpu") for name in holders))
    assert all(status in (201, 202) for status, _ in results), results
    await asyncio.gather(*(hub_api.wait_ready(name) for name in holders))
    assert await hub_api.server_status("student2", hub_api.platform.admin_token) == 200

    nodes = await cluster.core.list_node()
    a100_nodes = {
        node.metadata.name
        for node in nodes.items
        if (node.metadata.labels or {}).get("nvidia.com/gpu.product") == A100
    }
    for name in holders:
        (pod,) = await cluster.user_pods(name)
        assert pod["spec"]["nodeName"] in a100_nodes
        assert notebook_container(pod)["resources"]["limits"]["nvidia.com/gpu"] == "1"

    # The fifth GPU server cannot be placed: it waits, and says so plainly.
    status, body = await hub_api.spawn("student5", "ai-101-gpu")
    assert status == 202, body
    messages: list[str] = []
    waiting = asyncio.Event()

    async def follow_progress() -> dict:
        async for event in hub_api.progress("student5", timeout=180):
            messages.append(event.get("message", ""))
            if "Waiting for a GPU" in event.get("message", ""):
                waiting.set()
            if event.get("ready") or event.get("failed"):
                return event
        raise AssertionError(f"progress ended without ready: {messages}")

    follower = asyncio.create_task(follow_progress())
    await asyncio.wait_for(waiting.wait(), 60)
    assert (
        "Waiting for a GPU: all 4 A100 GPUs are in use. "
        "Your server will start as soon as one is free."
    ) in messages
    (pending,) = await cluster.user_pods("student5")
    assert pending["status"]["phase"] == "Pending"

    # A GPU frees up: the waiting server starts on it.
    assert await hub_api.stop("student1") in (202, 204)
    final = await asyncio.wait_for(follower, 180)
    assert final.get("ready"), messages
    assert any("assigned on" in message for message in messages), messages
    await hub_api.wait_ready("student5")
    assert await hub_api.server_status("student5", hub_api.platform.admin_token) == 200

    await asyncio.gather(
        *(hub_api.stop(name) for name in ["student2", "student3", "student4", "student5"])
    )
    await asyncio.gather(
        *(hub_api.wait_stopped(name) for name in ["student1", *holders[1:], "student5"])
    )


async def test_home_folder_survives_a_server_restart(hub_api, cluster):
    """The home is a PersistentVolumeClaim (a folder in the dev cluster), not the pod's."""
    contents = f"{hub_api.base}/user/student3/api/contents/notes.txt"
    headers = {"Authorization": f"token {hub_api.platform.admin_token}"}
    note = {"type": "file", "format": "text", "content": "epoch 3: loss 0.41"}

    for attempt in ("write", "read"):
        status, body = await hub_api.spawn("student3", "ai-101-cpu")
        assert status in (201, 202), body
        await hub_api.wait_ready("student3")
        (pod,) = await cluster.user_pods("student3")
        claims = [
            v["persistentVolumeClaim"]["claimName"]
            for v in pod["spec"]["volumes"]
            if "persistentVolumeClaim" in v
        ]
        assert "claim-student3" in claims
        if attempt == "write":
            async with hub_api.session.put(contents, json=note, headers=headers) as response:
                assert response.status in (200, 201), await response.text()
        else:
            async with hub_api.session.get(contents, headers=headers) as response:
                assert response.status == 200, await response.text()
                assert (await response.json())["content"] == note["content"]
        assert await hub_api.stop("student3") in (202, 204)
        await hub_api.wait_stopped("student3")
