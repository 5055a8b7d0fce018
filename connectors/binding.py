"""An answer is about the factory asked, or it is not evidence.

Aggregators answer fuzzy matches with the nearest company they know: a record
whose own credit code is another's must never count for the factory asked
about (it could raise a revocation case on a company that did nothing). Every
record that carries a code is compared with the code asked, after NFKC and
upper-casing: a full-width look-alike is the same code (noted); any other
difference drops the record. An answer made only of other codes' records is an
error outcome, `mismatch`.
"""

from __future__ import annotations

from typing import Any

import structlog

from connectors.base import CanonicalRecord, ErrorKind, FetchOutcome
from connectors.codes import fold_code
from connectors.mapping import Segment, compile_path
from connectors.text import visible

log = structlog.get_logger("sfm.connectors.binding")

_SHOWN_CODES = 5  # how many other codes a log line or an error detail names


def bind_to_code(outcome: FetchOutcome, asked: str, record_path: str | None = None) -> FetchOutcome:
    """The outcome with only the records about `asked`, or a `mismatch` error.

    `record_path` (where the records sit in the payload) lets the payload kept as
    evidence lose the dropped records too."""
    if outcome.kind != "found" or not outcome.records:
        return outcome
    wanted = fold_code(asked)
    kept: list[CanonicalRecord] = []
    others: list[CanonicalRecord] = []
    folded = 0
    for record in outcome.records:
        code = getattr(record, "credit_code", None)
        if code is None or code == asked:
            kept.append(record)
        elif fold_code(code) == wanted:
            folded += 1
            log.info(
                "credit code matched after NFKC",
                connector=outcome.connector,
                credit_code=asked,
                provider_code=visible(code),
            )
            kept.append(record.model_copy(update={"credit_code": asked}))
        else:
            others.append(record)
    if not others and not folded:
        return outcome
    other_codes = sorted({visible(str(getattr(r, "credit_code", ""))) for r in others})
    if others:
        log.warning(
            "records about another credit code dropped",
            connector=outcome.connector,
            credit_code=asked,
            dropped=len(others),
            other_codes=other_codes[:_SHOWN_CODES],
        )
    if not kept:
        return FetchOutcome.error(
            outcome.connector,
            asked,
            ErrorKind.MISMATCH,
            f"the answer is about {', '.join(other_codes[:_SHOWN_CODES])}, not {asked}",
            outcome.fetched_at,
        )
    payload = outcome.payload
    if others:
        dropped_raw = [record.raw for record in others]
        payload = _without(payload, compile_path(record_path or ""), dropped_raw)
    return FetchOutcome(
        "found",
        outcome.connector,
        asked,
        outcome.fetched_at,
        tuple(kept),
        payload,
        other_codes_dropped=len(others),
        codes_folded=folded,
    )


def _without(payload: Any, segments: tuple[Segment, ...], dropped: list[Any]) -> Any:
    """A copy of the payload whose records at `segments` leave out the `dropped` ones."""
    if not segments:
        if isinstance(payload, list):
            return [item for item in payload if item not in dropped]
        return None if payload in dropped else payload
    (name, index), rest = segments[0], segments[1:]
    if name:
        if not isinstance(payload, dict) or name not in payload:
            return payload
        inner = payload[name]
    else:
        inner = payload
    if index is None:
        changed = _without(inner, rest, dropped)
    elif not isinstance(inner, list):
        return payload
    elif index == "":
        changed = [_without(item, rest, dropped) for item in inner]
    else:
        position = int(index)
        if position >= len(inner):
            return payload
        changed = list(inner)
        changed[position] = _without(inner[position], rest, dropped)
    return {**payload, name: changed} if name else changed
