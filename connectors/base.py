"""What every connector returns: canonical records inside exactly one outcome per fetch.

A fetch is *found* (records), *not found* (the provider says there is no such
credit code) or an *error*. An error is never evidence about a factory: it
carries no records and must never be read as "nothing on file" (DESIGN §3).
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator

from connectors.text import json_needs_escaping, visible, visible_payload


class Topic(StrEnum):
    REGISTRATION = "registration"
    CREDIT = "credit"
    SAFETY = "safety"


_DATE_TEXT = re.compile(
    r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?(?:[ T]\d{1,2}:\d{2}(?::\d{2})?\S*)?"
)
_COMPACT_DATE = re.compile(r"(\d{4})(\d{2})(\d{2})")
# Providers' dates are Beijing's: an instant (epoch seconds or milliseconds) is read as the
# Beijing calendar day it falls on, so Beijing midnight is that day, not the one before.
BEIJING = ZoneInfo("Asia/Shanghai")
# Words that mean "none" in an optional field: null without a flag.
PLACEHOLDERS = frozenset({"-", "--", "—", "——", "/", "无", "暂无", "null", "NULL", "None", ""})


def parse_date(value: Any) -> date:
    """Dates as Chinese providers write them: ISO, 2025/6/30, 2025年6月30日, 20250630, and
    epoch seconds or milliseconds (as numbers or digits), read as the Beijing day."""
    if isinstance(value, datetime):
        return value.astimezone(BEIJING).date() if value.tzinfo else value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        text = unicodedata.normalize("NFKC", value).strip()
        match = _DATE_TEXT.fullmatch(text)
        if match is None:
            match = _COMPACT_DATE.fullmatch(text)
        if match:
            year, month, day = (int(part) for part in match.groups())
            return date(year, month, day)
        if text.isdigit() and len(text) in (10, 13):
            value = int(text)
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = value / 1000 if value > 10**11 else value  # epoch milliseconds are common
        try:
            return datetime.fromtimestamp(seconds, BEIJING).date()
        except (OverflowError, OSError, ValueError):
            raise ValueError(f"not a date: {value!r}") from None
    raise ValueError(f"not a date: {value!r}")


_FINE = re.compile(r"罚款(?:金额)?[^\d;；,，。]*?(\d+(?:\.\d+)?)\s*(万|亿)?\s*元")


def parse_fine(value: Any) -> float:
    """A fine as feeds write it: a number, "5,000元", "50万", or a penalty's own words
    ("罚款人民币5万元", "罚款金额5.0万元;没收金额0.0万元") where one fine is clear."""
    if isinstance(value, str):
        text = unicodedata.normalize("NFKC", value).replace(",", "")
        fines = _FINE.findall(text)
        if len(fines) == 1:
            number, unit = fines[0]
            return float(number) * {"万": 10_000.0, "亿": 100_000_000.0}.get(unit, 1.0)
        if len(fines) > 1:
            raise ValueError(f"more than one fine in {value!r}")
    return parse_amount(value)


def parse_count(value: Any) -> int:
    """A number of people: 12, "12", "12人"."""
    if isinstance(value, bool):
        raise ValueError(f"not a number of people: {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        text = unicodedata.normalize("NFKC", value).strip().removesuffix("人").strip()
        if text.isdigit():
            return int(text)
    raise ValueError(f"not a number of people: {value!r}")


def parse_division(value: Any) -> str:
    """A division code: 6 digits, or 9 or 12 (township, village) read by their first six."""
    text = unicodedata.normalize("NFKC", str(value)).strip()
    if re.fullmatch(r"\d{6}|\d{9}|\d{12}", text):
        return text[:6]
    raise ValueError(f"not a division code: {value!r}")


def parse_amount(value: Any) -> float:
    """Amounts in yuan; accepts numbers and text such as '50万' or '1,200.5元'."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        text = unicodedata.normalize("NFKC", value).replace(",", "").strip().removesuffix("元")
        factor = 1.0
        if text.endswith("万"):
            text, factor = text[:-1], 10_000.0
        elif text.endswith("亿"):
            text, factor = text[:-1], 100_000_000.0
        return float(text) * factor
    raise ValueError(f"not an amount: {value!r}")


