"""What an alert's template is given: the flag, its factory, the measures, the recipients.

Read-only: building the context of an alert changes nothing, so it can be
tried again after a failed render.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from monitor.alerts.authorities import Authorities
from monitor.clock import beijing_text
from monitor.codes import DISTRICTS_BY_CODE
from monitor.i18n import flag_summary, t
from monitor.rules.policy import PolicyChoice
from monitor.storage.models import Alert, Factory, Flag

# Messages whose subject and text are written with the row, and the template they go in.
NOTICE_KINDS = {"ops": "ops", "filing": "notice", "expiry": "notice", "overview": "notice"}
_HIDDEN_EVIDENCE = {"observation_id", "sources"}


def template_of(alert: Alert) -> str:
    return NOTICE_KINDS.get(alert.kind, alert.kind)


def evidence_lines(evidence: dict[str, Any]) -> list[tuple[str, Any]]:
    return [
        (k, v) for k, v in evidence.items() if k not in _HIDDEN_EVIDENCE and v not in (None, "", [])
    ]


def flag_context(flag: Flag, factory: Factory) -> dict[str, Any]:
    district = DISTRICTS_BY_CODE.get(factory.district_code)
    return {
        "flag": {
            "id": flag.id,
            "rule_id": flag.rule_id,
            "clause": flag.clause,
            "clause_text": t(f"clause.{flag.clause}"),
            "severity_text": t(f"severity.{flag.severity}"),
            "state_text": t(f"state.{flag.state}"),
            "summary": flag_summary(flag.summary_key, flag.summary_params),
            "evidence": evidence_lines(flag.evidence),
            "first_seen": beijing_text(flag.first_seen_at),
            "action_text": t(f"action.{flag.severity}"),
        },
        "factory": {
            "name": factory.name,
            "credit_code": factory.credit_code,
            "level_text": t(f"level.{factory.level}"),
            "district_name": district.name if district else factory.district_code,
        },
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
) -> dict[str, Any]:
    """Everything the alert's template may name, in the language in use."""
    authority = authorities.get(alert.authority)
    context: dict[str, Any] = {
        "measures": {
            "title": measures.policy.title,
            "expired": measures.expired,
            "expires_on": str(measures.policy.expires_on or "—"),
        },
        "now": beijing_text(now),
        "authority": authority.name if authority else alert.authority,
    }
    found = _flag_and_factory(session, alert.flag_id)
    if found is not None:
        flag, factory = found
        context.update(flag_context(flag, factory))
        context["days_open"] = (now - flag.first_seen_at).days
        told = session.scalars(
            select(col(Alert.authority)).where(
                col(Alert.flag_id) == flag.id, col(Alert.kind) == "flag"
            )
        ).all()
        context["recipients"] = "、".join(authorities.name_of(key) for key in sorted(set(told)))
        context["reason"] = context["flag"]["state_text"]
    if alert.kind == "digest":
        bundled = session.scalars(
            select(Alert).where(col(Alert.digest_id) == alert.id).order_by(col(Alert.id))
        ).all()
        context["today"] = beijing_text(now)[:10]
        context["items"] = [
            flag_context(*pair)
            for pair in (_flag_and_factory(session, item.flag_id) for item in bundled)
            if pair is not None
        ]
    if alert.kind in NOTICE_KINDS:
        context["title"] = alert.subject or ""
        context["message"] = alert.body_text or ""
    return context
