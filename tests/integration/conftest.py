"""Fixtures for tests against a real hub + proxy + dev cluster (see ``hub_platform.py``).

- ``platform`` (module scope): a started ``coursehub.dev.Platform`` with the catalog of
  ``factories.hub_courses()``; its logs are copied to ``test-artifacts/<module>/`` and
  everything is stopped after the module.
- ``hub_api`` (module scope): ``HubAPI`` for that platform over one aiohttp session.
- ``cluster`` (module scope): ``Cluster``, the dev cluster's Kubernetes API.
- ``service`` (module scope): ``ServiceCalls``, the coursehub service's API directly.

Modules that need another catalog or settings define their own ``platform``; these
fixtures then use it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
from factories import hub_courses
from hub_platform import Cluster, HubAPI
from platforms import running_platform
from service_calls import ServiceCalls

from coursehub.dev import Platform


@pytest.fixture(scope="module")
def platform(tmp_path_factory, artifacts_dir: Path, request) -> Iterator[Platform]:
    root = tmp_path_factory.mktemp("platform")
    name = f"platform-{request.module.__name__.split('.')[-1]}"
    with running_platform(root, artifacts_dir, name, *hub_courses()) as running:
        yield running


@pytest.fixture(scope="module")
async def hub_api(platform: Platform) -> AsyncIterator[HubAPI]:
    async with aiohttp.ClientSession() as session:
        yield HubAPI(platform, session)


@pytest.fixture(scope="module")
async def cluster(platform: Platform) -> AsyncIterator[Cluster]:
    connected = await Cluster.connect(platform.kubeconfig)
    yield connected
    await connected.close()


@pytest.fixture(scope="module")
async def service(platform: Platform) -> AsyncIterator[ServiceCalls]:
    async with aiohttp.ClientSession() as session:
        yield ServiceCalls(session, platform.service_url)
