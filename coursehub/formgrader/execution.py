"""nbgrader runs no notebook in a course folder: coursehub grades in sandboxed pods.

The course's ``nbgrader_config.py`` (written by the service, read by every nbgrader command
run in the folder and by the course's formgrader) gets ``nbgrader_config_lines()``:

- ``Autograde`` and ``GenerateSolution`` (the converters that execute notebooks) build
  ``ExecutionRefused`` as their exporter. It raises before the converter writes anything, so
  a refused Autograde leaves the pod-graded ``autograded/`` folder and the gradebook as they
  were; the message says how to autograde.
- nbgrader's ``Execute`` preprocessor (also the Validator's) asks for a kernel that does not
  exist, so any other way to it fails without running a cell.

The service's own steps are unaffected: ``coursehub.grading.nbgrader_steps`` builds nbgrader's
preprocessors without configuration, and ``generate_assignment`` / ``generate_feedback``
execute nothing.
"""

from __future__ import annotations

from nbconvert.exporters import NotebookExporter
from nbgrader.converters.base import NbGraderException

from coursehub.formgrader.config import NO_KERNEL

AUTOGRADE_COMMAND = "coursehub assignment autograde"


def autograde_command(course: str, assignment: str, student: str | None = None) -> str:
    command = f"{AUTOGRADE_COMMAND} {course} {assignment}"
    return f"{command} --student {student}" if student else command


def refusal(course: str, assignment: str, student: str | None = None) -> str:
    """What a person reads when nbgrader is asked to run student code in a course folder
    (short lines: the formgrader shows it in a box that does not wrap)."""
    return (
        "coursehub runs no notebook in the formgrader or the course folder:\n"
        "student code runs only in sandboxed grading pods. To autograde, run:\n\n"
        f"    {autograde_command(course, assignment, student)}\n\n"
        "It shows progress and records the grades in this gradebook."
    )


class ExecutionRefused(NotebookExporter):
    """nbgrader's converters build their exporter after choosing what to convert and before
    touching the destination: refusing here changes nothing on disk or in the gradebook."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        converter = self.parent
        coursedir = getattr(converter, "coursedir", None)
        course = getattr(coursedir, "course_id", "") or "COURSE"
        assignment = getattr(coursedir, "assignment_id", "") or "ASSIGNMENT"
        student = getattr(coursedir, "student_id", "*")
        message = refusal(course, assignment, None if student in ("", "*") else student)
        if converter is not None:
            converter.log.error(message)
        raise NbGraderException(message)


def nbgrader_config_lines() -> str:
    """For the course's nbgrader_config.py."""
    refused = f"{__name__}.{ExecutionRefused.__name__}"
    return (
        "# nbgrader executes no notebook here: grading pods do (coursehub.formgrader.execution).\n"
        f"c.Autograde.exporter_class = {refused!r}\n"
        f"c.GenerateSolution.exporter_class = {refused!r}\n"
        f"c.Execute.kernel_name = {NO_KERNEL!r}\n"
    )
