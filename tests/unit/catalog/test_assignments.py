"""The ``assignments`` section of course.yaml: names, titles, due dates with a time zone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from catalog_files import DEMO_COURSE, problems_of

from coursehub.catalog import load_catalog

ASSIGNMENTS = """\
assignments:
  - name: ps1
    title: Problem set 1
    due: 2026-12-15T23:59:00+00:00
  - name: project
    title: Final project
    due: "2027-01-31T12:00:00-05:00"
    description: Train anything you like, then explain it.
"""
LINE_SECOND = len(DEMO_COURSE.splitlines()) + 5  # the "- name: project" line


def test_assignments_are_read_with_aware_due_dates(write_course):
    path = write_course(DEMO_COURSE + ASSIGNMENTS)
    course = load_catalog(path.parent.parent).courses["demo"]
    assert course.assignment("ps1").due == datetime(2026, 12, 15, 23, 59, tzinfo=UTC)
    project = course.assignment("project")
    assert project.due == datetime(2027, 1, 31, 17, 0, tzinfo=UTC)
    assert project.description.startswith("Train anything")
    assert course.assignment("ps1").description == ""


def test_a_quoted_due_date_is_read_too(write_course):
    text = DEMO_COURSE + ASSIGNMENTS.replace("2026-12-15T23:59:00+00:00", '"2026-12-15T23:59Z"')
    course = load_catalog(write_course(text).parent.parent).courses["demo"]
    assert course.assignment("ps1").due == datetime(2026, 12, 15, 23, 59, tzinfo=UTC)
    assert course.assignment("missing") is None


@pytest.mark.parametrize(
    ("old", "new", "field", "message"),
    [
        ("name: project", "name: ps1", "assignments[1].name", "already called 'ps1'"),
        ("name: project", "name: ../etc", "assignments[1].name", "letters, digits, '_'"),
        ("title: Final project", "title: ''", "assignments[1].title", "at least 1 character"),
        ("23:59:00+00:00", "23:59:00", "assignments[0].due", "add an offset such as +00:00"),
        ("2026-12-15T23:59:00+00:00", "next friday", "assignments[0].due", "datetime"),
        ("title: Final project", "title: x\n    weight: 2", "assignments[1].weight", "unknown key"),
        ('    due: "2027-01-31T12:00:00-05:00"\n', "", "assignments[1].due", "missing required"),
        ("title: Final project", "title: " + "x" * 201, "assignments[1].title", "at most 200"),
        ("name: project", "name: " + "p" * 65, "assignments[1].name", "letters, digits"),
        ("name: project", "name: -project", "assignments[1].name", "starting with a letter"),
    ],
)
def test_bad_assignments_name_the_field(write_course, old, new, field, message):
    path = write_course(DEMO_COURSE + ASSIGNMENTS.replace(old, new))
    problems = problems_of(path)
    assert len(problems) == 1, problems
    _, line, got_field, got_message = problems[0]
    assert got_field == field
    assert message.lower() in got_message.lower()
    assert line is not None and line > len(DEMO_COURSE.splitlines())


def test_duplicate_name_points_at_the_second_entry(write_course):
    path = write_course(DEMO_COURSE + ASSIGNMENTS.replace("name: project", "name: ps1"))
    (_, line, _, _), *_ = problems_of(path)
    assert line == LINE_SECOND
