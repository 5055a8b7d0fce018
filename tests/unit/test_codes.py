import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.codes import (
    USCC_ALPHABET,
    check_character,
    is_beijing_division,
    resolve_district,
    validate_credit_code,
)
from monitor.errors import InvalidCreditCode


@pytest.mark.parametrize("code", ["91110000600037341L", "91110000101623741K", "91350100M000100Y43"])
def test_published_codes_are_valid(code: str) -> None:
    assert validate_credit_code(code) == code


def test_lower_case_and_spaces_are_normalised() -> None:
    assert validate_credit_code("  9111 0000 6000 37341l ") == "91110000600037341L"
    assert validate_credit_code("９１１１００００６０００３７３４１Ｌ") == "91110000600037341L"


def test_bad_check_character_names_the_expected_one() -> None:
    with pytest.raises(InvalidCreditCode) as caught:
        validate_credit_code("91110000600037341K")
    assert caught.value.expected_check == "L"
    assert "L" in str(caught.value) and "K" in str(caught.value)


def test_accept_list_admits_a_registry_code_with_a_bad_check_character() -> None:
    assert validate_credit_code("91110000600037341k", accept=["91110000600037341K"]) == (
        "91110000600037341K"
    )
    with pytest.raises(InvalidCreditCode):
        validate_credit_code("91110000600037341K", accept=["91110000600037341J"])


@pytest.mark.parametrize("letter", list("IOSVZ"))
def test_letters_outside_the_alphabet_are_rejected(letter: str) -> None:
    with pytest.raises(InvalidCreditCode, match=letter):
        validate_credit_code(f"9111000060003734{letter}L")


@pytest.mark.parametrize(
    "code",
    ["", "91110000600037341", "91110000600037341LL", "91A10000600037341L"],
)
def test_malformed_codes_are_rejected(code: str) -> None:
    with pytest.raises(InvalidCreditCode):
        validate_credit_code(code)


@given(st.text(alphabet=USCC_ALPHABET, min_size=9, max_size=9), st.integers(0, 999999))
def test_every_computed_check_character_validates_and_no_other_does(
    tail: str, division: int
) -> None:
    first17 = f"91{division:06d}{tail}"
    good = check_character(first17)
    assert validate_credit_code(first17 + good) == first17 + good
    wrong = USCC_ALPHABET[(USCC_ALPHABET.index(good) + 1) % 31]
    with pytest.raises(InvalidCreditCode):
        validate_credit_code(first17 + wrong)


@pytest.mark.parametrize(
    ("given_as", "code"),
    [
        ("110108", "110108"),
        ("海淀区", "110108"),
        ("海淀", "110108"),
        ("Haidian", "110108"),
        ("haidian district", "110108"),
        ("北京市海淀区", "110108"),
        ("110103", "110101"),  # 崇文 merged into 东城 in 2010
        ("宣武区", "110102"),
        ("110228", "110118"),  # 密云县 became 密云区 in 2015
        ("110229", "110119"),
        ("北京经济技术开发区", "110302"),
        ("亦庄", "110302"),
        ("延庆", "110119"),
    ],
)
def test_districts_resolve_from_every_spelling(given_as: str, code: str) -> None:
    district = resolve_district(given_as)
    assert district is not None and district.code == code


@pytest.mark.parametrize("value", ["310115", "上海市浦东新区", "Springfield", "110100", ""])
def test_unknown_districts_resolve_to_none(value: str) -> None:
    assert resolve_district(value) is None


def test_beijing_division_codes() -> None:
    assert is_beijing_division("110302")
    assert not is_beijing_division("131003")
    assert not is_beijing_division("11010")


def test_a_division_code_says_where_unless_it_is_national() -> None:
    from monitor.codes import division_side

    assert division_side("110108") == "beijing"
    assert division_side("110302") == "beijing"  # 北京经济技术开发区
    assert division_side("131082") == "outside"
    assert division_side("110108001001") == "beijing"  # township level: its first six
    assert division_side("131082100") == "outside"
    assert division_side("100000") is None  # the country: no place
    assert division_side("990000") is None
    assert division_side("1101") is None
