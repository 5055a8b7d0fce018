"""Observations, connector health, consumed files, sweep runs.

Revision ID: 0002_observations
Revises: 0001_register
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_observations"
down_revision = "0001_register"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sweep_run",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("scope", sa.JSON(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.CheckConstraint(
            "status IN ('running', 'completed', 'interrupted')", name="ck_sweep_run_status"
        ),
    )
    op.create_table(
        "observation",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("factory_id", sa.Integer(), sa.ForeignKey("factory.id"), nullable=False),
        sa.Column("connector", sa.String(64), nullable=False),
        sa.Column("topic", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("error_kind", sa.String(32), nullable=True),
        sa.Column("error_detail", sa.Text(), nullable=True),
        sa.Column("payload_hash", sa.String(64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=True),
        sa.Column("records", sa.JSON(), nullable=False),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sweep_id", sa.Integer(), sa.ForeignKey("sweep_run.id"), nullable=True),
        sa.CheckConstraint(
            "outcome IN ('found', 'not_found', 'error')", name="ck_observation_outcome"
        ),
    )
    op.create_index("ix_observation_latest", "observation", ["connector", "factory_id", "id"])
    op.create_table(
        "connector_health",
        sa.Column("connector", sa.String(64), primary_key=True),
        sa.Column("topic", sa.String(16), nullable=False),
        sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error_kind", sa.String(32), nullable=True),
        sa.Column("last_error_detail", sa.Text(), nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "consumed_file",
        sa.Column("connector", sa.String(64), primary_key=True),
        sa.Column("content_hash", sa.String(64), primary_key=True),
        sa.Column("file_name", sa.String(500), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("consumed_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("status IN ('consumed', 'rejected')", name="ck_consumed_file_status"),
    )


def downgrade() -> None:
    op.drop_table("consumed_file")
    op.drop_table("connector_health")
    op.drop_index("ix_observation_latest", table_name="observation")
    op.drop_table("observation")
    op.drop_table("sweep_run")
