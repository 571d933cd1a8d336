"""What the service does with a grading pod's result files, whatever they hold: a garbled
or forged one costs its own submission (a plain error, zero) and nothing else.

The runner checks every reply of a submission's process before it writes a result, so a
real pod cannot produce these; the service checks them again as if anyone could, and these
tests write the files a compromised pod might write, next to honest ones, into a real
nbgrader course folder graded by the service's own ``GradingRun``.
"""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from answers import full_marks_answers
from course_folder import COURSE_ID, db_url, generate, scores, submit
from grading_harness import course_assignment

from coursehub.grading import nbgrader_steps
from coursehub.grading.dispatch import GradingRun, Progress
from coursehub.grading.nbgrader_steps import CourseFolder
from coursehub.grading.protocol import code_cells
from coursehub.grading.settings import GradingSettings
from coursehub.grading.transport import BatchTickets

FORGED = [
    # The review's forged reply: a traceback that is not a list once killed the whole job.
    {"output_type": "error", "ename": "E", "evalue": "", "traceback": 5},
    {"output_type": "stream", "name": "stdout", "text": ["not", "text"]},
    {"output_type": "display_data", "data": {"text/plain": 7}, "metadata": {}},
]


def ok_cells(prepared) -> list[dict]:
    """Every code cell passed (what an honest pod reports for a full-marks notebook)."""
    return [
        {"index": cell["index"], "status": "ok", "execution_count": 1, "outputs": []}
        for cell in code_cells(prepared.notebooks[0].notebook)
    ]


@pytest.fixture
def prepared_run(tmp_path):
    root = tmp_path / "course"
    root.mkdir()
    released = generate(root)
    students = ["forger", "garbler", "honest"]
    for student in students:
        submit(root, student, full_marks_answers(released))
    course, assignment = course_assignment()
    folder = CourseFolder(root, COURSE_ID, db_url(root))
    reports: list[Progress] = []

    async def report(progress):
        reports.append(progress)

    run = GradingRun(
        None,
        GradingSettings(service_url="http://127.0.0.1:1/services/coursehub/"),
        course,
        assignment,
        folder,
        tmp_path / "work",
        uuid.uuid4().hex,
        report,
        BatchTickets(),
    )
    for student in students:
        run.prepared[student] = nbgrader_steps.prepare(folder, assignment.name, student)
    batch = tmp_path / "batch"
    (batch / "out").mkdir(parents=True)
    return run, batch, students, root


@pytest.mark.parametrize("forged", FORGED)
def test_a_forged_result_costs_only_its_own_submission(prepared_run, forged):
    run, batch, students, root = prepared_run
    forger_cells = ok_cells(run.prepared["forger"])
    forger_cells[1]["outputs"] = [forged]
    results = {
        "forger": {"key": "forger", "notebooks": [{"name": "ps1", "cells": forger_cells}]},
        "garbler": "{not json",
        "honest": {
            "key": "honest",
            "notebooks": [{"name": "ps1", "cells": ok_cells(run.prepared["honest"])}],
        },
    }
    for index, student in enumerate(students):
        body = results[student]
        (batch / "out" / f"{index}.json").write_text(
            body if isinstance(body, str) else json.dumps(body)
        )
    progress = Progress(total=3)

    async def collect():
        await run._collect(batch, students, set(), progress)

    asyncio.run(collect())
    run.gradebook_thread.shutdown(wait=True)
    assert progress.done == 3 and progress.failed == 0
    assert progress.notes["forger"].startswith("graded zero: unusable grading result")
    assert "output 0" in progress.notes["forger"]
    assert progress.notes["garbler"].startswith("graded zero: unusable grading result")
    graded = scores(root)
    assert graded == {"forger": 0.0, "garbler": 0.0, "honest": 10.0}
