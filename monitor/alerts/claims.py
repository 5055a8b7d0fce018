"""Claims: which alerts are due, and taking one so that no other dispatcher sends it too.

At-least-once: an alert is claimed (`sending`, claimed_at) and committed
before it is handed to apprise, and marked `sent` right after. If the process
dies in between, the claim expires after `sending_lease_s` and the alert is
sent again: that window is the only way a recipient gets an alert twice.
A claim is stamped when it is taken (not when its dispatcher's run began), and
renewed while its send is in progress, so a slow send is never mistaken for a
dead dispatcher's.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, case, or_, select, update
from sqlmodel import col

from monitor.clock import now_utc
from monitor.storage.db import session_scope
from monitor.storage.models import Alert
from monitor.vocabulary import AlertStatus


def release_expired(engine: Engine, lease: timedelta, now: datetime) -> None:
    """Claims older than the lease belong to a dispatcher that died: they are due again."""
    with session_scope(engine) as session:
        session.execute(
            update(Alert)
            .where(
                col(Alert.status) == AlertStatus.SENDING.value, col(Alert.claimed_at) < now - lease
            )
            .values(status=AlertStatus.PENDING.value)
        )


# Revocations leave first, then whatever else is owed now, then the bulk (digests,
# reminders, the weekly overview, filing reminders): a backlog of the bulk never
# stands in front of a revocation. Only a revocation flag's alert is due at once
# (the outbox holds review and action flags' for the digest), so kind "flag" is it.
FIRST_KINDS = ("flag", "test")
LAST_KINDS = ("digest", "reminder", "overview", "filing")


def _rank() -> Any:
    return case(
        (col(Alert.kind).in_(FIRST_KINDS), 0),
        (col(Alert.kind).in_(LAST_KINDS), 2),
        else_=1,
    )


def next_due(engine: Engine, now: datetime, run_started: datetime) -> int | None:
    """The most urgent alert due now that this run has not tried yet, or None.

    An alert this run tried and failed has its next attempt at or after `run_started`, so
    it waits for a later run; an alert written during the run (never tried) is due at once.
    """
    with session_scope(engine) as session:
        return session.scalars(
            select(col(Alert.id))
            .where(
                col(Alert.status) == AlertStatus.PENDING.value,
                or_(
                    col(Alert.next_attempt_at) < run_started,
                    and_(col(Alert.attempts) == 0, col(Alert.next_attempt_at) <= now),
                ),
            )
            .order_by(_rank(), col(Alert.id))
            .limit(1)
        ).first()


def claim(engine: Engine, alert_id: int) -> bool:
    """Take a pending alert, stamped now; False if another dispatcher took it first."""
    with session_scope(engine) as session:
        claimed = session.execute(
            update(Alert)
            .where(col(Alert.id) == alert_id, col(Alert.status) == AlertStatus.PENDING.value)
            .values(status=AlertStatus.SENDING.value, claimed_at=now_utc())
        )
        return bool(claimed.rowcount)  # type: ignore[attr-defined]


def renew(engine: Engine, alert_id: int) -> None:
    with session_scope(engine) as session:
        session.execute(
            update(Alert)
            .where(col(Alert.id) == alert_id, col(Alert.status) == AlertStatus.SENDING.value)
            .values(claimed_at=now_utc())
        )


@contextmanager
def held(engine: Engine, alert_id: int, lease: timedelta) -> Iterator[None]:
    """Keep the claim on `alert_id` fresh (every third of the lease) while the block runs."""
    done = threading.Event()

    def keep_renewing() -> None:
        while not done.wait(lease.total_seconds() / 3):
            try:
                renew(engine, alert_id)
            except Exception:  # the next renewal tries again; the lease has slack for it
                continue

    renewer = threading.Thread(target=keep_renewing, name=f"lease-{alert_id}", daemon=True)
    renewer.start()
    try:
        yield
    finally:
        done.set()
        renewer.join()
