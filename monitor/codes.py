"""Unified social credit codes (GB 32100-2015) and Beijing's district division codes."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

# the alphabet and the check character are the connectors' own (they check dropped rows)
from connectors.codes import USCC_ALPHABET as USCC_ALPHABET
from connectors.codes import check_character as check_character
from connectors.codes import read_code
from monitor.errors import InvalidCreditCode
from monitor.i18n import Message


def normalise_credit_code(raw: str) -> str:
    """Upper-case, strip spaces (including full-width ones) and fold full-width characters."""
    return read_code(raw)


def validate_credit_code(raw: str, *, accept: Iterable[str] = ()) -> str:
    """Return the normalised code, or raise InvalidCreditCode saying what is wrong.

    `accept` lists codes that real registries carry despite a bad check character;
    they are accepted as they are once the alphabet and length are right.
    """
    code = normalise_credit_code(raw)
    if not code:
        raise InvalidCreditCode(Message("code.empty"))
    if len(code) != 18:
        raise InvalidCreditCode(Message("code.length", length=len(code)))
    for position, char in enumerate(code, start=1):
        if char not in USCC_ALPHABET:
            raise InvalidCreditCode(Message("code.charset", position=position, char=char))
    if not code[2:8].isdigit():
        raise InvalidCreditCode(Message("code.division", digits=code[2:8]))
    expected = check_character(code[:17])
    if code[17] != expected and code not in {normalise_credit_code(c) for c in accept}:
        raise InvalidCreditCode(
            Message("code.check", expected=expected, actual=code[17]), expected_check=expected
        )
    return code


@dataclass(frozen=True)
class District:
    code: str
    name: str  # full Chinese name as the authorities write it
    short: str
    pinyin: str


DISTRICTS: tuple[District, ...] = (
    District("110101", "东城区", "东城", "Dongcheng"),
    District("110102", "西城区", "西城", "Xicheng"),
    District("110105", "朝阳区", "朝阳", "Chaoyang"),
    District("110106", "丰台区", "丰台", "Fengtai"),
    District("110107", "石景山区", "石景山", "Shijingshan"),
    District("110108", "海淀区", "海淀", "Haidian"),
    District("110109", "门头沟区", "门头沟", "Mentougou"),
    District("110111", "房山区", "房山", "Fangshan"),
    District("110112", "通州区", "通州", "Tongzhou"),
    District("110113", "顺义区", "顺义", "Shunyi"),
    District("110114", "昌平区", "昌平", "Changping"),
    District("110115", "大兴区", "大兴", "Daxing"),
    District("110116", "怀柔区", "怀柔", "Huairou"),
    District("110117", "平谷区", "平谷", "Pinggu"),
    District("110118", "密云区", "密云", "Miyun"),
    District("110119", "延庆区", "延庆", "Yanqing"),
    # The development area is not a district but manages its own designated factories.
    District("110302", "北京经济技术开发区", "经开区", "Yizhuang"),
)
DISTRICTS_BY_CODE = {district.code: district for district in DISTRICTS}

# Codes and names retired by the 2010 and 2015 mergers, mapped to today's district.
RETIRED_CODES = {"110103": "110101", "110104": "110102", "110228": "110118", "110229": "110119"}
_EXTRA_NAMES = {
    "崇文区": "110101",
    "崇文": "110101",
    "宣武区": "110102",
    "宣武": "110102",
    "密云县": "110118",
    "延庆县": "110119",
    "亦庄": "110302",
    "北京亦庄": "110302",
    "开发区": "110302",
    "经济技术开发区": "110302",
    "bda": "110302",
    "beijingeconomic-technologicaldevelopmentarea": "110302",
    "beijingeconomictechnologicaldevelopmentarea": "110302",
    "chongwen": "110101",
    "xuanwu": "110102",
}


def _name_key(value: str) -> str:
    key = re.sub(r"\s+", "", unicodedata.normalize("NFKC", value)).lower()
    key = key.removeprefix("北京市").removeprefix("beijing")
    for suffix in ("district", "qu"):
        if key.endswith(suffix) and key[: -len(suffix)] in _PINYIN_KEYS:
            key = key[: -len(suffix)]
    return key


_PINYIN_KEYS = {district.pinyin.lower() for district in DISTRICTS}
_BY_NAME: dict[str, str] = {}
for _district in DISTRICTS:
    for _alias in (_district.name, _district.short, _district.pinyin):
        _BY_NAME[_alias.lower()] = _district.code
_BY_NAME.update(_EXTRA_NAMES)


def resolve_district(value: str) -> District | None:
    """The district meant by a code, full name, short name or pinyin; None if unknown."""
    raw = unicodedata.normalize("NFKC", value).strip()
    if re.fullmatch(r"\d{6}", raw):
        return DISTRICTS_BY_CODE.get(RETIRED_CODES.get(raw, raw))
    named = _BY_NAME.get(_name_key(raw))
    return DISTRICTS_BY_CODE[named] if named else None


# GB/T 2260 province-level prefixes; 10 (100000) is the country: a national-level code
# names no place.
_PROVINCES = "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 50 51 52 53 54 61 62 63 64 65 71 81 82"  # noqa: E501
PROVINCE_PREFIXES = frozenset(_PROVINCES.split())


def division_side(code: str | None) -> str | None:
    """'beijing' or 'outside' for a division code (9 or 12 digits are read by their first
    six, as township-level codes are written); None for a national-level code (100000) or
    one that names no province."""
    if not code or not code.isdigit() or len(code) not in (6, 9, 12):
        return None
    prefix = code[:2]
    if prefix not in PROVINCE_PREFIXES:
        return None
    return "beijing" if prefix == "11" else "outside"


def is_beijing_division(code: str) -> bool:
    """Whether an administrative division code lies in Beijing (11xxxx, 110302 included)."""
    return division_side(code) == "beijing"
