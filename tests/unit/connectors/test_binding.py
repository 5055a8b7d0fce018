"""Pure logic: records bound to the code asked, and provider text made storable."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from connectors.base import ErrorKind, FetchOutcome, SafetyRecord
from connectors.binding import bind_to_code
from connectors.codes import code_problem, read_code
from connectors.text import storable, visible, visible_payload

ASKED = "91110000600037341L"
OTHER = "91110000101623741K"
NOW = datetime(2026, 12, 4, tzinfo=UTC)


def accident(record_id: str, code: str | None) -> tuple[SafetyRecord, dict[str, Any]]:
    raw = {"id": record_id, "code": code}
    record = SafetyRecord(
        source="t",
        fetched_at=NOW,
        raw=raw,
        record_id=record_id,
        category="production_safety",
        credit_code=code,
        occurred_on="2026-01-01",
    )
    return record, raw


def answer(payload: Any, *records: SafetyRecord) -> FetchOutcome:
    return FetchOutcome.found("t", ASKED, list(records), payload, NOW)


def test_records_of_the_code_asked_and_records_without_a_code_are_kept_as_they_are() -> None:
    ours, ours_raw = accident("A", ASKED)
    plain, plain_raw = accident("B", None)
    outcome = answer({"items": [ours_raw, plain_raw]}, ours, plain)
    assert bind_to_code(outcome, ASKED, "items") is outcome


def test_other_codes_leave_the_records_and_the_evidence_at_an_indexed_path() -> None:
    ours, ours_raw = accident("A", ASKED)
    theirs, theirs_raw = accident("B", OTHER)
    payload = {"data": [{"list": [ours_raw, theirs_raw]}], "total": 2}
    bound = bind_to_code(answer(payload, ours, theirs), ASKED, "data[0].list")
    assert bound.kind == "found" and bound.other_codes_dropped == 1
    assert [r.record_id for r in bound.records] == ["A"]  # type: ignore[attr-defined]
    assert bound.payload == {"data": [{"list": [ours_raw]}], "total": 2}
    assert payload["data"][0]["list"] == [ours_raw, theirs_raw]  # the original is not changed


def test_an_answer_of_other_codes_only_is_a_mismatch_naming_them() -> None:
    theirs, raw = accident("B", OTHER)
    bound = bind_to_code(answer(raw, theirs), ASKED)
    assert (bound.kind, bound.error_kind) == ("error", ErrorKind.MISMATCH)
    assert bound.records == () and OTHER in (bound.error_detail or "")


@pytest.mark.parametrize(
    ("written", "same"),
    [
        ("９１１１００００６０００３７３４１Ｌ", True),  # full-width
        ("91110000600037341l", True),  # lower case
        ("91110000600037341K", False),  # another check character
        ("91110000600037341L ", False),  # anything beyond NFKC and case is a difference
        ("9111000060003734lL", False),
    ],
)
def test_only_nfkc_and_case_make_two_codes_the_same(written: str, same: bool) -> None:
    record, raw = accident("A", written)
    bound = bind_to_code(answer(raw, record), ASKED)
    if same:
        assert bound.kind == "found" and bound.codes_folded == 1
        assert bound.records[0].credit_code == ASKED  # type: ignore[attr-defined]
    else:
        assert bound.error_kind == ErrorKind.MISMATCH


def test_errors_and_empty_answers_pass_unchanged() -> None:
    empty = answer({"items": []})
    assert bind_to_code(empty, ASKED, "items") is empty
    failed = FetchOutcome.error("t", ASKED, ErrorKind.TIMEOUT, "slow", NOW)
    assert bind_to_code(failed, ASKED) is failed


def test_storable_text_replaces_what_cannot_be_stored_and_drops_the_invisible() -> None:
    assert storable("北京\ud800\u202e测试\u200d公司\x00") == "北京\ufffd测试公司\ufffd"
    assert storable("甲\u2066乙\u2069\ufeff丙\x1b[0m") == "甲乙丙[0m"
    assert storable("第一行\n第二行\t完") == "第一行\n第二行\t完"
    plain = "北京测试有限公司"
    assert storable(plain) is plain


def test_the_evidence_shows_each_character_written_out() -> None:
    assert visible("a\u202eb\x00\udc80") == "a\\u202eb\\u0000\\udc80"
    assert visible_payload({"k\u200b": ["\ud800", 1, None]}) == {"k\\u200b": ["\\ud800", 1, None]}


def test_a_row_code_is_read_and_checked() -> None:
    assert read_code(" ９１１１ ００００６０００３７３４１ｌ ") == ASKED
    assert code_problem(ASKED) is None
    assert "expected 'L'" in (code_problem("91110000600037341K") or "")
    assert code_problem("91110000600037341K", accept=["91110000600037341k"]) is None
    assert "not 18" in (code_problem("123") or "")
    assert "no credit code" in (code_problem("") or "")
    assert "position 18" in (code_problem("91110000600037341I") or "")
