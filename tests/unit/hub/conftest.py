"""Fixtures for the hub's pure builders.

- ``catalog``: a catalog with the sample courses' shape (ai-101: GPU + CPU environments,
  shared data; ml-201: a MIG environment and a CPU one), built from course dicts with the
  real ``coursehub.catalog`` model.
- ``make_spawner``: ``make_spawner(username, admin=False, **config)`` builds a real
  ``CourseSpawner`` over that catalog, with a user in an in-memory hub database and a dummy
  kubeconfig (no cluster is contacted).
"""

from __future__ import annotations

import factories
import pytest
from jupyterhub import orm
from jupyterhub.objects import Hub
from jupyterhub.user import User
from kubernetes_asyncio.config import kube_config

from coursehub.catalog import Catalog
from coursehub.catalog.model import Course
from coursehub.hub.spawner import CourseSpawner

AI_101 = {
    "id": "ai-101",
    "title": "Introduction to AI",
    "term": "2025-fall",
    "staff": {"instructors": ["instructor1"], "tas": ["ta1"]},
    "students": ["student1", "student2"],
    "environments": [
        {
            "slug": "gpu",
            "display_name": "AI-101 · PyTorch · 1 GPU",
            "description": "PyTorch on one A100",
            "image": "coursehub/notebook-gpu:2025.1",
            "cpu": {"guarantee": "500m", "limit": 4},
            "memory": {"guarantee": "2Gi", "limit": "16Gi"},
            "gpu": {"count": 1, "product": "NVIDIA-A100-SXM4-80GB"},
            "default": True,
        },
        {
            "slug": "cpu",
            "display_name": "AI-101 · CPU only",
            "image": "coursehub/notebook-cpu:2025.1",
            "cpu": {"guarantee": "250m", "limit": 2},
            "memory": {"guarantee": "1Gi", "limit": "4Gi"},
        },
    ],
    "shared_data": [{"name": "datasets", "claim": "ai-101-datasets", "mount_path": "/data"}],
}

ML_201 = {
    "id": "ml-201",
    "title": "Machine Learning II",
    "term": "2025-fall",
    "staff": {"instructors": ["instructor2"]},
    "students": ["student3", "instructor1"],
    "environments": [
        {
            "slug": "mig",
            "display_name": "ML-201 · MIG slice",
            "image": "coursehub/notebook-gpu:2025.1",
            "gpu": {"count": 1, "resource": "nvidia.com/mig-1g.10gb"},
            "default": True,
        },
        {"slug": "cpu", "display_name": "ML-201 · CPU", "image": "coursehub/notebook-cpu:2025.1"},
    ],
}


@pytest.fixture
def catalog() -> Catalog:
    return factories.catalog(Course.model_validate(AI_101), Course.model_validate(ML_201))


KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters: [{name: dev, cluster: {server: "http://127.0.0.1:9"}}]
users: [{name: dev, user: {token: unused}}]
contexts: [{name: dev, context: {cluster: dev, user: dev}}]
current-context: dev
"""


@pytest.fixture
def make_spawner(catalog, tmp_path, monkeypatch):
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(KUBECONFIG)
    # kubernetes_asyncio reads $KUBECONFIG once, at import; point its default there instead.
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(kubeconfig))
    db = orm.new_session_factory("sqlite://")()

    def make(username: str, admin: bool = False, **config) -> CourseSpawner:
        orm_user = orm.User(name=username, admin=admin)
        db.add(orm_user)
        db.commit()
        spawner = CourseSpawner(
            user=User(orm_user, settings={}),
            hub=Hub(ip="127.0.0.1", port=8081, base_url="/hub/"),
            catalog=lambda: catalog,
            namespace="default",
            cmd=["jupyterhub-singleuser"],
            **config,
        )
        spawner.api_token = "token-for-tests"
        return spawner

    yield make
    db.close()
