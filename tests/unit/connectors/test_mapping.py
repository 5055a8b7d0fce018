from datetime import UTC, date, datetime

import pytest

from connectors.base import CreditKind, Topic, parse_amount, parse_date, parse_grade
from connectors.errors import MappingError
from connectors.mapping import RecordMapper, extract
from connectors.settings import ConnectorSettings

NOW = datetime(2026, 11, 25, tzinfo=UTC)


def test_dotted_paths_lists_and_indexes() -> None:
    data = {"Result": {"Data": [{"Name": "a"}, {"Name": "b"}], "OriginalName": None}}
    assert extract(data, "Result.Data[].Name") == ["a", "b"]
    assert extract(data, "Result.Data[1].Name") == "b"
    assert extract(data, "Result.OriginalName[].Name") == []
    assert extract(data, "Result.Missing") is not None  # the missing marker, not a value
    with pytest.raises(MappingError):
        extract({"a": 1}, "a[].b")


def test_provider_dates_and_amounts() -> None:
    assert parse_date("2026-09-14") == date(2026, 9, 14)
    assert parse_date("2026-09-14 00:00:00") == date(2026, 9, 14)
    assert parse_date("2026年9月14日") == date(2026, 9, 14)
    assert parse_date(1789344000000) == date(2026, 9, 14)  # epoch milliseconds
    with pytest.raises(ValueError):
        parse_date("2026-09-14 whatever")
    assert parse_amount("20万元") == 200_000
    assert parse_amount("1,200.5") == 1200.5
    assert parse_amount(3) == 3.0


def credit_mapper() -> RecordMapper:
    return RecordMapper(
        Topic.CREDIT,
        "credit",
        {"record_id": "Id", "kind": "Type", "fine_cny": "Amount"},
        values={"kind": {"行政处罚": "administrative_penalty"}},
    )


def test_values_map_and_numbers_become_text() -> None:
    [record] = credit_mapper().map_payload(
        {"Data": [{"Id": 17, "Type": "行政处罚", "Amount": "5万"}]}, "Data", NOW
    )
    assert record.model_dump()["record_id"] == "17"
    assert record.model_dump()["kind"] is CreditKind.ADMINISTRATIVE_PENALTY
    assert record.model_dump()["fine_cny"] == 50_000


@pytest.mark.parametrize(
    "payload",
    [
        {"Other": []},  # nothing at record_path
        {"Data": ["not an object"]},
    ],
)
def test_answers_that_do_not_fit_the_mapping_are_errors(payload: dict[str, object]) -> None:
    with pytest.raises(MappingError):
        credit_mapper().map_payload(payload, "Data", NOW)


def test_a_kind_the_mapping_does_not_know_keeps_its_record_and_the_other_records() -> None:
    records = credit_mapper().map_payload(
        {"Data": [{"Id": 1, "Type": "罚款了"}, {"Id": 2, "Type": "行政处罚"}]}, "Data", NOW
    )
    assert [r.kind for r in records] == ["unknown", "administrative_penalty"]  # type: ignore[attr-defined]
    assert records[0].unmapped == {"kind": "罚款了"} and records[1].unmapped == {}


def test_a_listing_without_an_id_gets_one_from_its_content_the_same_each_time() -> None:
    mapper = RecordMapper(
        Topic.CREDIT,
        "credit",
        {"kind": "Type", "authority": "Authority", "reason": "Reason"},
        values={"kind": {"列入经营异常名录": "abnormal_operation"}},
    )
    listing = {
        "Type": "列入经营异常名录",
        "Authority": "北京市海淀区市场监督管理局",
        "Reason": "未年报",
    }
    [first] = mapper.map_payload({"Data": [listing]}, "Data", NOW)
    [again] = mapper.map_payload({"Data": [dict(listing)]}, "Data", NOW)
    [other] = mapper.map_payload({"Data": [{**listing, "Reason": "地址失联"}]}, "Data", NOW)
    assert first.record_id == again.record_id != other.record_id  # type: ignore[attr-defined]
    assert first.record_id.startswith("derived:")  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("text", "grade"),
    [
        ("特别重大", "especially_major"),
        ("重大事故", "major"),
        ("较大事件", "large"),
        ("一般", "general"),
        ("Ⅰ级", "especially_major"),
        ("Ⅱ级", "major"),
        ("Ⅲ级事件", "large"),
        ("Ⅳ级", "general"),
        ("I级", "especially_major"),
        ("IV级", "general"),
        ("一级", "especially_major"),
        ("三级", "large"),
        ("四级", "general"),
        ("major", "major"),
    ],
)
def test_grade_texts_map_by_default(text: str, grade: str) -> None:
    assert parse_grade(text) == grade


@pytest.mark.parametrize("text", ["中等", "五级", "重大损失", ""])
def test_a_grade_text_of_no_known_form_is_none(text: str) -> None:
    assert parse_grade(text) is None


