"""The GPU queue: spawns waiting for a place under their course's cap.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

from coursehub.service.models import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gpu_queue",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("username", sa.String(255), nullable=False),
        sa.Column("server_name", sa.String(255), nullable=False),
        sa.Column("course", sa.String(100), nullable=False),
        sa.Column("environment", sa.String(100), nullable=False),
        sa.Column("gpus", sa.Integer, nullable=False),
        sa.Column("enqueued_at", UTCDateTime, nullable=False),
        sa.Column("left_at", UTCDateTime, nullable=True),
        sa.Column("outcome", sa.String(20), nullable=True),
    )
    op.create_index("gpu_queue_course_waiting", "gpu_queue", ["course", "left_at"])


def downgrade() -> None:
    op.drop_index("gpu_queue_course_waiting", "gpu_queue")
    op.drop_table("gpu_queue")
