"""nbgrader's autograde, split around execution: the service does everything but run code.

``prepare`` does what ``nbgrader autograde`` does before executing a notebook (the student
and submission rows with the submission's timestamp, the autograded folder with the
source's data files, zero for missing notebooks, and the sanitizing preprocessors:
ClearOutput, DeduplicateIds, OverwriteKernelspec, OverwriteCells, CheckCellMetadata).
``record`` does what it does after (IgnorePattern, LimitOutput,
SaveAutoGrades, AssignLatePenalties, CheckCellMetadata; its ClearMetadataPreprocessor is
off unless configured) on the notebook with the grading
pod's outputs, and writes it to ``autograded/``. Both use nbgrader's own preprocessor classes
and gradebook, so the formgrader, manual grading, feedback and exports see an ordinary
nbgrader course. They run in the service (blocking: call them in a worker thread).
"""

from __future__ import annotations

import copy
import os
import shutil
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path

import nbformat
from nbgrader import utils
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.preprocessors import (
    AssignLatePenalties,
    CheckCellMetadata,
    ClearOutput,
    DeduplicateIds,
    IgnorePattern,
    LimitOutput,
    OverwriteCells,
    OverwriteKernelspec,
    SaveAutoGrades,
)

from coursehub.grading.feedback import FEEDBACK_OUTPUTS, FEEDBACK_RUN, METADATA_KEY
from coursehub.grading.protocol import CellResult, merge_outputs

IGNORED = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", ".*"]
TAMPERED = (
    "Note: this cell is read-only in the assignment but was changed in your submission; "
    "the original was restored and graded.\n"
)


@dataclass
class PreparedNotebook:
    name: str
    notebook: dict
    tampered: list[int] = field(default_factory=list)  # indexes of restored locked cells


@dataclass
class PreparedSubmission:
    student: str
    notebooks: list[PreparedNotebook]
    files: Path  # the autograded folder: what the submission's code may open


def _resources(course: CourseFolder, assignment: str, notebook: str, student: str) -> dict:
    return {
        "nbgrader": {
            "notebook": notebook,
            "assignment": assignment,
            "student": student,
            "db_url": course.db_url,
            "course_id": course.course_id,
        },
        "unique_key": notebook,
        "output_files_dir": f"{notebook}_files",
    }


@dataclass(frozen=True)
class CourseFolder:
    root: Path
    course_id: str
    db_url: str

    def submitted(self, student: str, assignment: str) -> Path:
        return self.root / "submitted" / student / assignment

    def autograded(self, student: str, assignment: str) -> Path:
        return self.root / "autograded" / student / assignment


def prepare(course: CourseFolder, assignment: str, student: str) -> PreparedSubmission:
    submitted = course.submitted(student, assignment)
    target = course.autograded(student, assignment)
    with Gradebook(course.db_url, course.course_id) as gradebook:
        gradebook.update_or_create_student(student)
        timestamp = _timestamp(submitted)
        if timestamp is not None:
            gradebook.update_or_create_submission(assignment, student, timestamp=timestamp)
        else:
            gradebook.update_or_create_submission(assignment, student)
        known = {notebook.name for notebook in gradebook.find_assignment(assignment).notebooks}
        _zero_missing(gradebook, assignment, student, known, submitted)
    _copy_folder(submitted, target)
    _copy_source_files(course.root / "source" / assignment, target)
    notebooks = []
    for name in sorted(known):
        path = submitted / f"{name}.ipynb"
        if not path.exists():
            continue
        notebook = nbformat.read(path, as_version=4)
        resources = _resources(course, assignment, name, student)
        tampered = _tampered_cells(course, assignment, name, notebook)
        for preprocessor in (
            ClearOutput(),
            DeduplicateIds(),
            OverwriteKernelspec(),
            OverwriteCells(),
            CheckCellMetadata(),
        ):
            notebook, resources = preprocessor(notebook, resources)
        notebooks.append(PreparedNotebook(name, notebook, tampered))
    return PreparedSubmission(student, notebooks, target)


