"""The alert outbox and its delivery attempts.

Revision ID: 0004_alerts
Revises: 0003_flags
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_alerts"
down_revision = "0003_flags"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("dedup_key", sa.String(200), nullable=False, unique=True),
        sa.Column("flag_id", sa.Integer(), sa.ForeignKey("flag.id"), nullable=True),
        sa.Column("authority", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("digest_id", sa.Integer(), sa.ForeignKey("alert.id"), nullable=True),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("body_text", sa.Text(), nullable=True),
        sa.Column("body_markdown", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("delivered", sa.JSON(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('held', 'bundled', 'pending', 'sending', 'sent', 'failed')",
            name="ck_alert_status",
        ),
    )
    op.create_index("ix_alert_due", "alert", ["status", "next_attempt_at"])
    op.create_index("ix_alert_flag", "alert", ["flag_id"])
    op.create_table(
        "alert_attempt",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("alert_id", sa.Integer(), sa.ForeignKey("alert.id"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
    )
    op.create_index("ix_alert_attempt_alert_id", "alert_attempt", ["alert_id"])


def downgrade() -> None:
    op.drop_table("alert_attempt")
    op.drop_table("alert")
