"""Indexes for what staff read most: flag counts by state and severity (`sfm status`,
`/metrics`), and a district's page of the register in credit-code order.

With 100,000 flags, counting them by state and severity scanned the whole table (a
quarter of a second per `sfm status`); a district's page sorted the district each time.

Revision ID: 0016_listing_indexes
Revises: 0015_notice_details
Create Date: 2026-12-04
"""

from alembic import op

revision = "0016_listing_indexes"
down_revision = "0015_notice_details"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_flag_state_severity", "flag", ["state", "severity"])
    op.create_index("ix_factory_district_page", "factory", ["district_code", "credit_code"])


def downgrade() -> None:
    op.drop_index("ix_factory_district_page", "factory")
    op.drop_index("ix_flag_state_severity", "flag")
