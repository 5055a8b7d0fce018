"""What the alert commands ask of the outbox: listings, digests, reminders, test messages."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from sqlmodel import col

from monitor.alerts.authorities import MUNICIPAL, OPS, Authorities
from monitor.alerts.record import DispatchReport
from monitor.clock import now_utc
from monitor.codes import resolve_district
from monitor.errors import NotFound
from monitor.i18n import Message
from monitor.storage.db import session_scope
from monitor.storage.models import Alert
from monitor.vocabulary import AlertStatus

if TYPE_CHECKING:
    from monitor.alerts.service import Alerting


def list_alerts(
    engine: Engine,
    authorities: Authorities,
    *,
    failed_only: bool,
    limit: int | None,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """The outbox, newest first; `limit` and `offset` page through it."""
    query = select(Alert).order_by(col(Alert.id).desc())
    if failed_only:
        query = query.where(col(Alert.status) == AlertStatus.FAILED.value)
    if limit:
        query = query.limit(limit)
    if offset:
        query = query.offset(offset)
    with session_scope(engine) as session:
        alerts = list(session.scalars(query))
    names = {key: authority.name for key, authority in authorities.by_key.items()}
    return [
        {
            "id": a.id,
            "kind": a.kind,
            "authority": a.authority,
            "authority_name": names.get(a.authority, a.authority),
            "status": a.status,
            "flag_id": a.flag_id,
            "attempts": a.attempts,
            "subject": a.subject,
            "last_error": a.last_error,
            "created_at": a.created_at.isoformat(),
            "sent_at": a.sent_at.isoformat() if a.sent_at else None,
        }
        for a in alerts
    ]


def authority_key(value: str) -> str:
    if value in (MUNICIPAL, OPS):
        return value
    district = resolve_district(value)
    if district is None:
        raise NotFound(Message("alerts.unknown_authority", value=value))
    return district.code


def send_test(engine: Engine, alerting: Alerting, value: str) -> dict[str, Any]:
    key = authority_key(value)
    authority = alerting.authorities.get(key)
    if authority is None:
        raise NotFound(Message("alerts.unknown_authority", value=value))
    now = now_utc()
    with session_scope(engine) as session:
        alert_id = alerting.outbox.test_message(session, key, now)
    delivery = alerting.dispatcher.send_one(alert_id, DispatchReport(), now)
    with session_scope(engine) as session:
        alert = session.get(Alert, alert_id)
    assert alert is not None
    by_index = {o.index: o for o in delivery.outcomes} if delivery else {}
    outcomes = [
        {
            "index": index,
            "url": shown,
            "status": by_index[index].status if index in by_index else "not sent",
            "detail": by_index[index].detail if index in by_index else (alert.last_error or ""),
        }
        for index, shown in enumerate(authority.masked_urls)
    ]
    return {"authority": authority.name, "status": alert.status, "urls": outcomes}


def counts(session: Session) -> dict[str, int]:
    """How many alerts there are in each status (status, metrics)."""
    rows = session.execute(select(col(Alert.status), func.count()).group_by(col(Alert.status)))
    return {status: count for status, count in rows}


def configuration_errors(session: Session) -> list[str]:
    """Why alerts failed for their configuration (a receiver no URL can reach), once each."""
    found = session.scalars(
        select(col(Alert.last_error))
        .where(col(Alert.status) == "failed", col(Alert.last_error).like("configuration:%"))
        .distinct()
    )
    return [error for error in found if error]


def newest_id(session: Session) -> int:
    """The id of the newest alert (0 when there is none): a mark to count what came after."""
    return session.scalar(select(func.max(col(Alert.id)))) or 0


def count_between(session: Session, after: int, upto: int, statuses: Iterable[str]) -> int:
    """How many alerts with ids in (`after`, `upto`] are in one of `statuses`."""
    return (
        session.scalar(
            select(func.count()).where(
                col(Alert.id) > after,
                col(Alert.id) <= upto,
                col(Alert.status).in_(list(statuses)),
            )
        )
        or 0
    )


def newest_dedup_key(session: Session, kind: str, prefix: str) -> str | None:
    """The dedup key of the newest alert of `kind` whose key starts with `prefix`."""
    return session.scalars(
        select(col(Alert.dedup_key))
        .where(col(Alert.kind) == kind, col(Alert.dedup_key).like(f"{prefix}%"))
        .order_by(col(Alert.id).desc())
        .limit(1)
    ).first()
