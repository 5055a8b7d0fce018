"""The clauses flags rest on, quoted exactly from the measures, and how they are referred to.

The quotes are the text of 京经信发〔2025〕22号 as shipped in
monitor/defaults/measures-2025.md (a test holds every quote to it, character for
character); the English lines are glosses, marked as such wherever shown.
A flag records its clause as a key ("12(3)", or "5(3), 12(5)" when two bear on it).
"""

from __future__ import annotations

from dataclasses import dataclass

_NUMERALS = "〇一二三四五六七八九十"
REVOCATION_LEAD = "有下列情况之一的，撤销其称号："


@dataclass(frozen=True)
class Clause:
    key: str
    article: int
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


CLAUSES: dict[str, Clause] = {
    clause.key: clause
    for clause in (
        Clause(
            "12",
            12,
            None,
            "基础级和先进级智能工厂所在企业发生更名、重组等重大调整的，应向市经济和信息化局申请更名。",
            "an enterprise renamed or restructured must apply to the municipal bureau for a "
            "change of name",
        ),
        Clause(
            "12(1)",
            12,
            1,
            REVOCATION_LEAD + "（一）在申请过程中提供虚假信息、违反相关规定或其它违法行为。",
            "revoked for false information or breach of rules in the application, or other "
            "illegal acts",
        ),
        Clause(
            "12(2)",
            12,
            2,
            REVOCATION_LEAD + "（二）被依法终止或无法正常经营。",
            "revoked if terminated by law or unable to operate normally",
        ),
        Clause(
            "12(3)",
            12,
            3,
            REVOCATION_LEAD + "（三）发生重大环保、安全、质量事故。",
            "revoked after a major environmental, safety or quality accident",
        ),
        Clause(
            "12(4)",
            12,
            4,
            REVOCATION_LEAD + "（四）注册地变更至京外。",
            "revoked if the registered seat moves outside Beijing",
        ),
        Clause(
            "12(5)",
            12,
            5,
            REVOCATION_LEAD + "（五）有其他违法、违规行为受到有关部门处罚不再符合认定条件的。",
            "revoked if penalised for other violations so that the conditions are no longer met",
        ),
        Clause(
            "5(3)",
            5,
            3,
            "（三）企业近三年经营和财务状况良好，无不良信用记录、无较大及以上安全、环保等事故，"
            "无违法违规行为。",
            "a condition of designation: no large or worse safety or environmental accident "
            "in the last three years",
        ),
    )
}


def clauses_of(key: str) -> list[Clause]:
    """The clauses a flag's clause key names ("5(3), 12(5)" names two; "—" none)."""
    return [CLAUSES[part.strip()] for part in key.split(",") if part.strip() in CLAUSES]


def reference(key: str, language: str = "zh") -> str:
    """How an official refers to the clauses： 第五条第（三）项、第十二条第（五）项."""
    found = clauses_of(key)
    if not found:
        return "数据核实" if language == "zh" else "data check"
    return ("、" if language == "zh" else ", ").join(c.reference(language) for c in found)
