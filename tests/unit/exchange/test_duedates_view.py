"""The due-dates panel's rows from the service's answers (``coursehub.duedates.view``)."""

from __future__ import annotations

from coursehub.duedates.view import assignment_rows, student_courses


def submission(version: int, late: bool) -> dict:
    return {
        "student": "student1",
        "version": version,
        "submitted_at": f"2026-12-0{version}T10:00:00+00:00",
        "checksum": f"{version}" * 64,
        "size": 100,
        "late": late,
        "paths": ["ps1.ipynb"],
    }


def test_only_courses_taken_as_a_student():
    me = {
        "name": "ta1",
        "courses": [{"id": "ai-101", "role": "staff"}, {"id": "ml-201", "role": "student"}],
    }
    assert student_courses(me) == ["ml-201"]
    assert student_courses({"name": "x"}) == []


def test_rows_carry_the_due_date_and_the_newest_receipt_soonest_due_first():
    listing = {
        "course": "ai-101",
        "role": "student",
        "assignments": [
            {"name": "ps9", "title": "No deadline", "due": None, "submissions": []},
            {
                "name": "ps2",
                "title": "Later",
                "due": "2026-12-20T12:00:00+00:00",
                "released_at": "2026-12-01T09:00:00+00:00",
                "submissions": [],
            },
            {
                "name": "ps1",
                "title": "Sooner",
                "due": "2026-12-15T23:59:00+00:00",
                "released_at": "2026-12-01T09:00:00+00:00",
                # newest last, whatever order the service listed them in
                "submissions": [submission(2, True), submission(1, False)],
            },
        ],
    }
    rows = assignment_rows("ai-101", listing)
    assert [row["name"] for row in rows] == ["ps1", "ps2", "ps9"]
    first = rows[0]
    assert first["course"] == "ai-101" and first["due"] == "2026-12-15T23:59:00+00:00"
    assert first["submissions"] == 2
    assert first["receipt"] == {
        "version": 2,
        "submitted_at": "2026-12-02T10:00:00+00:00",
        "checksum": "2" * 64,
        "late": True,
    }
    assert rows[1]["receipt"] is None and rows[1]["submissions"] == 0
    assert rows[2]["title"] == "No deadline" and rows[2]["due"] is None


def test_a_students_own_extension_moves_the_due_date_and_keeps_the_courses():
    listing = {
        "assignments": [
            {
                "name": "ps1",
                "title": "Sooner",
                "due": "2026-12-16T02:59:00+00:00",
                "extension": {
                    "course_due": "2026-12-15T23:59:00+00:00",
                    "due": "2026-12-16T02:59:00+00:00",
                },
                "submissions": [],
            },
            {"name": "ps2", "due": "2026-12-20T12:00:00+00:00", "extension": None},
        ]
    }
    ps1, ps2 = assignment_rows("ai-101", listing)
    assert ps1["due"] == "2026-12-16T02:59:00+00:00"
    assert ps1["course_due"] == "2026-12-15T23:59:00+00:00"
    assert ps2["course_due"] is None
