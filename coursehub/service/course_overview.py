"""What an instructor's course page shows, from plain data: per assignment, how many
students fetched, submitted, were collected, graded and given feedback; who submitted late;
the scores as percentages; the newest grading job. No I/O: the page handler gathers an
assignment's ``workflow.status`` and the gradebook's rows and hands them here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Grading jobs still going: the page refreshes itself while one is.
LIVE_JOB_STATES = ("queued", "running")


@dataclass(frozen=True)
class LateSubmission:
    student: str
    submitted_at: str
    submissions: int


@dataclass(frozen=True)
class AssignmentSummary:
    name: str
    title: str
    due: str | None
    released_at: str | None
    enrolled: int
    fetched: int
    submitted: int
    collected: int
    graded: int
    feedback: int
    late: list[LateSubmission] = field(default_factory=list)
    # Each graded student's score as a percentage of the assignment's maximum.
    percentages: list[float] = field(default_factory=list)
    job: dict | None = None

    @property
    def released(self) -> bool:
        return self.released_at is not None

    @property
    def grading_live(self) -> bool:
        return self.job is not None and self.job["state"] in LIVE_JOB_STATES


def summarize(title: str, status: dict, grades: list[dict]) -> AssignmentSummary:
    """``status``: ``workflow.status`` of one assignment; ``grades``: the gradebook's rows
    (``student``, ``assignment``, ``score``, ``max_score``) of any assignments."""
    students = status["students"]
    enrolled = [row for row in students if row["enrolled"]]
    own_grades = [row for row in grades if row["assignment"] == status["assignment"]]
    return AssignmentSummary(
        name=status["assignment"],
        title=title,
        due=status["due"],
        released_at=status["released_at"],
        enrolled=len(enrolled),
        fetched=sum(1 for row in students if row["fetched_at"]),
        submitted=sum(1 for row in students if row["submissions"]),
        collected=sum(1 for row in students if row["collected_version"] is not None),
        graded=len(own_grades),
        feedback=sum(1 for row in students if row["feedback_released_at"]),
        late=[
            LateSubmission(row["student"], row["last_submitted_at"], row["submissions"])
            for row in students
            if row["late"]
        ],
        percentages=[percentage(row["score"], row["max_score"]) for row in own_grades],
        job=status["autograde"],
    )


def percentage(score: float, max_score: float) -> float:
    """A score as a percentage; an assignment worth nothing counts as full marks."""
    return 100.0 if not max_score else round(100.0 * score / max_score, 1)


def job_line(job: dict | None) -> str:
    """The grading job as one line, as ``coursehub assignment status`` words it."""
    if job is None:
        return "not graded yet"
    line = (
        f"autograde {job['state']}: {job['done']}/{job['total']} graded, "
        f"{job['running'] or 0} running, {job['failed']} failed"
    )
    return f"{line} ({job['message']})" if job["message"] else line


def short_time(iso: str | None) -> str:
    """``2026-12-15T23:59:00+00:00`` as ``2026-12-15 23:59 UTC``; the service keeps UTC."""
    if not iso:
        return "—"
    return f"{iso[:10]} {iso[11:16]} UTC"
