"""/flags: the flags the rules raised, and staff's decisions on them."""

from __future__ import annotations

from typing import Any

from monitor.api.routes import Call, Routes
from monitor.i18n import language

routes = Routes()


@routes.get("/flags", reader=True)
def list_flags(call: Call) -> list[dict[str, Any]]:
    """Flags, newest first, filtered by state, rule, district, level and severity (in the
    words tables print, or the recorded ones); `limit` and `offset` page through them."""
    from monitor.flags.listing import list_flags as listed

    rows = listed(
        call.runtime.engine,
        state=call.text("state"),
        rule=call.text("rule"),
        district=call.text("district"),
        level=call.text("level"),
        severity=call.text("severity"),
        **call.page(),
    )
    return [row.as_json() for row in rows]


@routes.get("/flags/{id}", reader=True)
def show_flag(call: Call) -> dict[str, Any]:
    """One flag: evidence (with the lines a reader sees), history and audit trail."""
    from monitor.alerts.context import evidence_lines
    from monitor.clauses import reference
    from monitor.clock import today_beijing
    from monitor.reports import change_text, flag_detail
    from monitor.rules.policy import measures_in_force

    measures = measures_in_force(call.runtime.config.settings.policy, today_beijing())
    detail = flag_detail(call.runtime.engine, call.arg_id(), measures)
    judge = measures.judge_of(detail["evidence"].get("measures_key"))
    detail["clause_reference"] = reference(detail["clause"], language(), judge.clauses())
    detail["evidence_lines"] = [
        [label, str(value)] for label, value in evidence_lines(detail["evidence"])
    ]
    for entry in detail["audit"]:
        entry["change_text"] = change_text(entry["from"], entry["to"])
    return detail


# the states a decision may move a flag to; `resolved` and `cleared` are the system's
DECISIONS = ("confirmed", "dismissed", "open")


@routes.post("/flags/{id}/decisions", status=201)
def decide(call: Call) -> dict[str, Any]:
    """Confirm, dismiss or reopen a flag: {"to", "from", "reason"}. `from` is the state the
    caller decided from; a flag no longer in it is refused (exit 3), so of two decisions
    on one flag exactly one is recorded."""
    from monitor.decisions import decide as record
    from monitor.vocabulary import FlagState

    to_state = _state(call, "to", DECISIONS)
    from_state = _state(call, "from", tuple(state.value for state in FlagState))
    flag_id = call.arg_id()
    operator = call.operator
    flag, audit = record(
        call.runtime.engine,
        flag_id,
        FlagState(to_state),
        operator=operator,
        reason=call.field("reason", required=False) or "",
        outbox=call.runtime.alerting.outbox,
        from_state=FlagState(from_state),
    )
    return {
        "id": flag.id,
        "state": audit.to_state,
        "audit": {
            "id": audit.id,
            "at": audit.at,
            "actor": audit.actor,
            "actor_name": audit.actor_name,
            "from": audit.from_state,
            "to": audit.to_state,
            "reason": audit.reason,
        },
    }


def _state(call: Call, name: str, allowed: tuple[str, ...]) -> str:
    from monitor.errors import BadInput
    from monitor.i18n import Message

    value = call.field(name)
    if value not in allowed:
        raise BadInput(
            Message("flag.bad_state", name=name, value=str(value), allowed=", ".join(allowed))
        )
    return str(value)


@routes.post("/flags/{id}/notes", status=201)
def note(call: Call) -> dict[str, Any]:
    """What an office in scope found, on a flag, without deciding it: {"text"}."""
    from monitor.decisions import add_note

    flag_id = call.arg_id()
    flag = add_note(
        call.runtime.engine,
        flag_id,
        operator=call.operator,
        text=str(call.field("text", required=False) or ""),
    )
    return {"id": flag.id, "state": flag.state}


@routes.post("/flags", status=201)
def raise_flag(call: Call) -> dict[str, Any]:
    """A flag raised by staff under any clause: {"credit_code", "rule", "reason"}."""
    from monitor.decisions import raise_for

    flag = raise_for(
        call.runtime.engine,
        str(call.field("credit_code")),
        str(call.field("rule")),
        operator=call.operator,
        reason=str(call.field("reason", required=False) or ""),
        outbox=call.runtime.alerting.outbox,
        accept_codes=call.runtime.accept_codes,
    )
    return {"id": flag.id, "state": flag.state, "rule_id": flag.rule_id}
