"""Course files for the catalog tests: a valid demo course and a writer.

``DEMO_COURSE`` is the text of a valid course.yaml for folder ``demo``; tests change one
line at a time with ``str.replace`` so the ``LINE_*`` numbers stay true.
"""

from __future__ import annotations

from pathlib import Path

from coursehub.catalog import load_course

DEMO_COURSE = """\
id: demo
title: Demo course
term: 2026-fall
staff:
  instructors: [teacher]
  tas: [helper]
students: [alice, bob]
environments:
  - slug: gpu
    display_name: Demo · 1 GPU
    image: example.org/gpu:1
    cpu: {guarantee: 1, limit: 2}
    memory: {guarantee: 1Gi, limit: 2Gi}
    gpu: {count: 1, product: NVIDIA-A100-SXM4-80GB}
    default: true
  - slug: cpu
    display_name: Demo · CPU
    image: example.org/cpu:1
"""
# Lines of DEMO_COURSE that the tests point at.
LINE_ID, LINE_TERM, LINE_TAS, LINE_STUDENTS = 1, 3, 6, 7
LINE_ENV0, LINE_CPU, LINE_MEMORY, LINE_GPU, LINE_ENV1_SLUG = 9, 12, 13, 14, 16


def write_course_files(
    root: Path, folder: str, text: str, roster: str | bytes | None = None
) -> Path:
    course_dir = root / folder
    course_dir.mkdir(parents=True, exist_ok=True)
    path = course_dir / "course.yaml"
    path.write_text(text, encoding="utf-8")
    if isinstance(roster, bytes):
        (course_dir / "roster.csv").write_bytes(roster)
    elif roster is not None:
        (course_dir / "roster.csv").write_text(roster, encoding="utf-8")
    return path


def problems_of(path: Path) -> list[tuple[str, int | None, str, str]]:
    course, problems = load_course(path)
    assert course is None, "a course with problems must not load"
    return [(p.path.name, p.line, p.field, p.message) for p in problems]