def test_an_unknown_grade_keeps_the_accident_as_unknown() -> None:
    mapper = RecordMapper(
        Topic.SAFETY,
        "s",
        {"record_id": "Id", "category": "C", "occurred_on": "D", "grade": "G"},
    )
    [record] = mapper.map_payload(
        {"R": [{"Id": "A1", "C": "production_safety", "D": "2026-06-01", "G": "甲等"}]}, "R", NOW
    )
    assert record.grade == "unknown" and record.unmapped == {"grade": "甲等"}  # type: ignore[attr-defined]


def test_registration_needs_exactly_one_record() -> None:
    mapper = RecordMapper(
        Topic.REGISTRATION, "r", {"credit_code": "c", "name": "n", "raw_status": "s"}
    )
    with pytest.raises(MappingError, match="one registration record"):
        mapper.map_payload({"R": []}, "R", NOW)
    [record] = mapper.map_payload({"R": {"c": "X", "n": "Y", "s": " 注销 "}}, "R", NOW)
    # the provider's words are kept as they are; only the rules map them (monitor.rules.policy)
    assert record.model_dump()["raw_status"] == "注销"
    assert "status" not in record.model_dump()


def test_settings_reject_unknown_fields_and_missing_required_ones() -> None:
    with pytest.raises(ValueError, match="colour"):
        ConnectorSettings(
            name="x",
            topic=Topic.CREDIT,
            url="http://h/{credit_code}",
            fields={"record_id": "a", "kind": "b", "colour": "c"},
        )
    with pytest.raises(ValueError, match="kind"):
        ConnectorSettings(
            name="x", topic=Topic.CREDIT, url="http://h/{credit_code}", fields={"record_id": "a"}
        )
    with pytest.raises(ValueError, match="credit_code"):
        ConnectorSettings(
            name="x", topic=Topic.CREDIT, url="http://h/", fields={"record_id": "a", "kind": "b"}
        )
    with pytest.raises(ValueError, match="either"):
        ConnectorSettings(
            name="x",
            topic=Topic.CREDIT,
            url="http://h/{credit_code}",
            fields={"record_id": "a", "kind": "b"},
            not_found={},
        )


def test_one_field_that_cannot_be_read_is_null_and_named_and_the_answer_is_kept() -> None:
    records = credit_mapper().map_payload(
        {
            "Data": [
                {"Id": 1, "Type": "行政处罚", "Amount": "很多"},
                {"Id": 2, "Type": "行政处罚", "Amount": "罚款人民币5万元"},
                {"Id": 3, "Type": "行政处罚", "Amount": "-"},
            ]
        },
        "Data",
        NOW,
    )
    unreadable, in_words, placeholder = records
    assert unreadable.model_dump()["fine_cny"] is None
    assert unreadable.unmapped == {"fine_cny": "很多"}
    assert in_words.model_dump()["fine_cny"] == 50_000 and not in_words.unmapped
    assert placeholder.model_dump()["fine_cny"] is None and not placeholder.unmapped


@pytest.mark.parametrize(
    ("text", "day"),
    [
        (1759161600000, "2025-09-30"),  # Beijing midnight in epoch ms: that day, not the one before
        ("1759161600000", "2025-09-30"),
        (1759161600, "2025-09-30"),
        ("2025-09-30 00:00:00", "2025-09-30"),
        ("2025/9/30", "2025-09-30"),
        ("2025年9月30日", "2025-09-30"),
        ("20250930", "2025-09-30"),
    ],
)
def test_dates_as_sources_write_them(text: object, day: str) -> None:
    from connectors.base import parse_date

    assert str(parse_date(text)) == day


@pytest.mark.parametrize(
    ("text", "fine"),
    [
        ("罚款人民币5万元", 50_000),
        ("罚款金额5.0万元;没收金额0.0万元", 50_000),
        ("5,000元", 5_000),
        ("50万", 500_000),
        (1200.5, 1200.5),
    ],
)
def test_fines_as_feeds_write_them(text: object, fine: float) -> None:
    from connectors.base import parse_fine

    assert parse_fine(text) == fine


def test_a_fine_that_is_not_clear_is_not_guessed() -> None:
    from connectors.base import parse_fine

    for text in ("警告", "罚款1万元，罚款2万元", "没收违法所得"):
        with pytest.raises(ValueError):
            parse_fine(text)


def test_division_codes_of_nine_or_twelve_digits_are_read_by_their_first_six() -> None:
    mapper = RecordMapper(
        Topic.REGISTRATION,
        "registry",
        {"credit_code": "Code", "name": "Name", "raw_status": "Status", "division_code": "Area"},
    )
    for area, expected in (("110108001001", "110108"), ("110108001", "110108"), ("abc", None)):
        [record] = mapper.map_payload(
            {"Code": "91110000600037341L", "Name": "x", "Status": "注销", "Area": area}, "", NOW
        )
        assert record.model_dump()["division_code"] == expected
        assert record.model_dump()["raw_status"] == "注销"  # the answer is kept either way
