"""One enterprise may hold several designations: each has its own row.

Every existing factory becomes one designation with its level, district, date
and status; the factory row stays the enterprise.

Revision ID: 0007_designations
Revises: 0006_provider_status
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_designations"
down_revision = "0006_provider_status"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "designation",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("factory_id", sa.Integer(), sa.ForeignKey("factory.id"), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("district_code", sa.String(6), nullable=False),
        sa.Column("designated_on", sa.Date(), nullable=False),
        sa.Column("reference", sa.String(200), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("revoked_on", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("level IN ('basic', 'advanced')", name="ck_designation_level"),
        sa.CheckConstraint("status IN ('active', 'revoked')", name="ck_designation_status"),
    )
    op.create_index(
        "ux_designation_identity", "designation", ["factory_id", "level", "name"], unique=True
    )
    op.execute(
        "INSERT INTO designation (factory_id, name, level, district_code, designated_on,"
        " status, revoked_on, created_at)"
        " SELECT id, '', level, district_code, designated_on, status, revoked_on, created_at"
        " FROM factory"
    )


def downgrade() -> None:
    op.drop_index("ux_designation_identity", table_name="designation")
    op.drop_table("designation")
