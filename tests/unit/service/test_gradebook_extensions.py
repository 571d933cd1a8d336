"""A student's extension reaches nbgrader's gradebook (a real SQLite gradebook), so its
late-submission penalty judges against the student's own due date."""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from nbgrader.api import Gradebook
from nbgrader.plugins import LateSubmissionPlugin

from coursehub.service.workspace import Workspace

DUE = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
SUBMITTED = DUE + timedelta(hours=1)


def penalty(workspace: Workspace, student: str) -> float:
    """What autograde's AssignLatePenalties takes off 10 points with the "zero" method
    (it asks the plugin only when the gradebook says the submission is late), after
    recording the submission's time as ``nbgrader_steps.prepare`` does."""
    with Gradebook(workspace.db_url) as gradebook:
        submission = gradebook.update_or_create_submission("ps1", student, timestamp=SUBMITTED)
        late = submission.total_seconds_late
    if late <= 0:
        return 0
    return LateSubmissionPlugin(penalty_method="zero").late_submission_penalty(student, 10, late)


def test_the_late_penalty_follows_the_students_extension(tmp_path, monkeypatch):
    # nbgrader's gradebook runs the `alembic` command of this environment, as in the service.
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    workspace = Workspace(tmp_path, "ai-101", "sqlite://")
    workspace.prepare(None)
    workspace.set_assignment(
        "ps1", DUE, ["alice", "bob"], {"alice": timedelta(hours=2), "bob": None}
    )
    assert penalty(workspace, "alice") == 0  # an hour late by the course, on time for her
    assert penalty(workspace, "bob") == 10

    # Revoked: the next collect clears it, and the penalty is back.
    workspace.set_assignment("ps1", DUE, ["alice", "bob"], {"alice": None})
    assert penalty(workspace, "alice") == 10
