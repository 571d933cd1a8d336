"""Fixtures shared by every test.

- ``artifacts_dir``: ``test-artifacts/`` at the repository root, where tests leave files a
  person may want to look at after a run (screenshots, logs of failed platforms).
- ``repo_root``: the repository root as a Path.

Suites: ``tests/unit`` (pure, no servers), ``tests/assignments`` (the sample assignments
under nbgrader's own commands), ``tests/integration`` (a real hub, proxy and the
dev cluster; fixtures in ``tests/integration/conftest.py``) and ``tests/browser`` (headless
Chromium driving the same platform). Tests run in that order so a broken unit fails fast.

Helper modules here, importable from every suite (docs/testing.md lists them all):
``factories`` (courses and catalogs), ``platforms`` (``running_platform``),
``service_calls`` (the service's HTTP API) and ``exchange_cases`` (the exchange API's cases).
Test modules never import from each other (``tests/unit/test_test_imports.py``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
_SUITE_ORDER = {"unit": 0, "assignments": 1, "integration": 2, "browser": 3}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def suite_rank(item: pytest.Item) -> int:
        parts = Path(str(item.fspath)).relative_to(REPO_ROOT / "tests").parts
        return _SUITE_ORDER.get(parts[0], 3) if len(parts) > 1 else 3

    items.sort(key=suite_rank)  # stable: keeps file order within a suite


def pytest_make_parametrize_id(config: pytest.Config, val: object, argname: str) -> str | None:
    # Archives built while collecting carry gzip's timestamp, so an id spelled from their
    # bytes changes from one collection to the next; pytest-xdist's workers must collect the
    # same ids.
    if isinstance(val, bytes) and val[:2] == b"\x1f\x8b":
        return f"gzip-{len(val)}-bytes"
    return None


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    path = REPO_ROOT / "test-artifacts"
    path.mkdir(exist_ok=True)
    return path
