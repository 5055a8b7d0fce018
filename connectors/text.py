"""Text from a provider or a file, made storable where it enters sfm.

A lone surrogate cannot be encoded as UTF-8 and PostgreSQL refuses NUL, so
either would fail the write of a whole batch; bidi controls and zero-width
characters make a name or a code look like another one. So, at the boundary:

- in the canonical records (what the rules read and officials see), lone
  surrogates and NUL become U+FFFD and the invisible characters (bidi controls,
  zero-width characters, other control characters but tab and line breaks)
  are removed;
- in the raw payload kept as evidence, each of them is kept as visible text,
  ``\\u202e``, so the evidence shows what the provider sent without carrying it.
"""

from __future__ import annotations

import re
from typing import Any

REPLACEMENT = "\ufffd"

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# bidi controls (ALM, LRM/RLM, LRE…RLO, LRI…PDI), zero-width characters, word joiners, BOM
_INVISIBLE_CLASS = "\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff"
_REMOVED = re.compile(f"[{_INVISIBLE_CLASS}\x01-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_CLEAN_UNLESS = re.compile(f"[{_INVISIBLE_CLASS}\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
# what the evidence shows escaped; NUL already is `\u0000` in JSON text
_ESCAPED = re.compile(f"[\x00\ud800-\udfff{_INVISIBLE_CLASS}]")
_ESCAPED_IN_JSON = re.compile(f"[\ud800-\udfff{_INVISIBLE_CLASS}]|\\\\u0000")


def storable(text: str) -> str:
    """A provider's text as a canonical record keeps it (see the module docstring)."""
    if _CLEAN_UNLESS.search(text) is None:  # nearly every text: one scan, no copy
        return text
    return _REMOVED.sub("", _UNSTORABLE.sub(REPLACEMENT, text))


def storable_value(value: Any) -> Any:
    """`storable` applied to a text, or to each text of a list; anything else as it is."""
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, list):
        return [storable_value(item) for item in value]
    return value


def _escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def visible(text: str) -> str:
    """The text with every unstorable or invisible character written out as ``\\uXXXX``."""
    return _ESCAPED.sub(_escape, text)


def visible_payload(payload: Any) -> Any:
    """A parsed answer (or rows) with `visible` applied to every text, keys included."""
    if isinstance(payload, str):
        return visible(payload)
    if isinstance(payload, dict):
        return {
            (visible(key) if isinstance(key, str) else key): visible_payload(value)
            for key, value in payload.items()
        }
    if isinstance(payload, list | tuple):
        return [visible_payload(item) for item in payload]
    return payload


def json_needs_escaping(dumped: str) -> bool:
    """Whether JSON text (dumped with ensure_ascii=False) holds what `visible` escapes:
    a cheap test, so that the common clean answer is not walked twice."""
    return _ESCAPED_IN_JSON.search(dumped) is not None
