"""A hub restart keeps running servers (cleanup_servers is off, as in z2jh).

The hub keeps its database in a real PostgreSQL server here, as production hubs do (z2jh's
``hub.db``), so the restart reads back the server's state from PostgreSQL.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy
from factories import hub_courses
from platforms import running_platform
from postgres import running_postgres

from coursehub.dev import Platform

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def platform(tmp_path_factory, artifacts_dir: Path) -> Iterator[Platform]:
    """This module's platform: the shared one's catalog, the hub's database in PostgreSQL."""
    root = tmp_path_factory.mktemp("platform-postgres")
    with (
        running_postgres() as db_url,
        running_platform(
            root,
            artifacts_dir,
            "platform-test_hub_restart",
            *hub_courses(),
            extra_hub_env={"COURSEHUB_DB_URL": db_url},
        ) as running,
    ):
        yield running


async def test_hub_keeps_its_users_in_postgresql(platform):
    engine = sqlalchemy.create_engine(platform.config.extra_hub_env["COURSEHUB_DB_URL"])
    with engine.connect() as connection:
        names = set(connection.exec_driver_sql("SELECT name FROM users").scalars())
    engine.dispose()
    assert {"instructor1", "student1", "student-ml1"} <= names


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
