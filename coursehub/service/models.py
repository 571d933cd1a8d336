"""The service's tables (SQLAlchemy 2 declarative). Migrations: ``migrations/versions``.

Rows are facts: a release, a fetch, a submission version, a collection choice, a feedback
release, a job; and course memberships from outside the course files (an imported roster,
memberships recorded at sign-in), with a revision that every change of those bumps. Files
live in the blob store; rows name them by ``blob`` (a sha256). Times are UTC, taken from
the service's clock.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes in, aware UTC datetimes out, on SQLite and PostgreSQL alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use UTC-aware times")
        return value.astimezone(UTC)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class Release(Base):
    """One published version of an assignment; the newest not withdrawn is the current."""

    __tablename__ = "releases"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    course: Mapped[str] = mapped_column(String(100), index=True)
    assignment: Mapped[str] = mapped_column(String(100))
    checksum: Mapped[str] = mapped_column(String(80))
    blob: Mapped[str] = mapped_column(String(64))
    files: Mapped[int] = mapped_column(Integer)
    manifest: Mapped[str] = mapped_column(Text)  # JSON: [{"path", "size", "sha256"}]
    released_at: Mapped[datetime] = mapped_column(UTCDateTime)
    released_by: Mapped[str] = mapped_column(String(255))
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Fetch(Base):
    __tablename__ = "fetches"
    __table_args__ = (UniqueConstraint("course", "assignment", "student"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    course: Mapped[str] = mapped_column(String(100))
    assignment: Mapped[str] = mapped_column(String(100))
    student: Mapped[str] = mapped_column(String(255))
    first_fetched_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_fetched_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Submission(Base):
    """One immutable submission version; ``version`` counts from 1 per student."""

    __tablename__ = "submissions"
    __table_args__ = (UniqueConstraint("course", "assignment", "student", "version"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    course: Mapped[str] = mapped_column(String(100), index=True)
    assignment: Mapped[str] = mapped_column(String(100))
    student: Mapped[str] = mapped_column(String(255))
    version: Mapped[int] = mapped_column(Integer)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    checksum: Mapped[str] = mapped_column(String(80))
    size: Mapped[int] = mapped_column(Integer)
    blob: Mapped[str] = mapped_column(String(64))
    files: Mapped[str] = mapped_column(Text)  # JSON: [{"path", "size", "sha256"}]


class Collection(Base):
    """Which version of a student's submission staff collected last (what gets graded)."""

    __tablename__ = "collections"
    __table_args__ = (UniqueConstraint("course", "assignment", "student"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    course: Mapped[str] = mapped_column(String(100))
    assignment: Mapped[str] = mapped_column(String(100))
    student: Mapped[str] = mapped_column(String(255))
    version: Mapped[int] = mapped_column(Integer)
    collected_at: Mapped[datetime] = mapped_column(UTCDateTime)
    collected_by: Mapped[str] = mapped_column(String(255))


class Feedback(Base):
    """Feedback for one submission version; released again after a regrade."""

    __tablename__ = "feedback"
    __table_args__ = (UniqueConstraint("course", "assignment", "student", "version"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    course: Mapped[str] = mapped_column(String(100))
    assignment: Mapped[str] = mapped_column(String(100))
    student: Mapped[str] = mapped_column(String(255))
    version: Mapped[int] = mapped_column(Integer)
    released_at: Mapped[datetime] = mapped_column(UTCDateTime)
    released_by: Mapped[str] = mapped_column(String(255))
    checksum: Mapped[str] = mapped_column(String(80))
    blob: Mapped[str] = mapped_column(String(64))


class Job(Base):
    """A background job (autograding) and its progress."""

    __tablename__ = "jobs"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    course: Mapped[str] = mapped_column(String(100))
    assignment: Mapped[str] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(20))
    total: Mapped[int] = mapped_column(Integer, default=0)
    done: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    running: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    message: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


def _whole_gpus(context) -> float:
    """A row written without its GPU-equivalents holds whole GPUs (its ``gpus``)."""
    return float(context.get_current_parameters()["gpus"])


class GPUSession(Base):
    """One GPU server of one user: admitted (holds a place in the course's cap), started
    (charged from here), stopped (with the reason). Open while ``stopped_at`` is null; at
    most one open session per server (the partial unique index)."""

    __tablename__ = "gpu_sessions"
    __table_args__ = (
        Index(
            "gpu_sessions_one_open_per_server",
            "username",
            "server_name",
            unique=True,
            sqlite_where=text("stopped_at IS NULL"),
            postgresql_where=text("stopped_at IS NULL"),
        ),
        Index("gpu_sessions_course_open", "course", "stopped_at"),
        Index("gpu_sessions_user_course", "username", "course", "started_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(255))
    server_name: Mapped[str] = mapped_column(String(255), default="")
    course: Mapped[str] = mapped_column(String(100))
    environment: Mapped[str] = mapped_column(String(100))
    resource: Mapped[str] = mapped_column(String(100))
    gpus: Mapped[int] = mapped_column(Integer)
    # What the session holds in whole GPUs' worth (count x share: a quarter share is
    # 0.25); caps, budgets and reports count this. Migration 0007.
    gpu_equivalents: Mapped[float] = mapped_column(Float, default=_whole_gpus, server_default="0")
    role: Mapped[str] = mapped_column(String(20))
    admitted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The last time the enforcer saw the server running: a session whose server vanished
    # while nobody watched is closed at this time, not at the time it was noticed.
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    stop_reason: Mapped[str | None] = mapped_column(String(40), nullable=True)
    # The newest warning for the user (budget or session end), shown in JupyterLab.
    notice: Mapped[str | None] = mapped_column(Text, nullable=True)
    notice_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # GPU telemetry the server reports (migration 0008): GPU-hours of real use (GPU at or
    # above the course's busy threshold), the last time the GPU or a kernel was busy (idle
    # culling judges from this, never from browser activity), and the newest report.
    used_gpu_hours: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    last_telemetry_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_gpu_busy_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    gpu_utilization: Mapped[float | None] = mapped_column(Float, nullable=True)
    gpu_memory_used_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    gpu_memory_total_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # What ``notice`` warns of (``idle``, ``budget``, ``session_limit``): an idle warning
    # is withdrawn when the GPU is used again, so the next idle spell is warned anew.
    notice_reason: Mapped[str | None] = mapped_column(String(40), nullable=True)


class GPUQueueEntry(Base):
    """A GPU spawn waiting for a place under its course's cap (``queue_when_full``), in
    order of ``enqueued_at``; ``left_at`` and ``outcome`` (admitted, left) end the wait."""

    __tablename__ = "gpu_queue"
    __table_args__ = (Index("gpu_queue_course_waiting", "course", "left_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(255))
    server_name: Mapped[str] = mapped_column(String(255), default="")
    course: Mapped[str] = mapped_column(String(100))
    environment: Mapped[str] = mapped_column(String(100))
    gpus: Mapped[int] = mapped_column(Integer)
    gpu_equivalents: Mapped[float] = mapped_column(Float, default=_whole_gpus, server_default="0")
    enqueued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(20), nullable=True)


class GPURefusal(Base):
    """A GPU spawn refused at admission (course cap or weekly budget)."""

    __tablename__ = "gpu_refusals"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(255))
    course: Mapped[str] = mapped_column(String(100), index=True)
    environment: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(String(40))
    message: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class GPUGrant(Base):
    """Extra GPU-hours an admin gave a student in one course for one week."""

    __tablename__ = "gpu_grants"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(255))
    course: Mapped[str] = mapped_column(String(100))
    week_start: Mapped[datetime] = mapped_column(UTCDateTime)
    hours: Mapped[float] = mapped_column(Float)
    note: Mapped[str] = mapped_column(Text, default="")
    granted_by: Mapped[str] = mapped_column(String(255))
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime)


class GPUCourseLock(Base):
    """One row per course, locked (SELECT ... FOR UPDATE) while a GPU spawn of the course
    is admitted, so concurrent admissions of one course are decided one after the other."""

    __tablename__ = "gpu_course_locks"
    course: Mapped[str] = mapped_column(String(100), primary_key=True)


class RosterImport(Base):
    """A course's imported roster: while it exists, its students replace those of the
    course files. Its rows are ``RosterStudent``."""

    __tablename__ = "roster_imports"
    course: Mapped[str] = mapped_column(String(100), primary_key=True)
    imported_by: Mapped[str] = mapped_column(String(255))
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime)
    filename: Mapped[str] = mapped_column(String(255), default="")


class RosterStudent(Base):
    """One student of an imported roster; ``position`` keeps the file's order, ``line`` its
    CSV line."""

    __tablename__ = "roster_students"
    __table_args__ = (UniqueConstraint("course", "username"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    course: Mapped[str] = mapped_column(
        String(100), ForeignKey("roster_imports.course", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    line: Mapped[int] = mapped_column(Integer)
    username: Mapped[str] = mapped_column(String(255))
    email: Mapped[str] = mapped_column(String(255), default="")
    name: Mapped[str] = mapped_column(String(255), default="")


class IdpMembership(Base):
    """A course role an identity provider (``source``: oidc, lti) gave a user at sign-in."""

    __tablename__ = "idp_memberships"
    __table_args__ = (UniqueConstraint("username", "source", "course"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(255), index=True)
    source: Mapped[str] = mapped_column(String(20))
    course: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(20))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)


class MembershipRevision(Base):
    """One row (id 1): a number bumped by every change of imported rosters or sign-in
    memberships, so a poller knows in one small query whether to reload them."""

    __tablename__ = "membership_revision"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    revision: Mapped[int] = mapped_column(Integer)


class LMSLink(Base):
    """What the newest LTI launch of a course said about its LMS (migration 0009): the
    platform (issuer, client id, deployment) and its Assignment and Grade Services endpoint
    (the line items URL and the scopes the platform granted)."""

    __tablename__ = "lms_links"
    course: Mapped[str] = mapped_column(String(100), primary_key=True)
    issuer: Mapped[str] = mapped_column(String(500))
    client_id: Mapped[str] = mapped_column(String(255))
    deployment_id: Mapped[str] = mapped_column(String(255))
    lineitems_url: Mapped[str] = mapped_column(Text)
    scopes: Mapped[str] = mapped_column(Text)  # JSON list
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LMSScore(Base):
    """The last score sent to the LMS for one student and assignment, so a push sends only
    what changed (migration 0009)."""

    __tablename__ = "lms_scores"
    __table_args__ = (UniqueConstraint("course", "assignment", "student"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    course: Mapped[str] = mapped_column(String(100))
    assignment: Mapped[str] = mapped_column(String(100))
    student: Mapped[str] = mapped_column(String(255))
    lineitem_url: Mapped[str] = mapped_column(Text)
    score: Mapped[float] = mapped_column(Float)
    max_score: Mapped[float] = mapped_column(Float)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_by: Mapped[str] = mapped_column(String(255))


class Extension(Base):
    """An extension granted to one student (migration 0010): a new due date (``until``) for
    one assignment, or extra ``minutes`` for one assignment or (``assignment`` null) every
    assignment of the course. Who granted it, when and why are kept; a revoked extension
    keeps its row with who revoked it and when."""

    __tablename__ = "extensions"
    __table_args__ = (Index("extensions_course_student", "course", "student"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    course: Mapped[str] = mapped_column(String(100))
    student: Mapped[str] = mapped_column(String(255))
    assignment: Mapped[str | None] = mapped_column(String(100), nullable=True)
    until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    minutes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    reason: Mapped[str] = mapped_column(Text)
    granted_by: Mapped[str] = mapped_column(String(255))
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_by: Mapped[str | None] = mapped_column(String(255), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
