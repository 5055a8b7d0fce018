"""A flag names a rule of the catalogue, in the database itself.

The rule catalogue (monitor/vocabulary.RULES) is the one list of rule ids; the
database refuses a flag under any other (PostgreSQL: a CHECK constraint; SQLite,
where a constraint cannot be added to a table others refer to without copying it:
triggers on insert and update). A rule added to the catalogue comes with a migration
that replaces this list (tests/integration/test_migrations.py holds the two equal).

Revision ID: 0010_rule_ids
Revises: 0009_flag_anchor
Create Date: 2026-12-04
"""

from alembic import op

revision = "0010_rule_ids"
down_revision = "0009_flag_anchor"
branch_labels = None
depends_on = None

RULE_IDS = (
    "art12.1-false-information",
    "art12.2-terminated",
    "art12.2-not-operating",
    "art12.3-major-accident",
    "art12.3-large-accident",
    "art5.3-prior-accident",
    "art5.3-prior-violation",
    "art12.4-relocated",
    "art12.4-relocation-unconfirmed",
    "art12.5-penalty",
    "art12-rename-pending",
    "art12-restructure-pending",
    "register-district-changed",
    "data-unknown-status",
    "data-unknown-value",
    "data-ungraded-accident",
    "data-not-found",
    "data-implausible-date",
)
ALLOWED = "(" + ", ".join(f"'{rule}'" for rule in RULE_IDS) + ")"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE flag ADD CONSTRAINT ck_flag_rule CHECK (rule_id IN {ALLOWED})")
        return
    for event, when in (("INSERT", "INSERT"), ("UPDATE", "UPDATE OF rule_id")):
        op.execute(
            f"CREATE TRIGGER flag_rule_on_{event.lower()} BEFORE {when} ON flag "
            f"WHEN NEW.rule_id NOT IN {ALLOWED} "
            "BEGIN SELECT RAISE(ABORT, 'flag.rule_id is not a rule of the catalogue'); END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE flag DROP CONSTRAINT ck_flag_rule")
        return
    for event in ("insert", "update"):
        op.execute(f"DROP TRIGGER flag_rule_on_{event}")
