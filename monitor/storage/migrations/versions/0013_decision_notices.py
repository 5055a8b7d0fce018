"""Decision and closing notices name what they announce; the audit names the operator.

An alert announcing a decision or an ending keeps the audit entry (`flag_audit`)
or designation event it announces, so its text is rendered from that entry and
never re-derived from whatever happened last. The audit tables keep the
operator's configured name (`actor_name`) beside the OS user.

Revision ID: 0013_decision_notices
Revises: 0012_audit_seal
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0013_decision_notices"
down_revision = "0012_audit_seal"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ALTER TABLE on both databases (nullable columns): a batch copy on SQLite would
    # drop the audit tables' append-only triggers.
    op.add_column("flag_audit", sa.Column("actor_name", sa.String(200), nullable=True))
    op.add_column("designation_event", sa.Column("actor_name", sa.String(200), nullable=True))
    # No foreign key: one to the audit tables would make PostgreSQL refuse a TRUNCATE of
    # them before their own append-only trigger could (and name the wrong reason).
    op.add_column("alert", sa.Column("audit_id", sa.Integer, nullable=True))
    op.add_column("alert", sa.Column("event_id", sa.Integer, nullable=True))


def downgrade() -> None:
    op.execute("ALTER TABLE alert DROP COLUMN event_id")
    op.execute("ALTER TABLE alert DROP COLUMN audit_id")
    op.execute("ALTER TABLE designation_event DROP COLUMN actor_name")
    op.execute("ALTER TABLE flag_audit DROP COLUMN actor_name")