class CanonicalRecord(BaseModel):
    """Fields common to every record: where it came from, when, and the provider's own data."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    topic: ClassVar[Topic]

    source: str
    fetched_at: datetime
    raw: dict[str, Any] = Field(default_factory=dict, repr=False)
    # enumerated fields whose provider text the mapping did not know: field → text
    unmapped: dict[str, str] = Field(default_factory=dict)


class RegistrationRecord(CanonicalRecord):
    topic: ClassVar[Topic] = Topic.REGISTRATION

    credit_code: str
    name: str
    # the provider's words; the rules read them through the measures' status map
    raw_status: str
    registered_address: str | None = None
    registration_authority: str | None = None
    division_code: str | None = None
    former_names: list[str] = Field(default_factory=list)
    entity_type: str | None = None

    @field_validator("division_code", mode="before")
    @classmethod
    def _six_digits(cls, value: Any) -> Any:
        return None if value is None or value == "" else parse_division(value)


class CreditKind(StrEnum):
    ADMINISTRATIVE_PENALTY = "administrative_penalty"
    ABNORMAL_OPERATION = "abnormal_operation"
    SERIOUS_VIOLATION = "serious_violation"
    DISHONEST_DEBTOR = "dishonest_debtor"
    UNKNOWN = "unknown"  # a text the mapping does not know: kept, and raised for review


class CreditRecord(CanonicalRecord):
    topic: ClassVar[Topic] = Topic.CREDIT

    record_id: str
    kind: CreditKind
    credit_code: str | None = None
    decided_on: date | None = None
    authority: str | None = None
    document_no: str | None = None
    fine_cny: float | None = None
    reason: str | None = None
    removed_on: date | None = None  # None while still listed

    @field_validator("decided_on", "removed_on", mode="before")
    @classmethod
    def _dates(cls, value: Any) -> Any:
        return None if value in (None, "") else parse_date(value)

    @field_validator("fine_cny", mode="before")
    @classmethod
    def _amounts(cls, value: Any) -> Any:
        return None if value in (None, "") else parse_fine(value)


class SafetyCategory(StrEnum):
    PRODUCTION_SAFETY = "production_safety"
    ENVIRONMENTAL = "environmental"
    QUALITY = "quality"
    UNKNOWN = "unknown"


class AccidentGrade(StrEnum):
    ESPECIALLY_MAJOR = "especially_major"
    MAJOR = "major"
    LARGE = "large"
    GENERAL = "general"
    UNKNOWN = "unknown"


# The ways grades are written: 特别重大…一般 (with or without 事故/事件), Ⅰ–Ⅳ级, I–IV级, 一级–四级.
_GRADE_WORDS = {
    "特别重大": AccidentGrade.ESPECIALLY_MAJOR,
    "重大": AccidentGrade.MAJOR,
    "较大": AccidentGrade.LARGE,
    "一般": AccidentGrade.GENERAL,
}
_GRADE_NUMBERS = {
    "Ⅰ": AccidentGrade.ESPECIALLY_MAJOR,
    "I": AccidentGrade.ESPECIALLY_MAJOR,
    "一": AccidentGrade.ESPECIALLY_MAJOR,
    "Ⅱ": AccidentGrade.MAJOR,
    "II": AccidentGrade.MAJOR,
    "二": AccidentGrade.MAJOR,
    "Ⅲ": AccidentGrade.LARGE,
    "III": AccidentGrade.LARGE,
    "三": AccidentGrade.LARGE,
    "Ⅳ": AccidentGrade.GENERAL,
    "IV": AccidentGrade.GENERAL,
    "四": AccidentGrade.GENERAL,
}


def parse_grade(text: str) -> AccidentGrade | None:
    """The grade a provider's text names, or None when it names none of the known forms."""
    try:
        return AccidentGrade(text)
    except ValueError:
        pass
    # NFKC turns Ⅳ into IV; the Roman numerals are read as Latin letters from here on
    word = re.sub(r"\s+", "", unicodedata.normalize("NFKC", text)).upper()
    word = re.sub(r"(事故|事件)$", "", word)
    if word in _GRADE_WORDS:
        return _GRADE_WORDS[word]
    number = re.fullmatch(r"([IVX]+|[一二三四])级", word)
    return _GRADE_NUMBERS.get(number.group(1)) if number else None


class SafetyRecord(CanonicalRecord):
    topic: ClassVar[Topic] = Topic.SAFETY

    record_id: str
    category: SafetyCategory
    credit_code: str | None = None
    occurred_on: date | None = None  # None: the source's date could not be read (unmapped)
    grade: AccidentGrade | None = None
    deaths: int | None = None
    serious_injuries: int | None = None
    evacuated: int | None = None
    direct_loss_cny: float | None = None
    summary: str | None = None

    @field_validator("occurred_on", mode="before")
    @classmethod
    def _dates(cls, value: Any) -> Any:
        return None if value in (None, "") else parse_date(value)

    @field_validator("direct_loss_cny", mode="before")
    @classmethod
    def _amounts(cls, value: Any) -> Any:
        return None if value in (None, "") else parse_amount(value)

    @field_validator("grade", mode="before")
    @classmethod
    def _no_grade(cls, value: Any) -> Any:
        return None if value in (None, "") else value


