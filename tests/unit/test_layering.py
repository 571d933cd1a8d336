"""Packages of ``coursehub`` import in one direction (docs/architecture.md, "Layers").

Every module is parsed with ``ast``: imports at the top, imports inside functions and
``importlib.import_module("coursehub....")`` literals all count, so a lazy import cannot hide
an edge. Each module belongs to a *unit*: its subpackage (``coursehub.hub.spawner`` → ``hub``)
or, at the top level, the module itself (``coursehub/names.py`` → ``names``).
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import coursehub

PACKAGE_DIR = Path(coursehub.__file__).resolve().parent

# Bottom to top. A unit may import its own modules, any lower layer, and (layers 0, 2 and 4)
# units of its own layer as long as no cycle forms. hub and service never import each other.
LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"__init__", "names", "quantity", "linux", "envvars"}),
    frozenset({"catalog"}),
    frozenset(
        {"gpu", "grading", "exchange", "formgrader", "notices", "duedates", "devcluster", "signin"}
    ),
    frozenset({"hub", "service"}),
    frozenset({"cli", "dev", "__main__"}),
)
LAYER_OF = {unit: number for number, units in enumerate(LAYERS) for unit in units}
SAME_LAYER_FORBIDDEN = frozenset({3})

ALLOWED_TOP_LEVEL = frozenset({"__init__", "__main__", "names", "quantity", "linux", "envvars"})


@dataclass(frozen=True)
class Import:
    source: Path  # the importing file, relative to the repository
    line: int
    target: str  # the dotted coursehub module (or package) imported

    def __str__(self) -> str:
        return f"{self.source}:{self.line} imports {self.target}"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(dotted: str) -> bool:
    base = PACKAGE_DIR.parent.joinpath(*dotted.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def unit_of(dotted: str) -> str:
    """``coursehub.hub.spawner`` → ``hub``; ``coursehub`` itself → ``__init__``."""
    parts = dotted.split(".")
    if len(parts) == 1:
        return "__init__"
    return parts[1]


def imports_of(path: Path) -> list[Import]:
    tree = ast.parse(path.read_text(), filename=str(path))
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    source = path.relative_to(PACKAGE_DIR.parent)
    found: list[Import] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [Import(source, node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                # `from coursehub import names` imports the module coursehub.names.
                sub = f"{base}.{alias.name}"
                found.append(Import(source, node.lineno, sub if is_module(sub) else base))
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", None))
            in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append(Import(source, node.lineno, node.args[0].value))
    ours = [i for i in found if i.target == "coursehub" or i.target.startswith("coursehub.")]
    return list(dict.fromkeys(ours))  # `from x import a, b` is one import of x


def all_imports() -> list[Import]:
    return [i for path in sorted(PACKAGE_DIR.rglob("*.py")) for i in imports_of(path)]


def unit_of_file(source: Path) -> str:
    return unit_of(module_name(PACKAGE_DIR.parent / source))


def wrong_way(imports: list[Import]) -> list[str]:
    problems = []
    for edge in imports:
        here, there = unit_of_file(edge.source), unit_of(edge.target)
        if here == there:
            continue
        if here not in LAYER_OF or there not in LAYER_OF:
            unknown = here if here not in LAYER_OF else there
            problems.append(f"{edge}: coursehub.{unknown} has no layer in LAYERS")
            continue
        mine, theirs = LAYER_OF[here], LAYER_OF[there]
        if theirs > mine or (theirs == mine and mine in SAME_LAYER_FORBIDDEN):
            problems.append(
                f"{edge}: {here} (layer {mine}) may not import {there} (layer {theirs})"
            )
    return problems


def cycles(imports: list[Import]) -> list[str]:
    """Strongly connected groups of units (Tarjan), each named with the imports that join it."""
    graph: dict[str, set[str]] = defaultdict(set)
    witness: dict[tuple[str, str], Import] = {}
    for edge in imports:
        here, there = unit_of_file(edge.source), unit_of(edge.target)
        if here != there:
            graph[here].add(there)
            witness.setdefault((here, there), edge)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[set[str]] = []

    def visit(unit: str) -> None:
        index[unit] = low[unit] = len(index)
        stack.append(unit)
        for other in sorted(graph[unit]):
            if other not in index:
                visit(other)
                low[unit] = min(low[unit], low[other])
            elif other in stack:
                low[unit] = min(low[unit], index[other])
        if low[unit] == index[unit]:
            group = set()
            while True:
                member = stack.pop()
                group.add(member)
                if member == unit:
                    break
            if len(group) > 1:
                groups.append(group)

    for unit in sorted(graph):
        if unit not in index:
            visit(unit)
    return [
        f"cycle between {sorted(group)}: "
        + "; ".join(str(witness[(a, b)]) for a in sorted(group) for b in sorted(graph[a] & group))
        for group in groups
    ]


def test_every_import_points_down_the_layers():
    problems = wrong_way(all_imports())
    assert not problems, "imports against the layer order:\n" + "\n".join(problems)


def test_no_import_cycle_between_packages():
    problems = cycles(all_imports())
    assert not problems, "\n".join(problems)


def test_the_top_level_holds_only_neutral_modules_and_entry_points():
    top_level = {path.stem for path in PACKAGE_DIR.glob("*.py")}
    misplaced = sorted(top_level - ALLOWED_TOP_LEVEL)
    assert not misplaced, "top-level modules that belong to a package: " + ", ".join(
        f"coursehub/{stem}.py" for stem in misplaced
    )


def test_every_package_has_a_layer():
    packages = {path.parent.name for path in PACKAGE_DIR.glob("*/__init__.py")}
    assert packages <= set(LAYER_OF), f"packages with no layer: {sorted(packages - set(LAYER_OF))}"


def test_service_api_handler_modules_import_only_the_base_and_only_at_the_top():
    # JupyterHub's apihandlers/ shape: every module builds on base.py, none on another, so
    # the routes list can be joined without a lazy import to break a cycle.
    problems = []
    for path in sorted((PACKAGE_DIR / "service" / "api").glob("*.py")):
        tree = ast.parse(path.read_text())
        top_level = {id(node) for node in tree.body}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom) and id(node) not in top_level:
                problems.append(f"{path.name}:{node.lineno}: an import inside a function")
        if path.name == "__init__.py":
            continue
        problems += [
            f"{edge}: a handler module imports another"
            for edge in imports_of(path)
            if edge.target.startswith("coursehub.service.api")
            and edge.target != "coursehub.service.api.base"
        ]
    assert not problems, "\n".join(problems)


def test_the_checker_sees_lazy_and_string_imports(tmp_path, monkeypatch):
    # The checks above are only as good as the parser: a function-level import and an
    # import_module literal must both be found.
    fake = tmp_path / "coursehub"
    (fake / "gpu").mkdir(parents=True)
    (fake / "hub").mkdir()
    for init in (fake / "__init__.py", fake / "gpu/__init__.py", fake / "hub/__init__.py"):
        init.write_text("")
    (fake / "hub/profiles.py").write_text("")
    (fake / "gpu/availability.py").write_text(
        "import importlib\n"
        "def labels():\n"
        "    from coursehub.hub.profiles import GPU_PRODUCT_LABEL\n"
        "    return importlib.import_module('coursehub.hub')\n"
    )
    (fake / "hub/spawner.py").write_text("from ..gpu import availability\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE_DIR", fake)
    found = [str(i) for i in all_imports()]
    assert found == [
        "coursehub/gpu/availability.py:3 imports coursehub.hub.profiles",
        "coursehub/gpu/availability.py:4 imports coursehub.hub",
        "coursehub/hub/spawner.py:1 imports coursehub.gpu.availability",
    ]
    assert wrong_way(all_imports()) == [
        f"{found[0]}: gpu (layer 2) may not import hub (layer 3)",
        f"{found[1]}: gpu (layer 2) may not import hub (layer 3)",
    ]
    assert cycles(all_imports()) == [f"cycle between ['gpu', 'hub']: {found[0]}; {found[2]}"]
