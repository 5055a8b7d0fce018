"""The flags' reads that other parts ask for: a flag's trail, the whole trail, the open flags and
decisions of a set of enterprises.

The lifecycle and its bulk writes stay in `book.py` (and the paged listing in `listing.py`); these
are the statements on flag and flag_audit that reports compose with the register's, so no
module above this layer writes its own statement on the flags' tables.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from monitor.storage.db import in_slices
from monitor.storage.models import Flag, FlagAudit


def trail_of(session: Session, flag_id: int) -> list[FlagAudit]:
    """One flag's audit entries, oldest first."""
    return list(
        session.scalars(
            select(FlagAudit).where(col(FlagAudit.flag_id) == flag_id).order_by(col(FlagAudit.id))
        )
    )


def audit_entries(
    session: Session, factory_id: int | None = None
) -> list[tuple[FlagAudit, str, int]]:
    """Every flag audit entry (of one enterprise's flags when `factory_id` is given) with its
    flag's rule and enterprise."""
    query = select(FlagAudit, col(Flag.rule_id), col(Flag.factory_id)).join(
        Flag, col(Flag.id) == col(FlagAudit.flag_id)
    )
    if factory_id is not None:
        query = query.where(col(Flag.factory_id) == factory_id)
    return [(audit, rule, owner) for audit, rule, owner in session.execute(query)]


def open_flags_of(session: Session, factory_ids: list[int]) -> list[Flag]:
    """The open flags of these enterprises, by id (asked in slices below SQLite's limit)."""
    found: list[Flag] = []
    for chunk in in_slices(factory_ids):
        found += session.scalars(
            select(Flag).where(col(Flag.factory_id).in_(chunk), col(Flag.state) == "open")
        )
    return sorted(found, key=lambda flag: flag.id or 0)


def decisions_of(
    session: Session, factory_ids: list[int], to_states: Iterable[str]
) -> list[tuple[FlagAudit, int]]:
    """The audit entries moving these enterprises' flags into one of `to_states`, with the
    enterprise, oldest first."""
    states = list(to_states)
    found: list[tuple[FlagAudit, int]] = []
    for chunk in in_slices(factory_ids):
        found += [
            (audit, owner)
            for audit, owner in session.execute(
                select(FlagAudit, col(Flag.factory_id))
                .join(Flag, col(Flag.id) == col(FlagAudit.flag_id))
                .where(col(Flag.factory_id).in_(chunk), col(FlagAudit.to_state).in_(states))
            )
        ]
    return sorted(found, key=lambda pair: pair[0].id or 0)


def open_flags_oldest_first(session: Session) -> list[tuple[int, str, str, str, datetime, int]]:
    """Every open flag, oldest first: id, severity, rule, clause, first seen, enterprise (the
    weekly overview)."""
    return [
        (flag_id or 0, severity, rule_id, clause, first_seen_at, factory_id)
        for flag_id, severity, rule_id, clause, first_seen_at, factory_id in session.execute(
            select(
                col(Flag.id),
                col(Flag.severity),
                col(Flag.rule_id),
                col(Flag.clause),
                col(Flag.first_seen_at),
                col(Flag.factory_id),
            )
            .where(col(Flag.state) == "open")
            .order_by(col(Flag.first_seen_at), col(Flag.id))
        )
    ]
