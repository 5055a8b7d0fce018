"""parse_json skips the walk of bodies too small to break a bound: it judges as the walk does."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.bounds import check_within, parse_json
from connectors.errors import OverLimit

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=30,
)


def refuses(check: Callable[..., Any], value: Any, max_depth: int, max_chars: int) -> bool:
    try:
        check(value, max_depth=max_depth, max_chars=max_chars)
    except OverLimit:
        return True
    return False


@settings(max_examples=400, deadline=None)
@given(
    payload=json_values,
    max_depth=st.integers(min_value=1, max_value=6),
    max_chars=st.integers(min_value=1, max_value=40),
    encoding=st.sampled_from(["utf-8", "utf-16", "utf-32"]),
    ascii_only=st.booleans(),
)
def test_parse_json_refuses_exactly_what_the_walk_refuses(
    payload: Any, max_depth: int, max_chars: int, encoding: str, ascii_only: bool
) -> None:
    body = json.dumps(payload, ensure_ascii=ascii_only).encode(encoding)
    assert refuses(parse_json, body, max_depth, max_chars) == refuses(
        check_within, payload, max_depth, max_chars
    )


@pytest.mark.parametrize(
    ("body", "refused"),
    [
        (b'{"a": "' + b"x" * 10 + b'"}', False),  # a field of exactly max_chars
        (b'{"a": "' + b"x" * 11 + b'"}', True),
        (b'{"' + b"k" * 11 + b'": 1}', True),  # a key over max_chars
        (b"[[[[]]]]", False),  # nested exactly max_depth
        (b"[[[[[]]]]]", True),
        (b'["[[[["]', False),  # brackets inside text are not nesting
    ],
)
def test_the_bounds_at_their_edges(body: bytes, refused: bool) -> None:
    assert refuses(parse_json, body, max_depth=4, max_chars=10) is refused
