"""GPU telemetry in the GPU ledger: per session, the GPU-hours of real use (the GPU at or
above the course's busy threshold), when the GPU or a kernel was last busy (idleness is
judged from this, not from browser activity), and the newest report (utilisation and
memory, for the status bar and the usage page), and what the session's notice warns of
(an idle warning is withdrawn when the GPU is used again). Sessions recorded before have no
telemetry: 0 used hours and nulls.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

from coursehub.service.models import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

COLUMNS = (
    ("last_telemetry_at", UTCDateTime),
    ("last_gpu_busy_at", UTCDateTime),
    ("gpu_utilization", sa.Float),
    ("gpu_memory_used_bytes", sa.BigInteger),
    ("gpu_memory_total_bytes", sa.BigInteger),
    ("notice_reason", sa.String(40)),
)


def upgrade() -> None:
    op.add_column(
        "gpu_sessions",
        sa.Column("used_gpu_hours", sa.Float, nullable=False, server_default="0"),
    )
    for name, kind in COLUMNS:
        op.add_column("gpu_sessions", sa.Column(name, kind, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("gpu_sessions") as batch:
        for name, _ in reversed(COLUMNS):
            batch.drop_column(name)
        batch.drop_column("used_gpu_hours")
