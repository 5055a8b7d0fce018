"""Every clause sfm quotes is the measures' own words, read from the text of the block that
judged the flag; a successor's text that renumbers Article 12 is quoted where it puts it."""

from pathlib import Path

import pytest

from monitor.clauses import CLAUSES, MeasuresTextError, catalogue_of, packaged_text, reference

MEASURES = packaged_text()
SHARED = Path(__file__).parents[3] / "shared" / "measures-2025.md"


@pytest.mark.parametrize("key", CLAUSES)
def test_each_quote_is_in_the_text_of_the_measures(key: str) -> None:
    clause = CLAUSES[key]
    introduction, _, item = clause.quote.partition("（")
    assert introduction in MEASURES
    assert ("（" + item if item else introduction) in MEASURES


def test_the_2025_quotes_are_the_articles_words() -> None:
    assert CLAUSES["12(3)"].quote == (
        "有下列情况之一的，撤销其称号：（三）发生重大环保、安全、质量事故。"
    )
    assert CLAUSES["12"].quote == (
        "基础级和先进级智能工厂所在企业发生更名、重组等重大调整的，应向市经济和信息化局申请更名。"
    )
    assert CLAUSES["5(3)"].quote.startswith(
        "申请认定北京市基础级、先进级智能工厂需具备以下条件：（三）"
    )


@pytest.mark.skipif(not SHARED.exists(), reason="no ../shared checkout beside this one")
def test_the_shipped_text_is_the_shared_one() -> None:
    assert SHARED.read_text(encoding="utf-8") == MEASURES


SUCCESSOR_TEXT = """# 北京市智能工厂认定管理办法（2027）

第一章 总则

第四条 基础级智能工厂由所在区主管部门备案和管理。

第五条 申请认定需具备以下条件：

（三）企业近三年无不良信用记录。

第十三条 企业更名、重组等重大调整的，应向市经济和信息化局申请更名。有下列情形之一的，撤销其称号：

（一）提供虚假信息。

（二）被依法终止。

（三）发生重大环保、安全、质量事故，造成恶劣影响。

（四）注册地迁出本市。

（五）受到处罚不再符合认定条件。
"""


def test_a_renumbered_successor_is_quoted_and_referred_to_from_its_own_text() -> None:
    numbers = {key: key.replace("12", "13") for key in CLAUSES if key.startswith("12")}
    clauses = catalogue_of(SUCCESSOR_TEXT, numbers)
    assert clauses["12(3)"].quote == (
        "有下列情形之一的，撤销其称号：（三）发生重大环保、安全、质量事故，造成恶劣影响。"
    )
    assert reference("12(3)", "zh", clauses) == "第十三条第（三）项"
    assert reference("5(3), 12(5)", "en", clauses) == "Article 5(3), Article 13(5)"


def test_a_text_lacking_a_clause_is_refused_naming_it() -> None:
    with pytest.raises(MeasuresTextError, match="the text has no clause 12 "):
        catalogue_of(SUCCESSOR_TEXT)  # the 2025 numbering: this text has no Article 12
    with pytest.raises(MeasuresTextError, match="twice"):
        catalogue_of(SUCCESSOR_TEXT + "\n第五条 重复。\n")
    with pytest.raises(MeasuresTextError, match="unknown grounds 12"):
        catalogue_of(SUCCESSOR_TEXT, {"12(9)": "13(9)"})


@pytest.mark.parametrize(
    ("key", "zh", "en"),
    [
        ("12(3)", "第十二条第（三）项", "Article 12(3)"),
        ("12", "第十二条", "Article 12"),
        ("5(3), 12(5)", "第五条第（三）项、第十二条第（五）项", "Article 5(3), Article 12(5)"),
        ("—", "数据核实", "data check"),
    ],
)
def test_clauses_are_referred_to_as_officials_write_them(key: str, zh: str, en: str) -> None:
    assert (reference(key, "zh"), reference(key, "en")) == (zh, en)
