"""GPU-equivalents in the GPU ledger: what a session (or a queued spawn) holds in whole
GPUs' worth, so a quarter share of a time-sliced GPU counts 0.25 in caps, budgets and
reports. Sessions and queue entries recorded before keep their whole GPUs.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TABLES = ("gpu_sessions", "gpu_queue")


def upgrade() -> None:
    for table in TABLES:
        # Added with a default so existing rows are valid at once, then set to their whole
        # GPUs; new rows always write the column.
        op.add_column(
            table,
            sa.Column("gpu_equivalents", sa.Float, nullable=False, server_default="0"),
        )
        op.execute(sa.text(f"UPDATE {table} SET gpu_equivalents = gpus"))


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("gpu_equivalents")
