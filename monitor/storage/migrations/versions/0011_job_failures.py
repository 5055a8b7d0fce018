"""A job that keeps failing is seen as failing: how many runs in a row and since when.

`sfm status` shows both with the last error; `/healthz` is 503 while a sweep or
dispatch has failed its last 3 runs.

Revision ID: 0011_job_failures
Revises: 0010_rule_ids
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_job_failures"
down_revision = "0010_rule_ids"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("job_run") as batch:
        batch.add_column(
            sa.Column("failures_in_row", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("failing_since", sa.DateTime(timezone=True), nullable=True))
    # a job whose last run failed has failed once, since that run at least
    op.execute(
        "UPDATE job_run SET failures_in_row = 1, failing_since = started_at "
        "WHERE outcome = 'failed'"
    )


def downgrade() -> None:
    with op.batch_alter_table("job_run") as batch:
        batch.drop_column("failing_since")
        batch.drop_column("failures_in_row")
