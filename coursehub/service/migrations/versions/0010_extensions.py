"""Extensions: a student's new due date or extra time, with who granted it, when and why.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

from coursehub.service.models import UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "extensions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("course", sa.String(100), nullable=False),
        sa.Column("student", sa.String(255), nullable=False),
        sa.Column("assignment", sa.String(100), nullable=True),
        sa.Column("until", UTCDateTime, nullable=True),
        sa.Column("minutes", sa.Integer, nullable=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("granted_by", sa.String(255), nullable=False),
        sa.Column("granted_at", UTCDateTime, nullable=False),
        sa.Column("revoked_by", sa.String(255), nullable=True),
        sa.Column("revoked_at", UTCDateTime, nullable=True),
    )
    op.create_index("extensions_course_student", "extensions", ["course", "student"])


def downgrade() -> None:
    op.drop_index("extensions_course_student", "extensions")
    op.drop_table("extensions")
