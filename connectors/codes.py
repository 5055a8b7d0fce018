"""Unified social credit codes (GB 32100-2015) as a connector reads them in answers and files.

The connectors compare the code a record carries with the code asked, and check
the code a dropped row names, without the register's messages (connectors never
import monitor); monitor/codes.py builds its validation on the same alphabet.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_VALUE = {char: value for value, char in enumerate(USCC_ALPHABET)}
# GB 32100-2015 §5: weight of position i (1-based) is 3^(i-1) mod 31.
_WEIGHTS = [pow(3, i, 31) for i in range(17)]


def check_character(first17: str) -> str:
    """The check character (position 18) for the first 17 characters of a credit code."""
    total = sum(_VALUE[char] * weight for char, weight in zip(first17, _WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def fold_code(text: str) -> str:
    """A code as it is compared: NFKC (full-width look-alikes fold to ASCII), upper case."""
    return unicodedata.normalize("NFKC", text).upper()


def read_code(text: str) -> str:
    """A code as a person types it in a spreadsheet: folded, every space removed."""
    return re.sub(r"\s+", "", fold_code(text))


def code_problem(code: str, *, accept: Iterable[str] = ()) -> str | None:
    """What is wrong with a (read) credit code, in English, or None when it is valid.

    `accept` lists codes real registries carry despite a bad check character."""
    if not code:
        return "no credit code"
    if len(code) != 18:
        return f"credit code {code!r} has {len(code)} characters, not 18"
    for position, char in enumerate(code, start=1):
        if char not in _VALUE:
            return f"credit code {code!r}: {char!r} at position {position} is not a code character"
    if not code[2:8].isdigit():
        return f"credit code {code!r}: positions 3-8 are not a division code"
    expected = check_character(code[:17])
    if code[17] != expected and code not in {read_code(c) for c in accept}:
        return f"credit code {code!r}: check character {code[17]!r}, expected {expected!r}"
    return None
