"""ai-101's first assignment, checked with nbgrader's own commands: the student version has
no solutions or hidden tests, and the autograder gives the scores the tests rely on."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from answers import EXPECTED_SCORES, MAX_SCORE, full_marks_answers, partial_answers


def nbgrader(course: Path, *args: str) -> str:
    # nbgrader runs the `alembic` command of its environment to create the gradebook.
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    result = subprocess.run(
        [sys.executable, "-m", "nbgrader", *args],
        cwd=course,
        env={**os.environ, "PATH": path},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


@pytest.fixture(scope="module")
def graded(tmp_path_factory, repo_root: Path) -> dict:
    course = tmp_path_factory.mktemp("ps1")
    shutil.copytree(repo_root / "courses/ai-101/source", course / "source")
    (course / "nbgrader_config.py").write_text(
        f"c.CourseDirectory.root = {str(course)!r}\nc.CourseDirectory.course_id = 'ai-101'\n"
    )
    nbgrader(course, "generate_assignment", "ps1", "--force")
    released = json.loads((course / "release/ps1/ps1.ipynb").read_text())
    answers = {
        "full": full_marks_answers(released),
        "partial": partial_answers(released),
        "untouched": released,
    }
    for student, notebook in answers.items():
        folder = course / "submitted" / student / "ps1"
        folder.mkdir(parents=True)
        (folder / "ps1.ipynb").write_text(json.dumps(notebook))
    nbgrader(course, "autograde", "ps1", "--force")
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        scores = {
            student: (
                gradebook.find_submission("ps1", student).score,
                gradebook.find_submission("ps1", student).max_score,
            )
            for student in answers
        }
    return {"released": (course / "release/ps1/ps1.ipynb").read_text(), "scores": scores}


def test_release_has_neither_solutions_nor_hidden_tests(graded):
    text = graded["released"]
    assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text
    assert "1.0 / (1.0 + np.exp(-z))" not in text  # the solution body is gone
    assert "raise NotImplementedError()" in text
    assert "assert sigmoid(0) == 0.5" in text  # visible tests stay


@pytest.mark.parametrize("student", ["full", "partial"])
def test_autograde_gives_the_expected_scores(graded, student):
    assert graded["scores"][student] == (EXPECTED_SCORES[student], MAX_SCORE)


def test_untouched_release_scores_nothing(graded):
    assert graded["scores"]["untouched"] == (0.0, MAX_SCORE)
