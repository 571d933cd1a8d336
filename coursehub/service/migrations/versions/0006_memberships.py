"""Course memberships from outside the course files: imported rosters and sign-in
(OIDC/LTI) memberships, and the revision that tells pollers they changed.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

from coursehub.service.models import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "roster_imports",
        sa.Column("course", sa.String(100), primary_key=True),
        sa.Column("imported_by", sa.String(255), nullable=False),
        sa.Column("imported_at", UTCDateTime, nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
    )
    op.create_table(
        "roster_students",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "course",
            sa.String(100),
            sa.ForeignKey("roster_imports.course", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("line", sa.Integer, nullable=False),
        sa.Column("username", sa.String(255), nullable=False),
        sa.Column("email", sa.String(255), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.UniqueConstraint("course", "username"),
    )
    op.create_table(
        "idp_memberships",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("username", sa.String(255), nullable=False, index=True),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("course", sa.String(100), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("recorded_at", UTCDateTime, nullable=False),
        sa.UniqueConstraint("username", "source", "course"),
    )
    revision_table = op.create_table(
        "membership_revision",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("revision", sa.Integer, nullable=False),
    )
    op.bulk_insert(revision_table, [{"id": 1, "revision": 0}])


def downgrade() -> None:
    for table in ("membership_revision", "idp_memberships", "roster_students", "roster_imports"):
        op.drop_table(table)