def record(
    course: CourseFolder,
    assignment: str,
    student: str,
    prepared: PreparedNotebook,
    results: list[CellResult],
    limits: dict,
    feedback_results: list[CellResult] | None = None,
    missing: str = "the grading pod returned nothing",
) -> None:
    """Score the grading run's outputs; keep the feedback run's (when the notebook had
    one) in the notebook for ``HideHiddenTests``: each code cell's
    ``metadata.coursehub.feedback_outputs``, and ``metadata.coursehub.feedback_run``."""
    notebook = merge_outputs(copy.deepcopy(prepared.notebook), results, limits, missing)
    shown = None
    if feedback_results is not None:
        shown = merge_outputs(copy.deepcopy(prepared.notebook), feedback_results, limits, missing)
    for index in prepared.tampered:
        # stdout: nbgrader fails a test cell with any stderr output.
        note = nbformat.v4.new_output("stream", name="stdout", text=TAMPERED)
        for version in (notebook, shown):
            if version is not None:
                version["cells"][index].setdefault("outputs", []).append(note)
    if shown is not None:
        notebook["metadata"].setdefault(METADATA_KEY, {})[FEEDBACK_RUN] = True
        for cell, shown_cell in zip(notebook["cells"], shown["cells"], strict=True):
            if cell.get("cell_type") == "code":
                marks = cell.setdefault("metadata", {}).setdefault(METADATA_KEY, {})
                marks[FEEDBACK_OUTPUTS] = shown_cell["outputs"]
    notebook = nbformat.from_dict(notebook)
    resources = _resources(course, assignment, prepared.name, student)
    for preprocessor in (
        IgnorePattern(),
        LimitOutput(),
        SaveAutoGrades(),
        AssignLatePenalties(),
        CheckCellMetadata(),
    ):
        notebook, resources = preprocessor(notebook, resources)
    target = course.autograded(student, assignment) / f"{prepared.name}.ipynb"
    temporary = target.with_name(f".{target.name}.tmp")
    nbformat.write(notebook, temporary)
    os.replace(temporary, target)


def _timestamp(submitted: Path):
    path = submitted / "timestamp.txt"
    if not path.exists() or not path.read_text().strip():
        return None
    return utils.parse_utc(path.read_text().strip())


def _zero_missing(gradebook, assignment: str, student: str, known: set, submitted: Path) -> None:
    """A notebook the student did not hand in scores zero, as in nbgrader."""
    for name in known:
        if (submitted / f"{name}.ipynb").exists():
            continue
        try:
            submission = gradebook.find_submission_notebook(name, assignment, student)
        except MissingEntry:
            continue
        for grade in submission.grades:
            grade.auto_score = 0
            grade.needs_manual_grade = False
    gradebook.db.commit()


def _ignored(name: str) -> bool:
    return any(fnmatch(name, pattern) for pattern in IGNORED)


def _copy_folder(source: Path, target: Path) -> None:
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source)
        if any(_ignored(part) for part in relative.parts) or path.is_symlink():
            continue
        if path.is_dir():
            (target / relative).mkdir(exist_ok=True)
        elif path.is_file():
            shutil.copy2(path, target / relative)


def _copy_source_files(source: Path, target: Path) -> None:
    """The assignment's data files overwrite the student's copies (never notebooks)."""
    if not source.is_dir():
        return
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source)
        if path.suffix == ".ipynb" or any(_ignored(part) for part in relative.parts):
            continue
        if path.is_file() and not path.is_symlink():
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target / relative)


def _tampered_cells(course: CourseFolder, assignment: str, name: str, notebook) -> list[int]:
    """Indexes of read-only cells whose submitted source differs from the released one
    (OverwriteCells restores them; the feedback says so)."""
    released_path = course.root / "release" / assignment / f"{name}.ipynb"
    if not released_path.exists():
        return []
    released = {
        cell.metadata["nbgrader"]["grade_id"]: cell.source
        for cell in nbformat.read(released_path, as_version=4).cells
        if cell.metadata.get("nbgrader", {}).get("grade_id")
    }
    return [
        index
        for index, cell in enumerate(notebook.cells)
        if utils.is_locked(cell)
        and cell.metadata.get("nbgrader", {}).get("grade_id") in released
        and cell.source.strip() != released[cell.metadata["nbgrader"]["grade_id"]].strip()
    ]
