"""The map stays complete: every package and module under ``coursehub/`` has a row in
``docs/architecture.md``'s tables, and every top-level package a row in README.md's layout
table.

The rules, kept simple so a failure says what to add:
- a package (a folder with ``__init__.py``) is on the map when a table row of
  docs/architecture.md names it: ``coursehub.pkg``, or a module in it
  (``coursehub.pkg.mod``);
- a module is on the map when a row names it (``coursehub.pkg.mod``), or names its package
  and lists the module in backticks (`` `mod` ``, `` `api.mod` ``, `` `mod`: ... ``);
  top-level modules belong to the package ``coursehub``;
- a top-level package ``coursehub/pkg/`` has a row in README.md's table under "## Layout"
  whose first cell is `` `coursehub/pkg/` ``.
Files that are not modules of a package (``__init__``, ``__main__``, Alembic migrations,
Jupyter config files in folders without ``__init__.py``) need no row.
"""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "coursehub"
CODE = re.compile(r"`([^`]+)`")


def packages(root: Path = PACKAGE) -> list[str]:
    """Dotted names of the packages under ``root`` (``coursehub`` itself excluded)."""
    return sorted(
        ".".join(init.parent.relative_to(root.parent).parts)
        for init in root.rglob("__init__.py")
        if init.parent != root
    )


def modules(root: Path = PACKAGE) -> list[str]:
    """Dotted names of the modules of packages under ``root`` (dunder files excluded)."""
    return sorted(
        ".".join(path.with_suffix("").relative_to(root.parent).parts)
        for path in root.rglob("*.py")
        if not path.name.startswith("__") and (path.parent / "__init__.py").exists()
    )


def table_rows(markdown: str, heading: str | None = None) -> list[str]:
    """The body rows of the Markdown tables (under ``heading`` only, when given)."""
    if heading is not None:
        found = re.search(rf"^{re.escape(heading)}$", markdown, re.M)
        if found is None:
            raise AssertionError(f"no section {heading!r}")
        following = re.search(r"^#{1,2} ", markdown[found.end() :], re.M)
        end = found.end() + following.start() if following else len(markdown)
        markdown = markdown[found.end() : end]
    return [
        line
        for line in markdown.splitlines()
        if line.startswith("|") and not re.fullmatch(r"\|[\s|:-]+\|?", line.strip())
    ]


def names_in(row: str) -> list[str]:
    return CODE.findall(row)


def names_package(row: str, package: str) -> bool:
    return any(name == package or name.startswith(f"{package}.") for name in names_in(row))


def lists_module(row: str, module: str) -> bool:
    """The row lists ``module`` (its last part) in backticks, alone or dotted."""
    short = module.rsplit(".", 1)[-1]
    return any(short in re.split(r"\W+", name) for name in names_in(row))


def unmapped(rows: list[str], all_packages: list[str], all_modules: list[str]) -> list[str]:
    missing = [
        f"package {package}"
        for package in all_packages
        if not any(names_package(row, package) for row in rows)
    ]
    for module in all_modules:
        package = module.rsplit(".", 1)[0]
        named = any(re.search(rf"`{re.escape(module)}\b", row) for row in rows)
        listed = any(names_package(row, package) and lists_module(row, module) for row in rows)
        if not (named or listed):
            missing.append(f"module {module}")
    return missing


def readme_missing(readme: str, top_packages: list[str]) -> list[str]:
    first_cells = {row.split("|")[1].strip() for row in table_rows(readme, "## Layout")}
    return [
        package for package in top_packages if f"`{package.replace('.', '/')}/`" not in first_cells
    ]


def test_every_package_and_module_has_a_row_in_the_architecture_tables():
    rows = table_rows((REPO / "docs" / "architecture.md").read_text())
    missing = unmapped(rows, packages(), modules())
    assert not missing, (
        "docs/architecture.md's tables (Layers, Parts) do not name these; add a row to the "
        "Parts table (`coursehub.pkg.mod` | owns | I/O), or list the module in its package's "
        "row:\n  " + "\n  ".join(missing)
    )


def test_every_top_level_package_has_a_row_in_the_readme_layout_table():
    top = [package for package in packages() if package.count(".") == 1]
    missing = readme_missing((REPO / "README.md").read_text(), top)
    assert not missing, (
        "README.md's layout table (## Layout) has no row for these packages; add "
        "`| `coursehub/pkg/` | what it holds |`:\n  " + "\n  ".join(missing)
    )


def test_the_rules_find_what_is_missing(tmp_path):
    root = tmp_path / "coursehub"
    for path in ("__init__.py", "names.py", "gpu/__init__.py", "gpu/policy.py", "gpu/nodes.py"):
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text("")
    (root / "gpu" / "migrations").mkdir()
    (root / "gpu" / "migrations" / "env.py").write_text("")  # not in a package: no row
    assert packages(root) == ["coursehub.gpu"]
    assert modules(root) == ["coursehub.gpu.nodes", "coursehub.gpu.policy", "coursehub.names"]

    doc = (
        "## Parts\n\n| module | owns |\n| --- | --- |\n"
        "| `coursehub.gpu.policy` | admission |\n| `coursehub.names` | names |\n"
    )
    assert unmapped(table_rows(doc), packages(root), modules(root)) == [
        "module coursehub.gpu.nodes"
    ]
    listed = doc + "| `coursehub.gpu` | `nodes`: GPUs of nodes |\n"
    assert unmapped(table_rows(listed), packages(root), modules(root)) == []
    # Named in prose, not in a table: not on the map.
    prose = "`coursehub.gpu.nodes` is described here.\n" + doc
    assert "module coursehub.gpu.nodes" in unmapped(
        table_rows(prose), packages(root), modules(root)
    )

    readme = "## Layout\n\n| path | what |\n| --- | --- |\n| `coursehub/hub/` | the hub |\n"
    assert readme_missing(readme, ["coursehub.gpu", "coursehub.hub"]) == ["coursehub.gpu"]
