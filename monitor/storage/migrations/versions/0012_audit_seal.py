"""The audit's hash chain: every flag_audit and designation_event entry sealed in order.

`audit_seal` is append-only like the entries it seals. The entries already there
are sealed by the first `seal()` after this upgrade (`sfm db upgrade` runs one).

Revision ID: 0012_audit_seal
Revises: 0011_job_failures
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_audit_seal"
down_revision = "0011_job_failures"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_seal",
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("audit_table", sa.String(32), nullable=False),
        sa.Column("row_id", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("entry_hash", sa.String(64), nullable=False),
        sa.UniqueConstraint("audit_table", "row_id", name="uq_audit_seal_entry"),
    )
    if op.get_bind().dialect.name == "postgresql":
        # sfm_append_only() came with 0008_append_only_audit
        op.execute(
            "CREATE TRIGGER audit_seal_append_only BEFORE UPDATE OR DELETE ON audit_seal "
            "FOR EACH ROW EXECUTE FUNCTION sfm_append_only()"
        )
        op.execute(
            "CREATE TRIGGER audit_seal_no_truncate BEFORE TRUNCATE ON audit_seal "
            "FOR EACH STATEMENT EXECUTE FUNCTION sfm_append_only()"
        )
        return
    for operation in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER audit_seal_no_{operation.lower()} BEFORE {operation} ON audit_seal "
            f"BEGIN SELECT RAISE(ABORT, 'audit_seal is append-only: {operation} refused'); END"
        )


def downgrade() -> None:
    op.drop_table("audit_seal")  # its triggers go with it
