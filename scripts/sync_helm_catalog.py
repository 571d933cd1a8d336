#!/usr/bin/env python3
"""Copy the course catalog (courses/) into the Helm chart and record its checksum.

The chart cannot read files outside itself, so it carries a copy in
``helm/coursehub/files/courses/`` and renders it as the catalog ConfigMap. The copy's
checksum goes into ``jupyterhub.hub.annotations."checksum/catalog"`` of the chart's
values.yaml: a catalog change then changes the hub's pod template and restarts the hub.
The chart refuses to render when the annotation does not match its files.

    scripts/sync_helm_catalog.py            # sync (make helm-catalog)
    scripts/sync_helm_catalog.py --check    # exit 1 if the chart's copy is stale

Callers may rely on: ``catalog_files`` and ``catalog_checksum`` are pure and compute
exactly what the chart's ``coursehub.catalog.checksum`` template computes.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import shutil
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CHART_DIR = REPO_ROOT / "helm" / "coursehub"
CHART_CATALOG = Path("files") / "courses"
CHECKSUM_LINE = re.compile(r'^(\s*checksum/catalog:\s*)"[^"]*"', re.MULTILINE)


def catalog_files(courses_dir: Path) -> dict[str, bytes]:
    """Every file of every course folder, by path relative to ``courses_dir`` (posix).

    Skips what the catalog loader skips: entries whose names start with ``.`` or ``_``,
    and loose files beside the course folders.
    """
    files: dict[str, bytes] = {}
    for folder in sorted(courses_dir.iterdir()):
        if not folder.is_dir() or folder.name.startswith((".", "_")):
            continue
        for path in sorted(folder.rglob("*")):
            relative = path.relative_to(courses_dir)
            if path.is_file() and not any(p.startswith((".", "_")) for p in relative.parts):
                files[relative.as_posix()] = path.read_bytes()
    return files


def catalog_checksum(files: dict[str, bytes]) -> str:
    """sha256 of the lines "files/courses/<path> <sha256 of content>", in path order."""
    lines = "".join(
        f"{CHART_CATALOG.as_posix()}/{path} {hashlib.sha256(content).hexdigest()}\n"
        for path, content in sorted(files.items())
    )
    return hashlib.sha256(lines.encode()).hexdigest()


def set_checksum(values_text: str, checksum: str) -> str:
    """values.yaml with its ``checksum/catalog`` line set to ``checksum``."""
    updated, count = CHECKSUM_LINE.subn(rf'\g<1>"{checksum}"', values_text)
    if count != 1:
        raise ValueError(
            f'values.yaml must have exactly one `checksum/catalog: "..."` line, has {count}'
        )
    return updated


def sync(courses_dir: Path, chart_dir: Path) -> bool:
    """Make the chart's copy equal to ``courses_dir``; return whether anything changed."""
    wanted = catalog_files(courses_dir)
    target = chart_dir / CHART_CATALOG
    changed = (catalog_files(target) if target.is_dir() else {}) != wanted
    if changed:
        shutil.rmtree(target, ignore_errors=True)
        for relative, content in wanted.items():
            path = target / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
    values = chart_dir / "values.yaml"
    text = values.read_text()
    updated = set_checksum(text, catalog_checksum(wanted))
    if updated != text:
        values.write_text(updated)
        changed = True
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--courses", type=Path, default=REPO_ROOT / "courses")
    parser.add_argument("--chart", type=Path, default=CHART_DIR)
    parser.add_argument("--check", action="store_true", help="only report a stale copy")
    args = parser.parse_args(argv)
    if args.check:
        wanted = catalog_files(args.courses)
        have = catalog_files(args.chart / CHART_CATALOG)
        text = (args.chart / "values.yaml").read_text()
        if have != wanted or set_checksum(text, catalog_checksum(wanted)) != text:
            print(
                f"{args.chart / CHART_CATALOG} is out of date with {args.courses}: "
                "run `make helm-catalog`",
                file=sys.stderr,
            )
            return 1
        return 0
    changed = sync(args.courses, args.chart)
    print(f"{args.chart / CHART_CATALOG}: {'updated' if changed else 'up to date'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
