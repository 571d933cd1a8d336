"""The exchange: releases, fetches, submissions, collections, feedback, jobs.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from coursehub.service.models import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "releases",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("course", sa.String(100), nullable=False, index=True),
        sa.Column("assignment", sa.String(100), nullable=False),
        sa.Column("checksum", sa.String(80), nullable=False),
        sa.Column("blob", sa.String(64), nullable=False),
        sa.Column("files", sa.Integer, nullable=False),
        sa.Column("manifest", sa.Text, nullable=False),
        sa.Column("released_at", UTCDateTime, nullable=False),
        sa.Column("released_by", sa.String(255), nullable=False),
        sa.Column("withdrawn_at", UTCDateTime, nullable=True),
    )
    op.create_table(
        "fetches",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("course", sa.String(100), nullable=False),
        sa.Column("assignment", sa.String(100), nullable=False),
        sa.Column("student", sa.String(255), nullable=False),
        sa.Column("first_fetched_at", UTCDateTime, nullable=False),
        sa.Column("last_fetched_at", UTCDateTime, nullable=False),
        sa.UniqueConstraint("course", "assignment", "student"),
    )
    op.create_table(
        "submissions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("course", sa.String(100), nullable=False, index=True),
        sa.Column("assignment", sa.String(100), nullable=False),
        sa.Column("student", sa.String(255), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("submitted_at", UTCDateTime, nullable=False),
        sa.Column("checksum", sa.String(80), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("blob", sa.String(64), nullable=False),
        sa.Column("files", sa.Text, nullable=False),
        sa.UniqueConstraint("course", "assignment", "student", "version"),
    )
    op.create_table(
        "collections",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("course", sa.String(100), nullable=False),
        sa.Column("assignment", sa.String(100), nullable=False),
        sa.Column("student", sa.String(255), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("collected_at", UTCDateTime, nullable=False),
        sa.Column("collected_by", sa.String(255), nullable=False),
        sa.UniqueConstraint("course", "assignment", "student"),
    )
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("course", sa.String(100), nullable=False),
        sa.Column("assignment", sa.String(100), nullable=False),
        sa.Column("student", sa.String(255), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("released_at", UTCDateTime, nullable=False),
        sa.Column("released_by", sa.String(255), nullable=False),
        sa.Column("checksum", sa.String(80), nullable=False),
        sa.Column("blob", sa.String(64), nullable=False),
        sa.UniqueConstraint("course", "assignment", "student", "version"),
    )
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("course", sa.String(100), nullable=False),
        sa.Column("assignment", sa.String(100), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("total", sa.Integer, nullable=False),
        sa.Column("done", sa.Integer, nullable=False),
        sa.Column("failed", sa.Integer, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=True),
        sa.Column("finished_at", UTCDateTime, nullable=True),
    )


def downgrade() -> None:
    for table in ("jobs", "feedback", "collections", "submissions", "fetches", "releases"):
        op.drop_table(table)
