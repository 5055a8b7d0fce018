"""Every word sfm records has its text in both languages: the catalogue follows the vocabulary."""

from enum import StrEnum

import pytest

from connectors.base import AccidentGrade, CreditKind, SafetyCategory
from monitor.i18n import CATALOG
from monitor.vocabulary import (
    AlertStatus,
    DesignationStatus,
    EventKind,
    FlagState,
    Level,
    RegistrationStatus,
    Severity,
)

SHOWN = {
    "state": FlagState,
    "severity": Severity,
    "level": Level,
    "alert_status": AlertStatus,
    "event": EventKind,
    "status": DesignationStatus,
    "kind": CreditKind,
    "registration_status": RegistrationStatus,
    "category": SafetyCategory,
    "grade": AccidentGrade,
}


@pytest.mark.parametrize(("prefix", "words"), SHOWN.items())
def test_every_recorded_word_has_chinese_and_english_text(
    prefix: str, words: type[StrEnum]
) -> None:
    missing = [
        f"{prefix}.{word.value}"
        for word in words
        if set(CATALOG.get(f"{prefix}.{word.value}", {})) != {"zh", "en"}
    ]
    assert missing == []


def test_every_topic_and_error_kind_has_chinese_and_english_text() -> None:
    from connectors.base import ErrorKind, Topic

    for prefix, words in (("topic", Topic), ("error_kind", ErrorKind)):
        for word in words:
            assert set(CATALOG.get(f"{prefix}.{word.value}", {})) == {"zh", "en"}, word
