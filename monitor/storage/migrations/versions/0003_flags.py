"""Flags, their audit trail, and the entity type seen at the first sweep.

Revision ID: 0003_flags
Revises: 0002_observations
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_flags"
down_revision = "0002_observations"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("factory") as batch:
        batch.add_column(sa.Column("baseline_entity_type", sa.String(100), nullable=True))
    op.create_table(
        "flag",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("fingerprint", sa.String(64), nullable=False, unique=True),
        sa.Column("rule_id", sa.String(64), nullable=False),
        sa.Column("clause", sa.String(32), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("factory_id", sa.Integer(), sa.ForeignKey("factory.id"), nullable=False),
        sa.Column("topic", sa.String(16), nullable=True),
        sa.Column("evidence_key", sa.Text(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("summary_key", sa.String(64), nullable=False),
        sa.Column("summary_params", sa.JSON(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state_changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "state IN ('open', 'confirmed', 'dismissed', 'resolved', 'cleared')",
            name="ck_flag_state",
        ),
        sa.CheckConstraint(
            "severity IN ('revocation', 'review', 'action')", name="ck_flag_severity"
        ),
    )
    op.create_index("ix_flag_factory", "flag", ["factory_id"])
    op.create_index("ix_flag_state", "flag", ["state", "id"])
    op.create_table(
        "flag_audit",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("flag_id", sa.Integer(), sa.ForeignKey("flag.id"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("from_state", sa.String(16), nullable=True),
        sa.Column("to_state", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
    )
    op.create_index("ix_flag_audit_flag_id", "flag_audit", ["flag_id"])


def downgrade() -> None:
    op.drop_table("flag_audit")
    op.drop_table("flag")
    with op.batch_alter_table("factory") as batch:
        batch.drop_column("baseline_entity_type")
