"""Each leadership has an epoch (DESIGN §6): the fence a deposed daemon's writes fail on.

A daemon that takes the lead raises the epoch by one in `daemon_epoch`; every
transaction it commits checks, in that transaction, that the epoch is still its
own. A leader whose lock went away (its PostgreSQL session was ended, a standby
took over) can therefore write nothing more, whatever it was doing.

Revision ID: 0014_leader_epoch
Revises: 0013_decision_notices
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0014_leader_epoch"
down_revision = "0013_decision_notices"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "daemon_epoch",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("id = 1", name="ck_daemon_epoch_one_row"),
    )
    op.execute("INSERT INTO daemon_epoch (id, epoch) VALUES (1, 0)")


def downgrade() -> None:
    op.drop_table("daemon_epoch")
