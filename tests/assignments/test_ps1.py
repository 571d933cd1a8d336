"""ai-101's ps1 under nbgrader's own Python API: the source notebook is valid nbgrader source,
the student version has no solutions or hidden tests, and the autograder gives the scores
``answers.expected_scores()`` promises (the end-to-end tests rely on them)."""

from __future__ import annotations

import json
import os
import shutil
import sys
import warnings
from pathlib import Path

import nbformat
import pytest
from answers import MAX_SCORE, expected_scores, full_marks_answers, partial_answers
from nbgrader.api import Gradebook
from nbgrader.apps import NbGraderAPI
from nbgrader.coursedir import CourseDirectory
from nbgrader.nbgraderformat import MetadataValidator
from sqlalchemy.exc import SAWarning
from traitlets.config import Config

STUDENTS = ("full", "partial", "untouched")


def source_notebook(repo_root: Path) -> dict:
    return json.loads((repo_root / "courses/ai-101/source/ps1/ps1.ipynb").read_text())


def succeeded(result: dict) -> None:
    assert result["success"], result.get("log", "") + result.get("error", "")


@pytest.fixture(scope="module")
def graded(tmp_path_factory, repo_root: Path) -> dict:
    """Generates ps1 once, submits the three students' notebooks and autogrades them."""
    course = tmp_path_factory.mktemp("ps1")
    shutil.copytree(repo_root / "courses/ai-101/source", course / "source")
    config = Config()
    config.CourseDirectory.root = str(course)
    config.CourseDirectory.course_id = "ai-101"
    config.CourseDirectory.db_url = f"sqlite:///{course / 'gradebook.db'}"
    config.Exchange.root = str(course / "exchange")  # never the machine's /srv/nbgrader
    with pytest.MonkeyPatch.context() as patch, warnings.catch_warnings():
        # nbgrader 0.9.6's autograde warns under SQLAlchemy 2 while it creates the submission
        # rows; the rows are stored (the scores below are read back from the database).
        warnings.filterwarnings("ignore", "Object of type .* not in session", SAWarning)
        # The gradebook runs its environment's `alembic` command when it creates the database.
        patch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
        api = NbGraderAPI(CourseDirectory(config=config), config=config)
        succeeded(api.generate_assignment("ps1"))
        released = json.loads((course / "release/ps1/ps1.ipynb").read_text())
        notebooks = {
            "full": full_marks_answers(released),
            "partial": partial_answers(released),
            "untouched": released,
        }
        with Gradebook(config.CourseDirectory.db_url, "ai-101") as gradebook:
            for student in STUDENTS:
                gradebook.update_or_create_student(student)
        for student, notebook in notebooks.items():
            folder = course / "submitted" / student / "ps1"
            folder.mkdir(parents=True)
            (folder / "ps1.ipynb").write_text(json.dumps(notebook))
            succeeded(api.autograde("ps1", student, create=False))
        with Gradebook(config.CourseDirectory.db_url, "ai-101") as gradebook:
            submissions = {s: gradebook.find_submission("ps1", s) for s in STUDENTS}
            scores = {s: (sub.score, sub.max_score) for s, sub in submissions.items()}
            failed = {
                student: sorted(
                    grade.name
                    for grade in submission.notebooks[0].grades
                    if grade.score < grade.max_score
                )
                for student, submission in submissions.items()
            }
    return {"released": released, "scores": scores, "failed_tests": failed}


def test_source_is_valid_nbgrader_source_without_outputs(repo_root):
    notebook = nbformat.reads(json.dumps(source_notebook(repo_root)), as_version=4)
    nbformat.validate(notebook)
    MetadataValidator().validate_nb(notebook)  # raises on a bad nbgrader cell
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(not cell.outputs and cell.execution_count is None for cell in code)
    points = [cell.metadata.nbgrader.get("points", 0) for cell in notebook.cells]
    assert sum(points) == MAX_SCORE == expected_scores()["full"]


def test_release_has_neither_solutions_nor_hidden_tests(graded):
    text = json.dumps(graded["released"])
    assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text
    assert "1.0 / (1.0 + np.exp(-z))" not in text  # a solution body
    assert "finite differences" not in text  # a hidden test's comment
    code = "".join(
        "".join(cell["source"])
        for cell in graded["released"]["cells"]
        if cell["cell_type"] == "code"
    )
    assert code.count("raise NotImplementedError()") == 6  # one per solution cell
    assert "assert sigmoid(0) == 0.5" in text  # visible tests stay
    assert "rng = np.random.default_rng(101)" in text  # and the given code


def test_full_marks_answers_get_the_maximum(graded):
    assert graded["scores"]["full"] == (expected_scores()["full"], MAX_SCORE)
    assert graded["failed_tests"]["full"] == []


def test_partial_answers_fail_only_the_training_test(graded):
    assert graded["scores"]["partial"] == (expected_scores()["partial"], MAX_SCORE)
    assert graded["failed_tests"]["partial"] == ["test-train"]


def test_untouched_release_scores_nothing(graded):
    assert graded["scores"]["untouched"] == (0.0, MAX_SCORE)
    assert len(graded["failed_tests"]["untouched"]) == 6


def test_answers_leave_the_released_notebook_alone(graded):
    released = graded["released"]
    before = json.dumps(released)
    answered = full_marks_answers(released)
    assert json.dumps(released) == before
    assert json.dumps(answered) != before


def test_answers_refuse_a_notebook_without_the_solution_cells():
    with pytest.raises(ValueError, match="no solution cells"):
        partial_answers({"cells": []})
