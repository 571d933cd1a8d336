"""What a student's due-dates panel lists, from the service's answers: per released
assignment of each course the student takes, its due date (ISO, UTC; the browser shows it in
the student's own time zone) and the receipt of the newest submission (version, the
service's time, checksum, late or not); with the student's own extension, ``due`` is their
extended due date and ``course_due`` the course's. Pure: ``coursehub.duedates`` does the HTTP.
"""

from __future__ import annotations


def student_courses(me: dict) -> list[str]:
    """The courses ``api/me`` lists the caller in as a student."""
    return [course["id"] for course in me.get("courses", []) if course.get("role") == "student"]


def receipt(submission: dict) -> dict:
    return {
        "version": submission["version"],
        "submitted_at": submission["submitted_at"],
        "checksum": submission["checksum"],
        "late": submission["late"],
    }


def assignment_rows(course: str, listing: dict) -> list[dict]:
    """One row per released assignment of ``api/courses/<course>/assignments``."""
    rows = []
    for item in listing.get("assignments", []):
        submissions = sorted(item.get("submissions", []), key=lambda row: row["version"])
        rows.append(
            {
                "course": course,
                "name": item["name"],
                "title": item.get("title") or item["name"],
                "due": item.get("due"),
                # The student's own extension (the service sends only theirs): the course's
                # due date, which ``due`` replaces.
                "course_due": (item.get("extension") or {}).get("course_due"),
                "released_at": item.get("released_at"),
                "submissions": len(submissions),
                "receipt": receipt(submissions[-1]) if submissions else None,
            }
        )
    return sorted(rows, key=lambda row: (row["due"] is None, row["due"] or "", row["name"]))
