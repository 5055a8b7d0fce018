"""The register: designated factories and their designation events.

Revision ID: 0001_register
Revises:
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0001_register"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "factory",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("credit_code", sa.String(18), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("district_code", sa.String(6), nullable=False),
        sa.Column("designated_on", sa.Date(), nullable=False),
        sa.Column("registered_address", sa.String(500), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("revoked_on", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("level IN ('basic', 'advanced')", name="ck_factory_level"),
        sa.CheckConstraint("status IN ('active', 'revoked')", name="ck_factory_status"),
    )
    op.create_index("ix_factory_district_code", "factory", ["district_code"])
    op.create_table(
        "designation_event",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("factory_id", sa.Integer(), sa.ForeignKey("factory.id"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("occurred_on", sa.Date(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("reference", sa.String(200), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("source", sa.String(500), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('designated', 'updated', 'renamed', 'revoked')", name="ck_event_kind"
        ),
    )
    op.create_index("ix_designation_event_factory_id", "designation_event", ["factory_id"])


def downgrade() -> None:
    op.drop_table("designation_event")
    op.drop_table("factory")
