"""A calendar or ops notice keeps its facts; its template words them when it is sent.

The filing reminder, the expiry warnings, the weekly overview and the notes to ops
were sentences assembled in code and stored whole (`subject`, `body_text`). They now
store the facts their job found (`details`, JSON) and are worded by their template
(monitor/defaults/templates/<language>/<kind>.md.j2), like every other alert. Rows
written before keep their stored text.

Revision ID: 0015_notice_details
Revises: 0014_leader_epoch
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0015_notice_details"
down_revision = "0014_leader_epoch"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("alert", sa.Column("details", sa.JSON, nullable=True))


def downgrade() -> None:
    op.execute("ALTER TABLE alert DROP COLUMN details")
