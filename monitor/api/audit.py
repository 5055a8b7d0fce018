"""/audit: every decision and flag transition, and the walk of the audit's hash chain."""

from __future__ import annotations

from typing import Any

from monitor.api.routes import Call, Routes

routes = Routes()


@routes.get("/audit", reader=True)
def trail(call: Call) -> list[dict[str, Any]]:
    """Oldest first, of one factory (`factory`: a credit code) or all; each entry carries
    the words a reader sees (subject_text, change_text, reason_text)."""
    from monitor.reports import audit_trail

    return audit_trail(
        call.runtime.engine,
        credit_code=call.text("factory"),
        accept_codes=call.runtime.accept_codes,
    )


@routes.get("/audit/verify", reader=True)
def verify(call: Call) -> dict[str, Any]:
    """The chain walked: `intact`, its length and head, the first break and how many
    entries are not sealed yet. A broken chain is an answer, not an error: the caller
    shows it (`sfm audit verify` then exits 1). `head` and `length` together are a witness
    kept elsewhere (the bureau's weekly overview): the chain must still hold that entry."""
    from monitor.errors import BadInput
    from monitor.i18n import Message
    from monitor.storage.audit_chain import verify as walk

    head, length = call.text("head"), call.number("length", 0, least=1)
    if (head is None) != (length == 0):
        raise BadInput(Message("audit.witness_both"))
    found = walk(call.runtime.engine, (head, length) if head is not None else None)
    return {
        "intact": found.intact,
        "length": found.length,
        "head": found.head,
        "first_break": found.first_break,
        "unsealed": found.unsealed,
    }
