"""Registration records keep the provider's status text only; the rules map it.

Rows stored before carry a `status` the connector had mapped under the policy
of that day; it is dropped so that what is stored can never disagree with what
the rules read under the policy in force. Downgrading maps `raw_status` with
the default map again, as the older code needs a `status` on every record.

Revision ID: 0006_provider_status
Revises: 0005_daemon
Create Date: 2026-11-25
"""

import json
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0006_provider_status"
down_revision = "0005_daemon"
branch_labels = None
depends_on = None

BATCH = 1000


def _rewrite(change: Callable[[dict[str, Any]], dict[str, Any] | None]) -> None:
    """Apply `change` to each stored registration record; None leaves the record as it is."""
    observation = sa.table(
        "observation",
        sa.column("id", sa.Integer),
        sa.column("topic", sa.String),
        sa.column("records", sa.JSON),
    )
    connection = op.get_bind()
    last_id = 0
    while True:
        rows = connection.execute(
            sa.select(observation.c.id, observation.c.records)
            .where(observation.c.topic == "registration")
            .where(observation.c.id > last_id)
            .order_by(observation.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        for row_id, records in rows:
            parsed = json.loads(records) if isinstance(records, str | bytes) else records
            changed = [change(r) if isinstance(r, dict) else None for r in parsed or []]
            if any(c is not None for c in changed):
                kept = [c if c is not None else r for c, r in zip(changed, parsed, strict=True)]
                connection.execute(
                    observation.update().where(observation.c.id == row_id).values(records=kept)
                )
        last_id = rows[-1][0]


def upgrade() -> None:
    _rewrite(
        lambda record: {k: v for k, v in record.items() if k != "status"}
        if "status" in record
        else None
    )


def downgrade() -> None:
    from monitor.rules.policy import map_status

    _rewrite(
        lambda record: {**record, "status": map_status(str(record.get("raw_status", "")), {})}
        if "status" not in record
        else None
    )
