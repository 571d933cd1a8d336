"""Grade passback to the LMS (LTI Advantage AGS): each LMS-launched course's platform and
line items URL, and the last score sent per student and assignment.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

from coursehub.service.models import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lms_links",
        sa.Column("course", sa.String(100), primary_key=True),
        sa.Column("issuer", sa.String(500), nullable=False),
        sa.Column("client_id", sa.String(255), nullable=False),
        sa.Column("deployment_id", sa.String(255), nullable=False),
        sa.Column("lineitems_url", sa.Text, nullable=False),
        sa.Column("scopes", sa.Text, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "lms_scores",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("course", sa.String(100), nullable=False),
        sa.Column("assignment", sa.String(100), nullable=False),
        sa.Column("student", sa.String(255), nullable=False),
        sa.Column("lineitem_url", sa.Text, nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("max_score", sa.Float, nullable=False),
        sa.Column("sent_at", UTCDateTime, nullable=False),
        sa.Column("sent_by", sa.String(255), nullable=False),
        sa.UniqueConstraint("course", "assignment", "student"),
    )


def downgrade() -> None:
    op.drop_table("lms_scores")
    op.drop_table("lms_links")
