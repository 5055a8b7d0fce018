"""Every clause sfm quotes is the measures' own words, character for character."""

from importlib.resources import files
from pathlib import Path

import pytest

from monitor.clauses import CLAUSES, REVOCATION_LEAD, reference

MEASURES = files("monitor.defaults").joinpath("measures-2025.md").read_text(encoding="utf-8")
SHARED = Path(__file__).parents[3] / "shared" / "measures-2025.md"


@pytest.mark.parametrize("key", CLAUSES)
def test_each_quote_is_in_the_text_of_the_measures(key: str) -> None:
    quote = CLAUSES[key].quote
    for part in quote.split(REVOCATION_LEAD) if REVOCATION_LEAD in quote else [quote]:
        assert part in MEASURES, part
    if REVOCATION_LEAD in quote:
        assert REVOCATION_LEAD in MEASURES


@pytest.mark.skipif(not SHARED.exists(), reason="no ../shared checkout beside this one")
def test_the_shipped_text_is_the_shared_one() -> None:
    assert SHARED.read_text(encoding="utf-8") == MEASURES


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
