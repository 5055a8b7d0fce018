"""Findings → flags: fingerprint dedup, the lifecycle of DESIGN §4, and its audit trail.

    open → confirmed | dismissed | cleared;  confirmed → resolved;
    dismissed | cleared → open (reopen, by staff);
    cleared → open when its condition comes back (audited as "recurred", alerted again);
    open | confirmed → resolved when a recorded decision answers the flag.

The same fingerprint (rule + credit code + evidence key) never opens a second
flag; new evidence is a new fingerprint and so a new flag. Every transition
writes a FlagAudit row, and nothing updates or deletes those rows.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy import event, func, insert, update
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col, select

from monitor.clock import beijing_day, now_utc
from monitor.errors import NotFound, Refused
from monitor.i18n import Message, flag_summary
from monitor.storage.models import DesignationEvent, Factory, Flag, FlagAudit
from monitor.vocabulary import FlagState

if TYPE_CHECKING:
    from monitor.alerts.outbox import Outbox
from monitor.rules import Finding
from monitor.rules.endings import Ending, Outcome, Unlisted

log = structlog.get_logger("sfm.flags")

SYSTEM_ACTOR = "sfm"
# the sweep's audit reasons (the catalogue words them for readers: audit.reason.*)
OPENED = "rule fired"
CLEARED = "condition no longer observed"
RECURRED = "recurred"

TRANSITIONS: dict[tuple[str, str], str] = {
    # (from, to): who may make it
    ("open", "confirmed"): "staff",
    ("open", "dismissed"): "staff",
    ("dismissed", "open"): "staff",
    ("cleared", "open"): "staff",
    ("open", "cleared"): "system",
    ("open", "resolved"): "system",
    ("confirmed", "resolved"): "system",
}


@event.listens_for(FlagAudit, "before_update")
@event.listens_for(FlagAudit, "before_delete")
def _audit_is_append_only(_mapper: Any, _connection: Any, target: FlagAudit) -> None:
    raise Refused(f"audit entry {target.id} cannot be changed or deleted")


def fingerprint(rule_id: str, credit_code: str, evidence_key: str) -> str:
    return hashlib.sha256(f"{rule_id}|{credit_code}|{evidence_key}".encode()).hexdigest()


def transition(
    session: Session,
    flag: Flag,
    to_state: FlagState,
    *,
    actor: str,
    reason: str,
    by: str = "staff",
    now: datetime | None = None,
    actor_name: str | None = None,
) -> FlagAudit:
    """Move a flag, or refuse (exit 3) with the reason the lifecycle forbids it."""
    allowed = TRANSITIONS.get((flag.state, to_state.value))
    if allowed != by:
        raise Refused(
            Message(
                "flag.transition_refused",
                id=flag.id,
                from_state=flag.state,
                to_state=to_state.value,
            )
        )
    moment = now or now_utc()
    # Conditional on the state it was decided from: of two decisions racing on one
    # flag (or a decision and a sweep), the second finds the state moved and loses.
    moved = session.execute(
        update(Flag)
        .where(col(Flag.id) == flag.id, col(Flag.state) == flag.state)
        .values(state=to_state.value, state_changed_at=moment)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]  # an UPDATE's CursorResult
        now_state = session.execute(
            select(col(Flag.state)).where(col(Flag.id) == flag.id)
        ).scalar_one()
        raise Refused(
            Message(
                "flag.changed_meanwhile",
                id=flag.id,
                from_state=flag.state,
                to_state=to_state.value,
                now_state=now_state,
            )
        )
    audit = FlagAudit(
        flag_id=flag.id or 0,
        at=moment,
        actor=actor,
        actor_name=actor_name,
        from_state=flag.state,
        to_state=to_state.value,
        reason=reason,
    )
    set_committed_value(flag, "state", to_state.value)
    set_committed_value(flag, "state_changed_at", moment)
    session.add(audit)
    return audit


def flag_row(factory: Factory, finding: Finding, now: datetime) -> dict[str, Any]:
    return {
        "fingerprint": fingerprint(finding.rule_id, factory.credit_code, finding.evidence_key),
        "rule_id": finding.rule_id,
        "clause": finding.clause,
        "severity": finding.severity.value,
        "factory_id": factory.id,
        "topic": finding.topic.value if finding.topic else None,
        "evidence_key": finding.evidence_key,
        "state": FlagState.OPEN.value,
        "summary_key": finding.summary_key,
        "summary_params": finding.summary_params,
        "evidence": finding.evidence,
        "anchor": finding.anchor,
        "first_seen_at": now,
        "last_seen_at": now,
        "state_changed_at": now,
    }


def open_flag(
    session: Session,
    factory: Factory,
    finding: Finding,
    *,
    actor: str,
    reason: str,
    now: datetime,
    outbox: Outbox | None,
    actor_name: str | None = None,
) -> Flag:
    """Open one flag now (staff raising one); sweeps open theirs in bulk through FlagBook."""
    flag = Flag(**flag_row(factory, finding, now))
    session.add(flag)
    session.flush()
    session.add(
        FlagAudit(
            flag_id=flag.id or 0,
            at=now,
            actor=actor,
            actor_name=actor_name,
            from_state=None,
            to_state=FlagState.OPEN.value,
            reason=reason,
        )
    )
    session.flush()
    if outbox is not None:
        outbox.flags_opened(session, [flag.id or 0], now)
    return flag


@dataclass(frozen=True)
class KnownFlag:
    id: int
    state: str
    topic: str | None
    rule_id: str
    evidence_key: str = ""
    anchor: str = "state"
    unlisted_since: date | None = None


@dataclass
class ReconcileTally:
    opened: int = 0
    seen_again: int = 0
    cleared: int = 0
    recurred: int = 0


class FlagBook:
    """The flags of a chunk of factories, and the writes reconciling them, done in bulk.

    A sweep over 10,000 factories touches most of their flags; one statement per
    kind of change, instead of one per flag, is what keeps evaluation within 5 s.
    """

    def __init__(self, session: Session, factory_ids: list[int], outbox: Outbox | None) -> None:
        self.session = session
        self.outbox = outbox
        self.known: dict[int, dict[str, KnownFlag]] = {}
        columns = [
            Flag.factory_id,
            Flag.fingerprint,
            Flag.id,
            Flag.state,
            Flag.topic,
            Flag.rule_id,
            Flag.evidence_key,
            Flag.anchor,
            Flag.unlisted_since,
        ]
        rows = session.execute(
            select(*[col(column) for column in columns]).where(
                col(Flag.factory_id).in_(factory_ids)
            )
        )
        for factory_id, key, *known in rows:
            self.known.setdefault(factory_id, {})[key] = KnownFlag(*known)
        self.new_rows: list[dict[str, Any]] = []
        self.seen_ids: list[int] = []
        self.cleared: dict[int, str] = {}  # flag id → what the data now shows
        self.recurred_ids: list[int] = []
        self.unlisted_ids: list[int] = []  # events their source stopped listing
        self.relisted_ids: list[int] = []  # ... and listed again

    def _move(
        self,
        flag_ids: list[int],
        from_state: FlagState,
        to_state: FlagState,
        reason: str | dict[int, str],
        now: datetime,
    ) -> dict[int, int]:
        """The sweep's own transitions, in bulk, each audited. Only flags still in
        `from_state` move: a decision taken while the sweep evaluated stands. Returns the
        flags moved, each with the id of its audit entry."""
        moved = list(
            self.session.execute(
                update(Flag)
                .where(col(Flag.id).in_(flag_ids), col(Flag.state) == from_state.value)
                .values(state=to_state.value, state_changed_at=now)
                .returning(col(Flag.id))
                .execution_options(synchronize_session=False)
            ).scalars()
        )
        if len(moved) < len(flag_ids):
            log.info(
                "flags decided during the sweep kept their decision",
                kept=len(flag_ids) - len(moved),
                to_state=to_state.value,
            )
        if not moved:
            return {}
        audited = self.session.execute(
            insert(FlagAudit).returning(
                col(FlagAudit.flag_id), col(FlagAudit.id), sort_by_parameter_order=True
            ),
            _audit_rows(moved, from_state, to_state, reason, now),
        ).all()
        return {flag_id: audit_id for flag_id, audit_id in audited}

    def write(self, now: datetime) -> None:
        session = self.session
        if self.new_rows:
            inserted = (
                session.execute(
                    insert(Flag).returning(col(Flag.id), sort_by_parameter_order=True),
                    self.new_rows,
                )
                .scalars()
                .all()
            )
            session.execute(
                insert(FlagAudit), _audit_rows(list(inserted), None, FlagState.OPEN, OPENED, now)
            )
            if self.outbox is not None:
                self.outbox.flags_opened(session, list(inserted), now)
        if self.seen_ids:
            session.execute(
                update(Flag).where(col(Flag.id).in_(self.seen_ids)).values(last_seen_at=now)
            )
        if self.unlisted_ids:
            session.execute(
                update(Flag)
                .where(col(Flag.id).in_(self.unlisted_ids), col(Flag.unlisted_since).is_(None))
                .values(unlisted_since=beijing_day(now))
            )
        if self.relisted_ids:
            session.execute(
                update(Flag).where(col(Flag.id).in_(self.relisted_ids)).values(unlisted_since=None)
            )
        if self.cleared:
            cleared = self._move(
                list(self.cleared), FlagState.OPEN, FlagState.CLEARED, self.cleared, now
            )
            if self.outbox is not None and cleared:
                self.outbox.flags_closed(session, cleared, now)
        if self.recurred_ids:
            recurred = self._move(
                self.recurred_ids, FlagState.CLEARED, FlagState.OPEN, RECURRED, now
            )
            if self.outbox is not None and recurred:
                self.outbox.flags_opened(session, list(recurred), now, recurred=True)
        self.new_rows, self.seen_ids, self.cleared, self.recurred_ids = [], [], {}, []
        self.unlisted_ids, self.relisted_ids = [], []


def _audit_rows(
    flag_ids: list[int],
    from_state: FlagState | None,
    to_state: FlagState,
    reason: str | dict[int, str],
    now: datetime,
) -> list[dict[str, Any]]:
    return [
        {
            "flag_id": flag_id,
            "at": now,
            "actor": SYSTEM_ACTOR,
            "from_state": from_state.value if from_state else None,
            "to_state": to_state.value,
            "reason": reason if isinstance(reason, str) else reason.get(flag_id, CLEARED),
        }
        for flag_id in flag_ids
    ]


def reconcile(
    book: FlagBook,
    factory: Factory,
    findings: Iterable[Finding],
    clearable_topics: set[str],
    tally: ReconcileTally,
    now: datetime,
    ended: Callable[[KnownFlag], Outcome],
) -> None:
    """Bring one factory's flags in line with its findings (written by `book.write`).

    A flag whose finding is gone is cleared only if it is open, every source of
    its topic answered this time (an error is never evidence that a condition
    went away) and `ended` says what the data now shows instead: an event its
    source stopped listing stays, noted as unlisted; a state or listing the data
    still shows (a rule switched off by new measures) stays too. A flag seen again
    keeps its state: a dismissed flag stays dismissed while its evidence is unchanged.
    """
    known = book.known.setdefault(factory.id or 0, {})
    current: set[str] = set()
    for finding in findings:
        row = flag_row(factory, finding, now)
        key = row["fingerprint"]
        current.add(key)
        flag = known.get(key)
        if flag is None:
            book.new_rows.append(row)
            known[key] = KnownFlag(0, FlagState.OPEN.value, row["topic"], finding.rule_id)
            tally.opened += 1
            log.info(
                "flag raised",
                credit_code=factory.credit_code,
                rule_id=finding.rule_id,
                severity=row["severity"],
            )
        elif flag.state == FlagState.CLEARED.value and flag.id:
            # the condition went away and has come back: the same flag opens again
            book.recurred_ids.append(flag.id)
            known[key] = KnownFlag(flag.id, FlagState.OPEN.value, flag.topic, flag.rule_id)
            tally.recurred += 1
            log.info("flag recurred", credit_code=factory.credit_code, rule_id=finding.rule_id)
        else:
            if flag.id:
                book.seen_ids.append(flag.id)
                if flag.unlisted_since is not None:
                    book.relisted_ids.append(flag.id)
            tally.seen_again += 1
    for key, flag in known.items():
        if (
            key in current
            or not flag.id
            or flag.topic not in clearable_topics  # staff-raised flags have none: never cleared
        ):
            continue
        outcome = ended(flag)
        if isinstance(outcome, Unlisted):
            if flag.unlisted_since is None:
                book.unlisted_ids.append(flag.id)
                log.info(
                    "event no longer listed by its source; its flag stays",
                    credit_code=factory.credit_code,
                    rule_id=flag.rule_id,
                    flag_id=flag.id,
                )
        elif isinstance(outcome, Ending) and flag.state == FlagState.OPEN.value:
            book.cleared[flag.id] = flag_summary(f"audit.reason.{outcome.key}", outcome.params)
            tally.cleared += 1


def resolve_answered(
    session: Session,
    factory: Factory,
    *,
    actor: str,
    reason: str,
    outbox: Outbox | None,
    rule_id: str | None = None,
    evidence_key: str | None = None,
    actor_name: str | None = None,
    event: DesignationEvent | None = None,
) -> list[Flag]:
    """Resolve the open or confirmed flags a recorded decision answers; the closing notices
    announce that decision (`event`)."""
    query = select(Flag).where(
        Flag.factory_id == factory.id,
        col(Flag.state).in_([FlagState.OPEN.value, FlagState.CONFIRMED.value]),
    )
    if rule_id is not None:
        query = query.where(Flag.rule_id == rule_id)
    if evidence_key is not None:
        query = query.where(Flag.evidence_key == evidence_key)
    flags = list(session.exec(query))
    now = now_utc()
    audits = {
        flag.id or 0: transition(
            session,
            flag,
            FlagState.RESOLVED,
            actor=actor,
            actor_name=actor_name,
            reason=reason,
            by="system",
            now=now,
        )
        for flag in flags
    }
    if outbox is not None and flags:
        session.flush()
        outbox.flags_closed(
            session,
            {flag_id: audit.id or 0 for flag_id, audit in audits.items()},
            now,
            event_id=event.id if event is not None else None,
        )
    return flags


def add_note(
    session: Session, flag: Flag, *, actor: str, text: str, actor_name: str | None = None
) -> FlagAudit:
    """A note on a flag: an audit entry that moves nothing."""
    note = FlagAudit(
        flag_id=flag.id or 0,
        at=now_utc(),
        actor=actor,
        actor_name=actor_name,
        from_state=flag.state,
        to_state=flag.state,
        reason=text,
    )
    session.add(note)
    return note


def get_flag(session: Session, flag_id: int) -> Flag:
    flag = session.get(Flag, flag_id)
    if flag is None:
        raise NotFound(Message("flag.not_found", id=flag_id))
    return flag


def counts(session: Session) -> list[tuple[str, str, int]]:
    """How many flags there are in each state and severity (status, metrics)."""
    rows = session.execute(
        select(col(Flag.state), col(Flag.severity), func.count()).group_by(
            col(Flag.state), col(Flag.severity)
        )
    )
    return [(state, severity, count) for state, severity, count in rows]
