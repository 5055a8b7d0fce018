"""What one answer may be: a provider's body is read and parsed within bounds.

A body over `max_body_bytes` is not read further; JSON nested deeper than
`max_json_depth`, or holding a string longer than `max_field_chars`, is refused
whole. Each is an error outcome for that one factory (`too_large`), never a
crashed sweep, and never a 50 MB name stored as a fact.
"""

from __future__ import annotations

import json
from typing import Any

from connectors.errors import OverLimit


def parse_json(body: bytes, *, max_depth: int, max_chars: int) -> Any:
    """The body as JSON within bounds; ValueError if it is not JSON, OverLimit if too big."""
    try:
        payload = loads(body)
    except RecursionError:  # the parser's own recursion gave out long before max_depth would
        raise OverLimit(f"JSON nested deeper than {max_depth} levels") from None
    # No text decoded from the body is longer than the body, and nothing in it nests
    # deeper than it has brackets: the walk is for the bodies that could break a bound.
    if len(body) > max_chars or body.count(b"[") + body.count(b"{") > max_depth:
        check_within(payload, max_depth=max_depth, max_chars=max_chars)
    return payload


# made once: json.loads with an option builds a decoder per call
_DECODER = json.JSONDecoder(parse_constant=lambda name: name)


def loads(text: str | bytes) -> Any:
    """JSON as a provider or a file sends it; NaN and Infinity, which are not JSON and
    which PostgreSQL would refuse to store, stay the text they were."""
    if isinstance(text, bytes):  # as json.loads reads bytes
        text = text.decode(json.detect_encoding(text), "surrogatepass")
    return _DECODER.decode(text)


def check_within(payload: Any, *, max_depth: int, max_chars: int) -> None:
    """Walk the parsed value without recursion; raise OverLimit at the first excess."""
    pending: list[tuple[Any, int]] = [(payload, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, str):
            if len(value) > max_chars:
                raise OverLimit(f"a field of {len(value)} characters (limit {max_chars})")
            continue
        if not isinstance(value, dict | list):
            continue
        if depth > max_depth:
            raise OverLimit(f"JSON nested deeper than {max_depth} levels")
        children = list(value.items()) if isinstance(value, dict) else [(None, v) for v in value]
        for key, child in children:
            if key is not None and len(key) > max_chars:
                raise OverLimit(f"a key of {len(key)} characters (limit {max_chars})")
            pending.append((child, depth + 1))
