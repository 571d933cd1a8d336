"""Test modules import helpers, never other test modules.

Importing from a ``test_*.py`` module runs its tests' module code twice under two names,
ties one test file's refactoring to another's, and hides shared helpers where nobody looks
for them. Shared helpers live in helper modules (``tests/factories.py``,
``tests/platforms.py``, ``tests/integration/hub_platform.py``...). Helper modules are found
by basename (pytest puts each test folder on ``sys.path``), so their basenames must be
unique across ``tests/``.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def imports_of_test_modules(path: Path, root: Path) -> list[str]:
    """Each import in ``path`` (at any depth) of a module whose last dotted part is a
    ``test_*`` module, as ``file:line: import``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            modules = [node.module or ""]
            # ``from . import test_x`` and ``from tests.unit import test_x`` name it here.
            modules += [f"{node.module or ''}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        else:
            continue
        if any(module.rsplit(".", 1)[-1].startswith("test_") for module in modules):
            where = path.relative_to(root.parent)
            found.append(f"{where}:{node.lineno}: {ast.unparse(node)}")
    return found


def imports_between_test_modules(root: Path) -> list[str]:
    return [
        line
        for path in sorted(root.rglob("test_*.py"))
        for line in imports_of_test_modules(path, root)
    ]


def test_no_test_module_imports_from_another_test_module():
    found = imports_between_test_modules(TESTS)
    assert not found, (
        "test modules import from other test modules; move what they share into a helper "
        "module (a unique basename without the test_ prefix) and import it from there:\n"
        + "\n".join(found)
    )


def test_the_check_finds_each_form_of_import(tmp_path):
    (tmp_path / "test_a.py").write_text(
        "from test_b import helper\n"
        "import test_c\n"
        "from . import test_d\n"
        "from tests.unit.test_e import x\n"
        "def f():\n"
        "    from test_f import y\n"
        "from factories import course\n"
        "import pytest\n"
    )
    found = imports_between_test_modules(tmp_path)
    assert [line.split(": ", 1)[1] for line in found] == [
        "from test_b import helper",
        "import test_c",
        "from . import test_d",
        "from tests.unit.test_e import x",
        "from test_f import y",
    ]
    assert found[0] == f"{tmp_path.name}/test_a.py:1: from test_b import helper"


def test_helper_module_basenames_are_unique():
    paths = defaultdict(list)
    for path in TESTS.rglob("*.py"):
        if path.name not in ("conftest.py", "__init__.py"):
            paths[path.name].append(str(path.relative_to(TESTS.parent)))
    twice = {name: where for name, where in paths.items() if len(where) > 1}
    assert not twice, f"module basenames must be unique across tests/: {twice}"
