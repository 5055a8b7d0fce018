"""Staff decisions: confirm, dismiss or reopen a flag, raise one, record a rename or a revocation.

Each checks the operator's scope (monitor/operators.py), changes state in one
transaction and leaves an audit row: a `flag_audit` entry for a flag, a
`designation_event` for a designation. A recorded rename or revocation answers
the flags it settles.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine
from sqlmodel import Session

from monitor.clock import now_utc, today_beijing
from monitor.codes import DISTRICTS_BY_CODE, resolve_district
from monitor.errors import BadInput, Refused
from monitor.flags import book as flags_book
from monitor.flags.book import get_flag, open_flag, resolve_answered, transition
from monitor.i18n import Message, t
from monitor.operators import Operator
from monitor.register.store import (
    claim_factory,
    designations_in_force,
    districts_of,
    factory_by_id,
    find_factory,
    move_designations,
    record_event,
    rename_enterprise,
    revoke_designations,
    summarise,
    touch,
)
from monitor.rules import CLAUSES, Finding
from monitor.rules.naming import normalise_name
from monitor.storage.db import session_scope
from monitor.storage.models import Factory, Flag, FlagAudit
from monitor.vocabulary import DesignationStatus, EventKind, FlagState

if TYPE_CHECKING:
    from monitor.alerts.outbox import Outbox


def raise_flag(
    session: Session,
    factory: Factory,
    rule_id: str,
    *,
    actor: str,
    reason: str,
    outbox: Outbox | None,
    actor_name: str | None = None,
) -> Flag:
    """A flag staff raise under any clause, for evidence that reached them outside the
    connectors (12(1), false information, can only be raised this way)."""
    if rule_id not in CLAUSES:
        raise BadInput(Message("flag.not_raisable", rule=rule_id, allowed=", ".join(CLAUSES)))
    clause, severity = CLAUSES[rule_id]
    now = now_utc()
    finding = Finding(
        rule_id,
        clause,
        severity,
        None,
        f"raised:{now.isoformat()}",
        "finding.raised_by_staff",
        {"reason": reason},
        {"raised_by": actor, "reason": reason},
    )
    return open_flag(
        session,
        factory,
        finding,
        actor=actor,
        actor_name=actor_name,
        reason=reason,
        now=now,
        outbox=outbox,
    )


def decide(
    engine: Any,
    flag_id: int,
    to_state: FlagState,
    *,
    operator: Operator,
    reason: str,
    outbox: Outbox | None = None,
    from_state: FlagState | None = None,
) -> tuple[Flag, FlagAudit]:
    """Staff confirm, dismiss or reopen a flag of a factory within their scope; every office
    that was told of the flag is told of the decision.

    `from_state` is the state the decision was made from (what the caller saw): a flag
    that is no longer in it is refused (exit 3), and the update itself is conditional on
    it, so of two decisions on one flag only one is recorded."""
    if not reason or not reason.strip():
        raise BadInput(Message("reason.required"))
    with session_scope(engine) as session:
        flag = get_flag(session, flag_id)
        if from_state is not None and flag.state != from_state.value:
            raise Refused(
                Message(
                    "flag.changed_meanwhile",
                    id=flag.id,
                    from_state=from_state.value,
                    to_state=to_state.value,
                    now_state=flag.state,
                )
            )
        factory = factory_by_id(session, flag.factory_id)
        operator.require_decision_power(factory, flag.severity, districts_of(session, factory))
        audit = transition(
            session,
            flag,
            to_state,
            actor=operator.user,
            actor_name=operator.name,
            reason=reason.strip(),
        )
        session.flush()
        if outbox is not None:
            outbox.flag_decided(session, flag.id or 0, audit.id or 0, to_state.value, audit.at)
        return flag, audit


def add_note(engine: Any, flag_id: int, *, operator: Operator, text: str) -> Flag:
    """A note on a flag by an office in scope (a district verifying an advanced-level case
    for the bureau): an audit entry that moves nothing."""
    text = _require_text(text, "--text")
    with session_scope(engine) as session:
        flag = get_flag(session, flag_id)
        factory = factory_by_id(session, flag.factory_id)
        operator.require_district(factory, districts_of(session, factory))
        flags_book.add_note(session, flag, actor=operator.user, actor_name=operator.name, text=text)
        return flag


def raise_for(
    engine: Any,
    credit_code: str,
    rule_id: str,
    *,
    operator: Operator,
    reason: str,
    outbox: Outbox | None,
    accept_codes: Iterable[str] = (),
) -> Flag:
    if not reason or not reason.strip():
        raise BadInput(Message("reason.required"))
    with session_scope(engine) as session:
        factory = find_factory(session, credit_code, accept_codes=accept_codes)
        operator.require_district(factory, districts_of(session, factory))
        return raise_flag(
            session,
            factory,
            rule_id,
            actor=operator.user,
            actor_name=operator.name,
            reason=reason.strip(),
            outbox=outbox,
        )


def _require_text(value: str, field_name: str) -> str:
    if not value or not value.strip():
        raise BadInput(Message("text.blank", field=field_name))
    return value.strip()


def _require_in_force(factory: Factory, refusal: str) -> None:
    """Refuse (exit 3) a decision on an enterprise whose designation was revoked."""
    if factory.status == DesignationStatus.REVOKED:
        raise Refused(
            Message(refusal, code=factory.credit_code, revoked_on=str(factory.revoked_on))
        )


def _check_decision_date(factory: Factory, value: date, today: date) -> None:
    if value > today:
        raise BadInput(Message("date.future", value=value.isoformat()))
    if value < factory.designated_on:
        raise BadInput(
            Message(
                "factory.date_before_designation",
                value=value.isoformat(),
                designated_on=factory.designated_on.isoformat(),
            )
        )


def rename_factory(
    engine: Engine,
    code: str,
    *,
    new_name: str,
    approved_on: date,
    reference: str | None,
    operator: Operator,
    outbox: Outbox | None,
    accept_codes: Iterable[str] = (),
    today: date | None = None,
) -> tuple[Factory, str]:
    """Record the bureau's approval of a name change; return the factory and its former name."""
    new_name = re.sub(r"\s+", " ", _require_text(new_name, "--name"))
    with session_scope(engine) as session:
        factory = claim_factory(session, code, accept_codes=accept_codes)
        operator.require_municipal("认定企业名称变更")
        _require_in_force(factory, "factory.revoked_cannot_rename")
        if factory.name == new_name:
            raise BadInput(Message("factory.same_name", code=factory.credit_code, name=new_name))
        _check_decision_date(factory, approved_on, today or today_beijing())
        former = rename_enterprise(factory, new_name)
        event = record_event(
            session,
            factory,
            EventKind.RENAMED,
            occurred_on=approved_on,
            actor=operator.user,
            actor_name=operator.name,
            reference=reference,
            details={"from": former, "to": new_name},
        )
        # The recorded rename answers the pending-rename flag for this very name.
        resolve_answered(
            session,
            factory,
            outbox=outbox,
            actor=operator.user,
            actor_name=operator.name,
            event=event,
            reason=t(
                "audit.reason.renamed", former=former, new=new_name, reference=reference or "—"
            ),
            rule_id="art12-rename-pending",
            evidence_key=f"name:{normalise_name(new_name)}",
        )
    return factory, former


