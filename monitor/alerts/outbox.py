"""The outbox: alert rows written in the same transaction as the flags that cause them.

Revocation flags' alerts are due at once; review and action flags' alerts are
held for the daily digest. Each (flag, recipient) gets one alert; a decision
(confirmed, dismissed, reopened) or an ending (resolved, cleared) is announced to
whoever was alerted, each notice keeping the audit entry it announces;
reminders repeat every `reminder_after_days`, and an open flag past
`escalate_after_days` is escalated to the municipal bureau once.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import event, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from monitor.alerts.authorities import MUNICIPAL, OPS, Authorities
from monitor.alerts.routing import recipients
from monitor.clock import beijing_day
from monitor.config import AlertsSettings
from monitor.storage.models import Alert, Designation, Factory, Flag
from monitor.vocabulary import AlertStatus, DesignationStatus, FlagState

# a flag alert in these states told (or owes telling) its recipient; a bundled one only
# if a digest carried it
HANDED_OR_OWED = (AlertStatus.PENDING, AlertStatus.SENDING, AlertStatus.SENT, AlertStatus.FAILED)


class _NothingToBundle(Exception):
    """A digest with no item: rolled back, never sent."""


def _row(
    kind: str,
    dedup_key: str,
    authority: str,
    status: AlertStatus,
    now: datetime,
    flag_id: int | None = None,
) -> dict[str, Any]:
    return {
        "kind": kind,
        "dedup_key": dedup_key,
        "flag_id": flag_id,
        "authority": authority,
        "status": status.value,
        "attempts": 0,
        "delivered": [],
        "next_attempt_at": now if status is AlertStatus.PENDING else None,
        "created_at": now,
    }


def _existing_keys(session: Session, keys: list[str]) -> set[str]:
    if not keys:
        return set()
    return set(session.scalars(select(col(Alert.dedup_key)).where(col(Alert.dedup_key).in_(keys))))


def _insert_new(session: Session, rows: list[dict[str, Any]]) -> int:
    """Insert the rows whose dedup key is not taken yet: the same alert is never owed twice."""
    taken = _existing_keys(session, [row["dedup_key"] for row in rows])
    fresh = [row for row in rows if row["dedup_key"] not in taken]
    if fresh:
        session.execute(insert(Alert), fresh)
    return len(fresh)


def _designations(session: Session, factory_ids: list[int]) -> dict[int, list[tuple[str, str]]]:
    """Each enterprise's designations in force, as (level, district)."""
    held: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for factory_id, level, district in session.execute(
        select(col(Designation.factory_id), col(Designation.level), col(Designation.district_code))
        .where(
            col(Designation.factory_id).in_(factory_ids),
            col(Designation.status) == DesignationStatus.ACTIVE.value,
        )
        .order_by(col(Designation.id))
    ):
        if (level, district) not in held[factory_id]:
            held[factory_id].append((level, district))
    return held


