"""The GPU usage ledger: sessions, refusals, extra hours, and per-course admission locks.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

from coursehub.service.models import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gpu_sessions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("username", sa.String(255), nullable=False),
        sa.Column("server_name", sa.String(255), nullable=False),
        sa.Column("course", sa.String(100), nullable=False),
        sa.Column("environment", sa.String(100), nullable=False),
        sa.Column("resource", sa.String(100), nullable=False),
        sa.Column("gpus", sa.Integer, nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("admitted_at", UTCDateTime, nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=True),
        sa.Column("last_seen_at", UTCDateTime, nullable=True),
        sa.Column("stopped_at", UTCDateTime, nullable=True),
        sa.Column("stop_reason", sa.String(40), nullable=True),
        sa.Column("notice", sa.Text, nullable=True),
        sa.Column("notice_at", UTCDateTime, nullable=True),
    )
    op.create_index(
        "gpu_sessions_one_open_per_server",
        "gpu_sessions",
        ["username", "server_name"],
        unique=True,
        sqlite_where=sa.text("stopped_at IS NULL"),
        postgresql_where=sa.text("stopped_at IS NULL"),
    )
    op.create_index("gpu_sessions_course_open", "gpu_sessions", ["course", "stopped_at"])
    op.create_index(
        "gpu_sessions_user_course", "gpu_sessions", ["username", "course", "started_at"]
    )
    op.create_table(
        "gpu_refusals",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("username", sa.String(255), nullable=False),
        sa.Column("course", sa.String(100), nullable=False, index=True),
        sa.Column("environment", sa.String(100), nullable=False),
        sa.Column("reason", sa.String(40), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("at", UTCDateTime, nullable=False, index=True),
    )
    op.create_table(
        "gpu_grants",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("username", sa.String(255), nullable=False),
        sa.Column("course", sa.String(100), nullable=False),
        sa.Column("week_start", UTCDateTime, nullable=False),
        sa.Column("hours", sa.Float, nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("granted_by", sa.String(255), nullable=False),
        sa.Column("granted_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "gpu_course_locks",
        sa.Column("course", sa.String(100), primary_key=True),
    )


def downgrade() -> None:
    op.drop_table("gpu_course_locks")
    op.drop_table("gpu_grants")
    op.drop_table("gpu_refusals")
    op.drop_index("gpu_sessions_user_course", "gpu_sessions")
    op.drop_index("gpu_sessions_course_open", "gpu_sessions")
    op.drop_index("gpu_sessions_one_open_per_server", "gpu_sessions")
    op.drop_table("gpu_sessions")
