"""An nbgrader course folder for ai-101's ps1 with submissions, outside any hub: what the
grading tests and ``bench/autograde.py`` grade with coursehub's pods and with nbgrader's own
``autograde``, from the same files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from answers import full_marks_answers, partial_answers

from coursehub.grading.feedback import nbgrader_config_lines as feedback_config

REPO_ROOT = Path(__file__).resolve().parents[2]
COURSE_ID = "ai-101"
ASSIGNMENT = "ps1"


def nbgrader_env() -> dict[str, str]:
    # nbgrader's gradebook runs the `alembic` command of its environment.
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}


def db_url(root: Path) -> str:
    return f"sqlite:///{root / 'gradebook.db'}"


def write_config(root: Path) -> None:
    (root / "nbgrader_config.py").write_text(
        f"c.CourseDirectory.root = {str(root)!r}\n"
        f"c.CourseDirectory.course_id = {COURSE_ID!r}\n"
        f"c.CourseDirectory.db_url = {db_url(root)!r}\n"
        f"c.Exchange.root = {str(root / 'exchange')!r}\n" + feedback_config()
    )


def nbgrader(root: Path, *args: str, timeout: float = 3600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "nbgrader", *args],
        cwd=root,
        env=nbgrader_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def generate(root: Path) -> dict:
    """ps1's source copied in, generated with nbgrader; returns the released notebook."""
    shutil.copytree(REPO_ROOT / "courses" / COURSE_ID / "source", root / "source")
    write_config(root)
    result = nbgrader(root, "generate_assignment", ASSIGNMENT, "--force")
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads((root / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").read_text())


def submit(root: Path, student: str, notebook: dict, files: dict[str, str] | None = None) -> None:
    folder = root / "submitted" / student / ASSIGNMENT
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{ASSIGNMENT}.ipynb").write_text(json.dumps(notebook))
    (folder / "timestamp.txt").write_text(
        datetime(2026, 12, 1, tzinfo=UTC).strftime("%Y-%m-%d %H:%M:%S.%f %Z")
    )
    for name, text in (files or {}).items():
        (folder / name).write_text(text)


def honest_course(root: Path, students: int) -> dict[str, str]:
    """``students`` submissions, alternately full marks and partly wrong; returns
    ``{student: "full" | "partial"}``."""
    released = generate(root)
    kinds = {}
    for number in range(students):
        student = f"student{number:03d}"
        kind = "full" if number % 2 == 0 else "partial"
        answered = full_marks_answers(released) if kind == "full" else partial_answers(released)
        submit(root, student, answered)
        kinds[student] = kind
    return kinds


def scores(root: Path) -> dict[str, float]:
    from nbgrader.api import Gradebook, MissingEntry

    found = {}
    with Gradebook(db_url(root), COURSE_ID) as gradebook:
        for student in gradebook.students:
            try:
                found[student.id] = gradebook.find_submission(ASSIGNMENT, student.id).score
            except MissingEntry:
                continue
    return found