def revoke_factory(
    engine: Engine,
    code: str,
    *,
    decided_on: date,
    reference: str,
    reason: str,
    operator: Operator,
    outbox: Outbox | None,
    accept_codes: Iterable[str] = (),
    today: date | None = None,
) -> Factory:
    """Record the revocation of a designation (Article 12); it answers every open flag."""
    reference = _require_text(reference, "--ref")
    reason = _require_text(reason, "--reason")
    with session_scope(engine) as session:
        factory = claim_factory(session, code, accept_codes=accept_codes)
        operator.require_revocation_power(factory, districts_of(session, factory))
        _require_in_force(factory, "factory.revoked_already")
        _check_decision_date(factory, decided_on, today or today_beijing())
        revoke_designations(session, factory, decided_on)
        summarise(session, factory)
        touch(factory)
        event = record_event(
            session,
            factory,
            EventKind.REVOKED,
            occurred_on=decided_on,
            actor=operator.user,
            actor_name=operator.name,
            reference=reference,
            reason=reason,
        )
        resolve_answered(
            session,
            factory,
            outbox=outbox,
            actor=operator.user,
            actor_name=operator.name,
            event=event,
            reason=t(
                "audit.reason.revoked", on=str(decided_on), reference=reference, reason=reason
            ),
        )
    return factory


def move_factory(
    engine: Engine,
    code: str,
    *,
    district: str,
    decided_on: date,
    reference: str | None,
    operator: Operator,
    outbox: Outbox | None,
    accept_codes: Iterable[str] = (),
    today: date | None = None,
) -> tuple[Factory, list[str]]:
    """Record a move inside Beijing (Article 4): the designations in force follow the
    enterprise to `district`; the event keeps where they were. The bureau, or an operator of
    either district, may record it. Returns the factory and the districts it left."""
    target = resolve_district(district)
    if target is None:
        raise BadInput("--district: " + t("district.unknown", value=district))
    with session_scope(engine) as session:
        factory = claim_factory(session, code, accept_codes=accept_codes)
        _require_in_force(factory, "factory.revoked_cannot_move")
        held = designations_in_force(session, factory)
        former = sorted({d.district_code for d in held} - {target.code})
        if not former:
            raise BadInput(
                Message("factory.same_district", code=factory.credit_code, district=target.name)
            )
        operator.require_district(factory, [*former, target.code])  # the bureau, or either side
        _check_decision_date(factory, decided_on, today or today_beijing())
        move_designations(session, held, target.code)
        summarise(session, factory)
        touch(factory)
        event = record_event(
            session,
            factory,
            EventKind.UPDATED,
            occurred_on=decided_on,
            actor=operator.user,
            actor_name=operator.name,
            reference=reference,
            reason=t(
                "audit.reason.moved",
                former="、".join(
                    DISTRICTS_BY_CODE[c].name for c in former if c in DISTRICTS_BY_CODE
                ),
                new=target.name,
            ),
            details={"changes": {"district_code": ["、".join(former), target.code]}},
        )
        resolve_answered(
            session,
            factory,
            outbox=outbox,
            actor=operator.user,
            actor_name=operator.name,
            event=event,
            reason=t(
                "audit.reason.moved_flag",
                district=target.name,
                on=str(decided_on),
                reference=reference or "—",
            ),
            rule_id="register-district-changed",
        )
    return factory, former