RECORD_TYPES: dict[Topic, type[CanonicalRecord]] = {
    Topic.REGISTRATION: RegistrationRecord,
    Topic.CREDIT: CreditRecord,
    Topic.SAFETY: SafetyRecord,
}


class ErrorKind(StrEnum):
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    HTTP_5XX = "http_5xx"
    HTTP_429 = "http_429"
    HTTP_STATUS = "http_status"  # any other unexpected status (401, 403, 400...)
    BAD_JSON = "bad_json"
    SCHEMA_MISMATCH = "schema_mismatch"
    TOO_LARGE = "too_large"  # a body, a field or a nesting over the connector's bounds
    BAD_FILE = "bad_file"
    # every record of the answer carries another credit code than the one asked
    MISMATCH = "mismatch"
    # the answer could not be stored (the database refused it): never a stopped sweep
    UNSTORABLE = "unstorable"
    INTERNAL = "internal"


@dataclass(frozen=True)
class FetchOutcome:
    """The one result of asking a source about one factory."""

    kind: Literal["found", "not_found", "error"]
    connector: str
    credit_code: str
    fetched_at: datetime
    records: tuple[CanonicalRecord, ...] = ()
    payload: Any = None  # the provider's answer as parsed JSON (or rows), kept as evidence
    error_kind: ErrorKind | None = None
    error_detail: str | None = None
    # records about another credit code, left out of this answer (connectors.binding)
    other_codes_dropped: int = 0
    # records whose code equals the one asked only after NFKC (full-width look-alikes)
    codes_folded: int = 0

    @classmethod
    def found(
        cls,
        connector: str,
        credit_code: str,
        records: list[CanonicalRecord],
        payload: Any,
        fetched_at: datetime,
    ) -> FetchOutcome:
        return cls("found", connector, credit_code, fetched_at, tuple(records), payload)

    @classmethod
    def not_found(
        cls, connector: str, credit_code: str, payload: Any, fetched_at: datetime
    ) -> FetchOutcome:
        return cls("not_found", connector, credit_code, fetched_at, (), payload)

    @classmethod
    def error(
        cls, connector: str, credit_code: str, kind: ErrorKind, detail: str, fetched_at: datetime
    ) -> FetchOutcome:
        return cls(
            "error",
            connector,
            credit_code,
            fetched_at,
            error_kind=kind,
            error_detail=visible(detail[:2000]),
        )

    @property
    def payload_json(self) -> str | None:
        """The provider's answer as canonical JSON text (sorted keys), None for an error."""
        if self.kind == "error":
            return None
        # allow_nan=False: NaN is not JSON, PostgreSQL refuses it (ValueError here instead)
        dumped = json.dumps(
            self.payload, ensure_ascii=False, sort_keys=True, default=str, allow_nan=False
        )
        if json_needs_escaping(dumped):  # rare: walk the answer only when it needs it
            dumped = json.dumps(
                visible_payload(self.payload),
                ensure_ascii=False,
                sort_keys=True,
                default=str,
                allow_nan=False,
            )
        return dumped

    @property
    def records_json(self) -> str:
        """The canonical records as JSON text, without the raw copy the payload holds."""
        return "[" + ",".join(r.model_dump_json(exclude={"raw"}) for r in self.records) + "]"

    def fingerprint(self, payload_json: str | None) -> str:
        """Same answer, same hash: what decides whether history gets a new row."""
        if self.kind == "error":
            basis = f"error:{self.error_kind}"
        else:
            basis = f"{self.kind}:{payload_json}"
        return hashlib.sha256(basis.encode("utf-8")).hexdigest()


@runtime_checkable
class Connector(Protocol):
    """A source asked about one factory at a time (HTTP providers, plugins)."""

    name: str
    topic: Topic

    async def fetch(self, credit_code: str) -> FetchOutcome: ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True)
class DroppedFile:
    """One file of a drop folder, read whole: outcomes per factory, or the error that stopped it."""

    name: str
    content_hash: str
    outcomes: list[FetchOutcome] = field(default_factory=list)
    error: str | None = None
    rows: int = 0
    # rows attached to no factory, each "file, row N: why" (a credit code failing its check)
    rejected_rows: tuple[str, ...] = ()


@runtime_checkable
class DropConnector(Protocol):
    """A source that delivers files of many factories at once (bureaus' spreadsheets)."""

    name: str
    topic: Topic

    def new_files(self, consumed: set[str]) -> AsyncIterator[DroppedFile]: ...

    async def aclose(self) -> None: ...
