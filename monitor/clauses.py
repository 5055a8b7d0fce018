"""The clauses flags rest on, quoted from the text of the measures that judged them.

A flag records the *ground* it rests on as a key in the numbering of the 2025
measures ("12(3)", or "5(3), 12(5)" when two bear on it). Each block of measures
names its text (`text = "PATH"`, Markdown like monitor/defaults/measures-2025.md,
the packaged default) and may say where its text puts each ground
(`clause_numbers = { "12(3)" = "13(3)" }`): references (第十三条第（三）项) and
quotes are read from that text, so a successor that rewords or renumbers
Article 12 is a config block and a text file. The English lines are glosses,
marked as such wherever shown.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from pathlib import Path

_NUMERALS = "〇一二三四五六七八九十"
_ARTICLE = re.compile(r"^第([一二三四五六七八九十百〇]+)条\s*(.*)$")
_ITEM = re.compile(r"^（([一二三四五六七八九十]+)）")
_CHAPTER = re.compile(r"^第[一二三四五六七八九十]+章")
_KEY = re.compile(r"^(\d+)(?:\((\d+)\))?$")

# The grounds sfm knows (in the 2025 numbering) and their English glosses.
GLOSSES: dict[str, str] = {
    "4": "a basic-level factory is filed with and managed by its district authority",
    "12": "an enterprise renamed or restructured must apply to the municipal bureau for a "
    "change of name",
    "12(1)": "revoked for false information or breach of rules in the application, or other "
    "illegal acts",
    "12(2)": "revoked if terminated by law or unable to operate normally",
    "12(3)": "revoked after a major environmental, safety or quality accident",
    "12(4)": "revoked if the registered seat moves outside Beijing",
    "12(5)": "revoked if penalised for other violations so that the conditions are no longer met",
    "5(3)": "a condition of designation: no bad credit record, no large or worse safety or "
    "environmental accident and no violation in the last three years",
}


class MeasuresTextError(ValueError):
    """The text of a block of measures lacks a clause sfm quotes."""


@dataclass(frozen=True)
class Clause:
    key: str  # the ground, in the 2025 numbering
    article: int  # where this block's text puts it
    item: int | None
    quote: str  # the measures' own words
    gloss: str  # an English gloss, never presented as the measures' words

    def reference(self, language: str = "zh") -> str:
        if language == "en":
            return f"Article {self.article}" + (f"({self.item})" if self.item else "")
        article = f"第{_chinese_number(self.article)}条"
        return article + (f"第（{_chinese_number(self.item)}）项" if self.item else "")


def _chinese_number(number: int) -> str:
    if number <= 10:
        return _NUMERALS[number]
    tens, units = divmod(number, 10)
    return ("" if tens == 1 else _NUMERALS[tens]) + "十" + (_NUMERALS[units] if units else "")


def _number_of(chinese: str) -> int:
    if "十" not in chinese:
        return _NUMERALS.index(chinese)
    tens, _, units = chinese.partition("十")
    return (_NUMERALS.index(tens) if tens else 1) * 10 + (_NUMERALS.index(units) if units else 0)


@dataclass(frozen=True)
class Article:
    lead: str  # the text before its items
    items: dict[int, str]  # item number → its text, "（三）…" included


def articles(text: str) -> dict[int, Article]:
    """The articles of a text of measures: 第N条 opens one, （一） lines are its items."""
    found: dict[int, Article] = {}
    current: int | None = None
    for line in (raw.strip() for raw in text.splitlines()):
        if not line:
            continue
        if _CHAPTER.match(line):
            current = None
            continue
        article = _ARTICLE.match(line)
        if article:
            current = _number_of(article[1])
            if current in found:  # which of the two would an alert quote?
                raise MeasuresTextError(f"the text has 第{article[1]}条 twice")
            found[current] = Article(article[2], {})
            continue
        item = _ITEM.match(line)
        if item and current is not None:
            found[current].items[_number_of(item[1])] = line
    return found


def _lead_parts(lead: str) -> tuple[str, str]:
    """An article's lead split into what it says itself and the sentence that introduces
    its items ("有下列情况之一的，撤销其称号：")."""
    if not lead.endswith("："):
        return lead, ""
    head, stop, introduction = lead.rpartition("。")
    return head + stop, introduction


def _where(key: str, numbers: Mapping[str, str]) -> tuple[int, int | None]:
    match = _KEY.match(numbers.get(key, key).replace(" ", ""))
    if match is None:
        raise MeasuresTextError(f"{numbers.get(key, key)!r} is not a clause such as 12(3)")
    return int(match[1]), int(match[2]) if match[2] else None


def catalogue_of(text: str, numbers: Mapping[str, str] | None = None) -> dict[str, Clause]:
    """Every ground sfm quotes, read from `text` where `numbers` (ground → clause in this
    text) puts it; MeasuresTextError naming the first clause the text lacks."""
    numbers = numbers or {}
    unknown = sorted(set(numbers) - set(GLOSSES))
    if unknown:
        raise MeasuresTextError(
            f"unknown grounds {', '.join(unknown)} (known: {', '.join(GLOSSES)})"
        )
    found = articles(text)
    catalogue = {}
    for key, gloss in GLOSSES.items():
        article_no, item_no = _where(key, numbers)
        article = found.get(article_no)
        if article is None or (item_no is not None and item_no not in article.items):
            raise MeasuresTextError(f"the text has no clause {numbers.get(key, key)} for {key}")
        own, introduction = _lead_parts(article.lead)
        quote = own if item_no is None else introduction + article.items[item_no]
        catalogue[key] = Clause(key, article_no, item_no, quote, gloss)
    return catalogue


def packaged_text() -> str:
    return files("monitor.defaults").joinpath("measures-2025.md").read_text(encoding="utf-8")


@lru_cache(maxsize=16)
def _cached(path: str | None, numbers: tuple[tuple[str, str], ...]) -> dict[str, Clause]:
    text = packaged_text() if path is None else Path(path).read_text(encoding="utf-8")
    return catalogue_of(text, dict(numbers))


def catalogue(
    path: str | None = None, numbers: Mapping[str, str] | None = None
) -> dict[str, Clause]:
    """The clauses of the text at `path` (None: the packaged 2025 text)."""
    return _cached(path, tuple(sorted((numbers or {}).items())))


CLAUSES: dict[str, Clause] = catalogue()


def clauses_of(key: str, clauses: Mapping[str, Clause] | None = None) -> list[Clause]:
    """The clauses a flag's clause key names ("5(3), 12(5)" names two; "—" none)."""
    clauses = CLAUSES if clauses is None else clauses
    return [clauses[part.strip()] for part in key.split(",") if part.strip() in clauses]


def reference(key: str, language: str = "zh", clauses: Mapping[str, Clause] | None = None) -> str:
    """How an official refers to the clauses: 第五条第（三）项、第十二条第（五）项."""
    found = clauses_of(key, clauses)
    if not found:
        return "数据核实" if language == "zh" else "data check"
    return ("、" if language == "zh" else ", ").join(c.reference(language) for c in found)
