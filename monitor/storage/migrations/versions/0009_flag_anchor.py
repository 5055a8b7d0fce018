"""Flags know how their fact ends: an event, a listing or a state (DESIGN §4, "How facts end").

An event (an accident, a penalty decision) does not un-happen: a source that stops
listing it leaves the flag as it is and `unlisted_since` records since when. A
listing is lifted by a removal date or by its disappearance; a state ends when the
source reports so. Flags stored before are given the anchor their rule and evidence
imply.

Revision ID: 0009_flag_anchor
Revises: 0008_append_only_audit
Create Date: 2026-12-04
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0009_flag_anchor"
down_revision = "0008_append_only_audit"
branch_labels = None
depends_on = None

ACCIDENT_RULES = (
    "art12.3-major-accident",
    "art12.3-large-accident",
    "art5.3-prior-accident",
    "data-ungraded-accident",
)
LISTING_KINDS = ("abnormal_operation", "serious_violation", "dishonest_debtor")


def _anchor(rule_id: str, topic: str | None, evidence: object) -> str:
    if rule_id in ACCIDENT_RULES:
        return "event"
    if topic == "credit" and rule_id in ("art12.5-penalty", "art12.2-not-operating"):
        parsed = json.loads(evidence) if isinstance(evidence, str | bytes) else evidence
        kind = parsed.get("kind") if isinstance(parsed, dict) else None
        if rule_id == "art12.2-not-operating" or kind in LISTING_KINDS:
            return "listing"
        return "event"
    return "state"


def upgrade() -> None:
    # Plain ALTER TABLE on both databases: a batch copy of `flag` on SQLite would have to
    # drop a table the append-only audit refers to.
    op.add_column("flag", sa.Column("anchor", sa.String(8), nullable=False, server_default="state"))
    op.add_column("flag", sa.Column("unlisted_since", sa.Date(), nullable=True))
    flag = sa.table(
        "flag",
        sa.column("id", sa.Integer),
        sa.column("rule_id", sa.String),
        sa.column("topic", sa.String),
        sa.column("evidence", sa.JSON),
        sa.column("anchor", sa.String),
    )
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(flag.c.id, flag.c.rule_id, flag.c.topic, flag.c.evidence).where(
            sa.or_(flag.c.rule_id.in_(ACCIDENT_RULES), flag.c.topic == "credit")
        )
    ).all()
    for flag_id, rule_id, topic, evidence in rows:
        anchor = _anchor(rule_id, topic, evidence)
        if anchor != "state":
            connection.execute(flag.update().where(flag.c.id == flag_id).values(anchor=anchor))


def downgrade() -> None:
    op.execute("ALTER TABLE flag DROP COLUMN unlisted_since")
    op.execute("ALTER TABLE flag DROP COLUMN anchor")
