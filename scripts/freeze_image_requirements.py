#!/usr/bin/env python3
"""Freeze an image's requirements.in into requirements.txt (every package pinned).

    scripts/freeze_image_requirements.py images/notebook-cpu [images/hub ...]

Resolves with pip's own resolver (``pip install --dry-run --ignore-installed --report``)
for this machine's Python and platform, so nothing is installed: even the GPU image's
CUDA wheels are only resolved. Run it with the Python version the image uses (3.11).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path


def resolve(requirements_in: Path) -> list[tuple[str, str]]:
    """``(name, version)`` of every package pip would install for ``requirements_in``."""
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "report.json"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--dry-run",
                "--ignore-installed",
                "--report",
                str(report),
                "-r",
                str(requirements_in.resolve()),
            ],
            check=True,
            cwd=requirements_in.resolve().parent,
        )
        installs = json.loads(report.read_text())["install"]
    return sorted(
        (item["metadata"]["name"].lower(), item["metadata"]["version"]) for item in installs
    )


def render(image: str, pins: list[tuple[str, str]]) -> str:
    header = (
        f"# Frozen from {image}/requirements.in by scripts/freeze_image_requirements.py\n"
        f"# (Python {sys.version_info.major}.{sys.version_info.minor}, linux x86_64). "
        "Do not edit: change requirements.in and re-run.\n"
    )
    return header + "".join(f"{name}=={version}\n" for name, version in pins)


def main(argv: list[str]) -> int:
    for folder in map(Path, argv):
        pins = resolve(folder / "requirements.in")
        (folder / "requirements.txt").write_text(render(folder.as_posix(), pins))
        print(f"{folder}/requirements.txt: {len(pins)} packages")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