class Outbox:
    def __init__(self, authorities: Authorities, settings: AlertsSettings) -> None:
        self.authorities = authorities
        self.settings = settings
        # Called once a transaction that wrote alerts due now has committed: the daemon
        # wakes its dispatch job with it, so a revocation leaves within seconds.
        self.on_due: Callable[[], None] | None = None

    def _owe(self, session: Session, rows: list[dict[str, Any]]) -> int:
        written = _insert_new(session, rows)
        if (
            written
            and self.on_due is not None
            and any(row["status"] == AlertStatus.PENDING.value for row in rows)
        ):
            event.listen(session, "after_commit", self._committed, once=True)
        return written

    def _committed(self, _session: Session) -> None:
        if self.on_due is not None:
            try:
                self.on_due()
            except Exception:  # the dispatch job's own schedule still finds these alerts
                structlog.get_logger("sfm.alerts").exception("could not wake the dispatch job")

    # ------------------------------------------------------------ caused by flags

    def flags_opened(
        self, session: Session, flag_ids: list[int], now: datetime, *, recurred: bool = False
    ) -> int:
        """The alerts a newly opened flag owes; a flag whose condition came back after it was
        cleared owes them again (its key names the moment it recurred)."""
        episode = f":recurred:{now.isoformat()}" if recurred else ""
        rows = []
        query = (
            select(
                col(Flag.id),
                col(Flag.severity),
                col(Flag.rule_id),
                col(Flag.factory_id),
                col(Factory.level),
                col(Factory.district_code),
                col(Factory.credit_code),
                col(Flag.evidence),
            )
            .join(Factory, col(Factory.id) == col(Flag.factory_id))
            .where(col(Flag.id).in_(flag_ids))
        )
        flags = session.execute(query).all()
        held = _designations(session, [row[3] for row in flags])
        for flag_id, severity, rule_id, factory_id, level, district, code, evidence in flags:
            status = AlertStatus.PENDING if severity == "revocation" else AlertStatus.HELD
            # a flag is the enterprise's: it reaches the authorities of all its designations
            told: list[str] = []
            for level_, district_ in held.get(factory_id) or [(level, district)]:
                for authority in recipients(
                    self.authorities,
                    level=level_,
                    district_code=district_,
                    severity=severity,
                    rule_id=rule_id,
                    credit_code=code,
                ):
                    if authority not in told:
                        told.append(authority)
            # a move inside Beijing: the district it moved to hears of it too (Article 4)
            for moved_to in (evidence or {}).get("new_districts", []):
                if self.authorities.has_district(moved_to) and moved_to not in told:
                    told.append(moved_to)
            for authority in told:
                rows.append(
                    _row(
                        "flag",
                        f"flag:{flag_id}:{authority}{episode}",
                        authority,
                        status,
                        now,
                        flag_id,
                    )
                )
        return self._owe(session, rows)

    def _told(self, session: Session, flag_ids: list[int]) -> list[tuple[int, str]]:
        """Who was (or is being) told of these flags: a held item not yet in a digest, or
        one put away because its flag closed first, told nobody."""
        return sorted(
            set(
                session.execute(
                    select(col(Alert.flag_id), col(Alert.authority)).where(
                        col(Alert.flag_id).in_(flag_ids),
                        col(Alert.kind) == "flag",
                        or_(
                            col(Alert.status).in_([s.value for s in HANDED_OR_OWED]),
                            (col(Alert.status) == AlertStatus.BUNDLED.value)
                            & col(Alert.digest_id).is_not(None),
                        ),
                    )
                ).all()
            )
        )

    def _announcements(
        self,
        kind: str,
        told: list[tuple[int, str]],
        audits: dict[int, int],
        now: datetime,
        event_id: int | None,
    ) -> list[dict[str, Any]]:
        rows = []
        for flag_id, authority in told:
            # one notice per decision and recipient: the audit entry names the decision
            row = _row(
                kind,
                f"{kind}:{flag_id}:{authority}:audit:{audits[flag_id]}",
                authority,
                AlertStatus.PENDING,
                now,
                flag_id,
            )
            row["audit_id"], row["event_id"] = audits[flag_id], event_id
            rows.append(row)
        return rows

    def flags_closed(
        self,
        session: Session,
        audits: dict[int, int],
        now: datetime,
        *,
        event_id: int | None = None,
    ) -> int:
        """A closing notice to everyone who was (or is being) told of these flags, each
        announcing the flag's audit entry `audits[flag_id]` and, for a recorded decision
        (a revocation, a rename, a move), its designation event."""
        flag_ids = list(audits)
        rows = self._announcements("closing", self._told(session, flag_ids), audits, now, event_id)
        # Held items of a flag closed before its digest went out need no notice at all.
        self._put_away_held(session, flag_ids)
        return self._owe(session, rows)

    def flag_decided(
        self, session: Session, flag_id: int, audit_id: int, to_state: str, now: datetime
    ) -> int:
        """Staff confirmed, dismissed or reopened a flag: a notice of that decision to everyone
        who was told of it. A dismissed flag's items still held for a digest are put away."""
        rows = self._announcements(
            "decision", self._told(session, [flag_id]), {flag_id: audit_id}, now, None
        )
        if to_state == FlagState.DISMISSED.value:
            self._put_away_held(session, [flag_id])
        return self._owe(session, rows)

    def _put_away_held(self, session: Session, flag_ids: list[int]) -> None:
        session.execute(
            update(Alert)
            .where(col(Alert.flag_id).in_(flag_ids), col(Alert.status) == AlertStatus.HELD.value)
            .values(status=AlertStatus.BUNDLED.value, last_error="flag closed before the digest")
        )

    # ------------------------------------------------------------ scheduled

    def make_digests(self, session: Session, now: datetime) -> list[int]:
        """One digest per authority per day (Beijing) of everything held for it; the items
        are marked bundled. However many runs start, each authority gets one digest a day,
        and never an empty one: items another run bundled first are not bundled again."""
        held = session.execute(
            select(col(Alert.id), col(Alert.authority))
            .where(col(Alert.status) == AlertStatus.HELD.value)
            .order_by(col(Alert.id))
        ).all()
        by_authority: dict[str, list[int]] = defaultdict(list)
        for alert_id, authority in held:
            by_authority[authority].append(alert_id)
        day = beijing_day(now).isoformat()
        digests = []
        for authority, items in by_authority.items():
            try:
                with session.begin_nested():
                    digest = Alert(
                        **_row(
                            "digest",
                            f"digest:{authority}:{day}",
                            authority,
                            AlertStatus.PENDING,
                            now,
                        )
                    )
                    session.add(digest)
                    session.flush()
                    bundled = session.execute(
                        update(Alert)
                        .where(
                            col(Alert.id).in_(items), col(Alert.status) == AlertStatus.HELD.value
                        )
                        .values(status=AlertStatus.BUNDLED.value, digest_id=digest.id)
                        .returning(col(Alert.id))
                    ).all()
                    if not bundled:
                        raise _NothingToBundle
            except (IntegrityError, _NothingToBundle):
                continue  # today's digest exists, or another run bundled these items first
            digests.append(digest.id or 0)
        return digests

    def make_reminders(self, session: Session, now: datetime) -> int:
        """Remind whoever was told of a flag still open; escalate the oldest to the bureau."""
        remind_after = timedelta(days=self.settings.reminder_after_days)
        escalate_after = timedelta(days=self.settings.escalate_after_days)
        stale = session.execute(
            select(col(Flag.id), col(Flag.first_seen_at)).where(
                col(Flag.state) == FlagState.OPEN.value,
                col(Flag.first_seen_at) <= now - remind_after,
            )
        ).all()
        if not stale:
            return 0
        told: dict[int, set[str]] = defaultdict(set)
        for flag_id, authority in session.execute(
            select(col(Alert.flag_id), col(Alert.authority)).where(
                col(Alert.flag_id).in_([row[0] for row in stale]), col(Alert.kind) == "flag"
            )
        ):
            told[flag_id].add(authority)
        rows = []
        for flag_id, first_seen in stale:
            age = now - first_seen
            period = int(age / remind_after)  # a reminder every `reminder_after_days`
            for authority in sorted(told.get(flag_id, set())):
                rows.append(
                    _row(
                        "reminder",
                        f"reminder:{flag_id}:{authority}:{period}",
                        authority,
                        AlertStatus.PENDING,
                        now,
                        flag_id,
                    )
                )
            if age >= escalate_after:
                rows.append(
                    _row(
                        "escalation",
                        f"escalation:{flag_id}",
                        MUNICIPAL,
                        AlertStatus.PENDING,
                        now,
                        flag_id,
                    )
                )
        return self._owe(session, rows)

    # ------------------------------------------------------------ by hand

    def test_message(self, session: Session, authority: str, now: datetime) -> int:
        alert = Alert(
            **_row("test", f"test:{authority}:{uuid.uuid4()}", authority, AlertStatus.PENDING, now)
        )
        session.add(alert)
        session.flush()
        return alert.id or 0

    def owed(self, session: Session, key: str) -> bool:
        """Whether an alert under this dedup key was ever written."""
        return bool(_existing_keys(session, [key]))

    def tell_ops(self, session: Session, key: str, title: str, message: str, now: datetime) -> int:
        """A note to the people who run sfm, once per `key` (e.g. once a day)."""
        return self.notice(session, "ops", f"ops:{key}", OPS, title, message, now)

    def note(
        self,
        session: Session,
        kind: str,
        key: str,
        authority: str,
        details: dict[str, Any],
        now: datetime,
        *,
        attachment: str | None = None,
    ) -> int:
        """A calendar or ops notice owed once per `key`: its facts (`details`, plain data),
        which the template of `kind` words when it is sent."""
        row = _row(kind, key, authority, AlertStatus.PENDING, now)
        row["details"] = details
        row["attachment"] = attachment
        return self._owe(session, [row])

    def notice(
        self,
        session: Session,
        kind: str,
        key: str,
        authority: str,
        title: str,
        message: str,
        now: datetime,
        *,
        attachment: str | None = None,
    ) -> int:
        """A message not about one flag (calendar, overview, ops), owed once per `key`."""
        row = _row(kind, key, authority, AlertStatus.PENDING, now)
        row["subject"] = title
        row["body_text"] = message
        row["attachment"] = attachment
        return self._owe(session, [row])
