"""What an alert's template is given: the flag, its factory, the measures, the recipients.

Read-only: building the context of an alert changes nothing, so it can be
tried again after a failed render.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from monitor.alerts.authorities import MUNICIPAL, Authorities
from monitor.clauses import clauses_of, reference
from monitor.clock import BEIJING, beijing_text
from monitor.codes import DISTRICTS_BY_CODE
from monitor.i18n import CATALOG, audit_reason, flag_summary, language, t
from monitor.rules.accident import today_grade
from monitor.rules.penalty import today_threshold
from monitor.rules.policy import PolicyChoice
from monitor.storage.models import Alert, DesignationEvent, Factory, Flag, FlagAudit

# Notices not about one flag: each kind's template words the facts its job stored
# (`alert.details`); a row written with its own subject and text (before notices kept their
# facts, or a test message) goes in the plain notice template.
NOTICE_KINDS = {"ops", "filing", "expiry", "overview"}
# what officials do not read: ids of records, connectors and measures ("source" is shown
# only where a flag recorded no `source_name`, before connectors had display names)
_HIDDEN_EVIDENCE = {"observation_id", "sources", "measures_key", "new_districts"}
# evidence keys whose values are words of another key's vocabulary
_VALUE_WORDS = {
    "provider_grade": "grade",
    "derived_grade": "grade",
    "status": "registration_status",
}


def template_of(alert: Alert) -> str:
    if alert.kind in NOTICE_KINDS and alert.details is None and alert.kind != "ops":
        return "notice"
    return alert.kind


def recipient_role(flag: Flag, factory: Factory, recipient: str | None) -> str:
    """What the office reading the alert is asked to do: `decide` (act on it), `verify` (a
    district's copy of an advanced-level revocation case: check and report to the bureau,
    which decides) or `supervise` (the bureau's copy of a case its district decides)."""
    if recipient is None:
        return "decide"
    if factory.level == "advanced" and flag.severity == "revocation":
        return "decide" if recipient == MUNICIPAL else "verify"
    if recipient == MUNICIPAL and factory.level != "advanced" and flag.severity != "action":
        return "supervise"
    return "decide"


def evidence_lines(evidence: dict[str, Any]) -> list[tuple[str, Any]]:
    """The evidence as an official reads it: labelled in the reader's language, times in
    Beijing time and marked so."""
    lines = []
    for key, value in evidence.items():
        if key in _HIDDEN_EVIDENCE or value in (None, "", [], {}):
            continue
        if key == "source" and evidence.get("source_name"):
            continue
        label = t(f"evidence.{key}") if f"evidence.{key}" in CATALOG else key
        if key == "observed_at":
            value = beijing_text(datetime.fromisoformat(value)) + t("beijing_time")
        elif isinstance(value, dict):
            value = "；".join(f"{t(f'evidence.{k}')}：{v}" for k, v in value.items())
        elif isinstance(value, list):
            value = "、".join(str(v) for v in value)
        elif f"{_VALUE_WORDS.get(key, key)}.{value}" in CATALOG:
            value = t(f"{_VALUE_WORDS.get(key, key)}.{value}")
        lines.append((label, value))
    return lines


def flag_evidence(flag: Flag, measures: PolicyChoice | None) -> dict[str, Any]:
    """The flag's evidence as recorded, and what has been learnt of it since: how today's
    measures would grade an event its own measures judged, and since when its source no
    longer lists it."""
    evidence = dict(flag.evidence)
    if measures is not None:
        graded_today = today_grade(evidence, measures)
        if graded_today is not None:
            evidence["graded_today"] = t(
                "evidence.graded_today_value",
                title=measures.policy.title,
                grade=t(f"grade.{graded_today}"),
            )
        threshold = today_threshold(evidence, measures)
        if threshold is not None:
            evidence["graded_today"] = t(
                "evidence.below_threshold_today",
                title=measures.policy.title,
                threshold=f"{threshold:,.0f}",
            )
    if flag.unlisted_since is not None:
        evidence["unlisted_since"] = t(
            "evidence.unlisted_since_value", day=str(flag.unlisted_since)
        )
    return evidence


def flag_context(
    flag: Flag,
    factory: Factory,
    deadline_days: int = 10,
    measures: PolicyChoice | None = None,
    recipient: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    district = DISTRICTS_BY_CODE.get(factory.district_code)
    district_name = district.name if district else factory.district_code
    reader = language()
    # quoted and referred to as the measures that judged the flag word and number it
    clauses = (
        measures.judge_of(flag.evidence.get("measures_key")).clauses()
        if measures is not None
        else None
    )
    clause_ref = reference(flag.clause, reader, clauses)
    bureau_decides = factory.level == "advanced" or flag.severity == "action"
    # the day sfm reminds next (its own schedule, not a legal time limit): every
    # `deadline_days` from the flag's first sighting, the first one after `now`
    step = timedelta(days=deadline_days)
    passed = int((now - flag.first_seen_at) / step) if now is not None else 0
    deadline = (flag.first_seen_at + step * (max(passed, 0) + 1)).astimezone(BEIJING)
    return {
        "flag": {
            "id": flag.id,
            "rule_id": flag.rule_id,
            "severity": flag.severity,
            "clause": clause_ref,
            "subject": t(f"subject.{flag.severity}", clause=clause_ref),
            "quotes": [
                (c.reference(reader), c.quote if reader == "zh" else f"{c.gloss} {t('gloss')}")
                for c in clauses_of(flag.clause, clauses)
            ],
            "severity_text": t(f"severity.{flag.severity}"),
            "state_text": t(f"state.{flag.state}"),
            "summary": flag_summary(flag.summary_key, flag.summary_params),
            "evidence": evidence_lines(flag_evidence(flag, measures)),
            "first_seen": beijing_text(flag.first_seen_at) + t("beijing_time"),
            "action_text": t(f"action.{flag.severity}"),
            "decides": t("decides.municipal")
            if bureau_decides
            else t("decides.district", district=district_name),
            "deadline": deadline.date().isoformat(),
            "role": recipient_role(flag, factory, recipient),
        },
        "factory": {
            "name": factory.name,
            "credit_code": factory.credit_code,
            "level_text": t(f"level.{factory.level}"),
            "district_name": district_name,
        },
    }


def _decision(session: Session, alert: Alert) -> dict[str, Any]:
    """The decision or ending the notice announces, read from the entry it stores: what was
    decided (`kind`), by whom (the operator's configured name), when, under which document,
    and why. Never re-derived from whatever happened to the enterprise last."""
    audit = session.get(FlagAudit, alert.audit_id) if alert.audit_id is not None else None
    event = session.get(DesignationEvent, alert.event_id) if alert.event_id is not None else None
    if audit is None:  # a notice written before notices kept their entry: its flag's last
        audit = session.scalars(
            select(FlagAudit)
            .where(col(FlagAudit.flag_id) == alert.flag_id)
            .order_by(col(FlagAudit.id).desc())
        ).first()
    # the sweep's own transitions are audited as "sfm" (monitor/flags/book.py, SYSTEM_ACTOR)
    by_system = audit is not None and audit.actor == "sfm" and event is None
    actor = event or audit
    kind = (
        ("moved" if event.kind == "updated" else event.kind)
        if event is not None
        else ("reopened" if audit and audit.to_state == "open" else audit.to_state if audit else "")
    )
    return {
        "kind": kind,
        "by_system": by_system,
        "by": (actor.actor_name or actor.actor) if actor is not None and not by_system else "",
        "at": (beijing_text(audit.at) + t("beijing_time")) if audit else "",
        "on": str(event.occurred_on) if event is not None else "",
        "reference": (event.reference or "") if event is not None else "",
        "reason": (
            (event.reason or "")
            if event is not None and event.kind != "renamed"
            else audit_reason(audit.reason)
            if audit is not None
            else ""
        ),
        "former_name": str(event.details.get("from", "")) if event is not None else "",
        "new_name": str(event.details.get("to", "")) if event is not None else "",
    }


def _flag_and_factory(session: Session, flag_id: int | None) -> tuple[Flag, Factory] | None:
    flag = session.get(Flag, flag_id) if flag_id is not None else None
    if flag is None:
        return None
    factory = session.get(Factory, flag.factory_id)
    assert factory is not None
    return flag, factory


def build_context(
    session: Session,
    alert: Alert,
    authorities: Authorities,
    measures: PolicyChoice,
    now: datetime,
    deadline_days: int = 10,
) -> dict[str, Any]:
    """Everything the alert's template may name, in the language in use."""
    authority = authorities.get(alert.authority)
    context: dict[str, Any] = {
        "measures": {
            "title": measures.policy.title,
            "expired": measures.expired,
            "expires_on": str(measures.policy.expires_on or "—"),
            "successor": measures.successor.title if measures.successor else "",
            "successor_from": str(measures.successor.effective_from) if measures.successor else "",
        },
        "now": beijing_text(now),
        "authority": authority.name if authority else alert.authority,
    }
    found = _flag_and_factory(session, alert.flag_id)
    if found is not None:
        flag, factory = found
        context.update(flag_context(flag, factory, deadline_days, measures, alert.authority, now))
        context["days_open"] = (now - flag.first_seen_at).days
        told = session.scalars(
            select(col(Alert.authority)).where(
                col(Alert.flag_id) == flag.id, col(Alert.kind) == "flag"
            )
        ).all()
        context["recipients"] = "、".join(authorities.name_of(key) for key in sorted(set(told)))
        if alert.kind in ("closing", "decision"):
            context["decision"] = _decision(session, alert)
    if alert.kind == "digest":
        bundled = session.scalars(
            select(Alert).where(col(Alert.digest_id) == alert.id).order_by(col(Alert.id))
        ).all()
        context["today"] = beijing_text(now)[:10]
        context["items"] = [
            flag_context(*pair, deadline_days, measures, alert.authority, now)
            for pair in (_flag_and_factory(session, item.flag_id) for item in bundled)
            if pair is not None
        ]
    if alert.kind in NOTICE_KINDS:
        context["title"] = alert.subject or ""
        context["message"] = alert.body_text or ""
        context["note"] = alert.details or {
            "kind": "note",
            "title": alert.subject or "",
            "message": alert.body_text or "",
        }
    return context
