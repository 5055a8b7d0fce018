"""Reading the register file staff keep (CSV or XLSX): every valid row, or every error.

Nothing here writes: an import is all-or-nothing, so the whole file is parsed
and checked before the database is touched (monitor/register/store.py). Each
error names its row and column, as a spreadsheet user sees them.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from connectors.base import parse_date as parse_provider_date
from connectors.errors import TableError
from connectors.tables import read_table
from monitor.clock import today_beijing
from monitor.codes import resolve_district, validate_credit_code
from monitor.errors import BadInput, InvalidCreditCode
from monitor.i18n import Message, language
from monitor.vocabulary import Level


@dataclass(frozen=True)
class Column:
    field: str
    chinese: str
    required: bool = True


COLUMNS = (
    Column("credit_code", "统一社会信用代码"),
    Column("name", "企业名称"),
    Column("level", "级别"),
    Column("district", "所在区"),
    Column("designated_on", "认定日期"),
    Column("registered_address", "注册地址", required=False),
    # one enterprise may hold several designations (Article 7, or several factories)
    Column("factory_name", "工厂名称", required=False),
    Column("reference", "文号", required=False),  # the filing or the decision
    # the entity type when designated: the baseline a restructure is judged against
    Column("entity_type", "企业类型", required=False),
)

LEVELS = {
    "basic": Level.BASIC,
    "基础级": Level.BASIC,
    "基础": Level.BASIC,
    "advanced": Level.ADVANCED,
    "先进级": Level.ADVANCED,
    "先进": Level.ADVANCED,
}


@dataclass(frozen=True)
class RowError:
    """One problem in an import file, located so a spreadsheet user can find it."""

    file: str
    row: int | None
    column: str | None
    column_letter: str | None
    message: Message | str

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f", row {self.row}" if language() == "en" else f" 第 {self.row} 行"
        if self.column:
            letter = f" ({self.column_letter})" if self.column_letter else ""
            where += (
                f", column '{self.column}'{letter}"
                if language() == "en"
                else f"，列“{self.column}”{letter}"
            )
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class FactoryRow:
    """A validated row of an import file."""

    row: int
    credit_code: str
    name: str
    level: Level
    district_code: str
    designated_on: date
    registered_address: str | None  # None when the file has no address column
    factory_name: str | None = None  # the factory designated, when not the enterprise's name
    reference: str | None = None
    entity_type: str | None = None  # None when the file has no such column or cell

    @property
    def designation(self) -> tuple[str, str]:
        """What tells this row's designation from the enterprise's others: its level, and the
        factory when the row names one ("" for the enterprise's own, as most rows are)."""
        return self.level.value, self.factory_name or ""

    def register_values(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "level": self.level.value,
            "district_code": self.district_code,
            "designated_on": self.designated_on,
            "registered_address": self.registered_address,
        }


def plain(value: Any) -> Any:
    """A value as JSON keeps it (dates as ISO text)."""
    return value.isoformat() if isinstance(value, date) else value


def _read(path: Path) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    try:
        return read_table(path)
    except TableError as exc:
        message = {
            "encoding": Message(
                "import.encoding_uncertain" if exc.detail else "import.encoding",
                candidates=exc.detail,
            ),
            "format": Message("import.format", suffix=path.suffix.lower()),
            "not_xlsx": Message("import.not_xlsx", suffix=path.suffix.lower()),
        }.get(exc.reason, Message("import.unreadable", detail=exc.detail))
        raise BadInput(str(RowError(path.name, None, None, None, message))) from exc


def _header_key(text: str) -> str:
    return re.sub(r"[\s_]+", "", unicodedata.normalize("NFKC", text)).lower()


def parse_date(text: str) -> date:
    """A date as staff type it: 2025-06-30, 2025/6/30 or 2025年6月30日."""
    return parse_provider_date(text.strip())


class _Invalid(Exception):
    """A cell's value is not acceptable; the message says why."""

    def __init__(self, message: Message | str) -> None:
        super().__init__(str(message))
        self.message = message


@dataclass(frozen=True)
class _Rules:
    accept_codes: list[str]
    today: date


def _credit_code(text: str, rules: _Rules) -> str:
    try:
        return validate_credit_code(text, accept=rules.accept_codes)
    except InvalidCreditCode as exc:
        raise _Invalid(exc.message) from exc


def _level(text: str, rules: _Rules) -> Level:
    level = LEVELS.get(text.lower())
    if level is None:
        raise _Invalid(Message("level.unknown", value=text))
    return level


def _district(text: str, rules: _Rules) -> str:
    district = resolve_district(text)
    if district is None:
        raise _Invalid(Message("district.unknown", value=text))
    return district.code


def _designated_on(text: str, rules: _Rules) -> date:
    try:
        day = parse_date(text)
    except ValueError as exc:
        raise _Invalid(Message("date.invalid", value=text)) from exc
    if day > rules.today:
        raise _Invalid(Message("date.future", value=day.isoformat()))
    return day


def _name(text: str, rules: _Rules) -> str:
    return re.sub(r"\s+", " ", text)


def _address(text: str, rules: _Rules) -> str | None:
    return text or None


def _at_most(limit: int, parse: Callable[[str, _Rules], Any]) -> Callable[[str, _Rules], Any]:
    """A text column no longer than its column in the database."""

    def bounded(text: str, rules: _Rules) -> Any:
        if len(text) > limit:
            raise _Invalid(Message("value.too_long", length=len(text), limit=limit))
        return parse(text, rules)

    return bounded


# column field → how its text becomes a value (a required column's empty cell is an error)
_PARSERS: dict[str, Callable[[str, _Rules], Any]] = {
    "credit_code": _credit_code,
    "name": _at_most(200, _name),
    "level": _level,
    "district": _district,
    "designated_on": _designated_on,
    "registered_address": _at_most(500, _address),
    "factory_name": _at_most(200, lambda text, rules: re.sub(r"\s+", " ", text) or None),
    "reference": _at_most(200, lambda text, rules: text or None),
    "entity_type": _at_most(100, lambda text, rules: re.sub(r"\s+", "", text) or None),
}


@dataclass(frozen=True)
class _Layout:
    """Where each known column is in this file."""

    file: str
    positions: dict[str, int]
    titles: dict[str, str]

    def error(self, row: int, field_: str, message: Message | str) -> RowError:
        index = self.positions[field_]
        return RowError(self.file, row, self.titles[field_], _column_letter(index), message)


def _layout(file: str, header: list[str]) -> tuple[_Layout, list[RowError]]:
    """Find the known columns by their Chinese or English title, in any order."""
    wanted = {_header_key(c.field): c for c in COLUMNS} | {
        _header_key(c.chinese): c for c in COLUMNS
    }
    positions: dict[str, int] = {}
    errors: list[RowError] = []
    for index, title in enumerate(header):
        column = wanted.get(_header_key(title))
        if column is None:
            continue  # extra columns (序号, 备注, ...) are common and harmless
        if column.field in positions:
            message = Message("import.duplicate_column", column=title)
            errors.append(RowError(file, 1, title, _column_letter(index), message))
        positions[column.field] = index
    for column in COLUMNS:
        if column.required and column.field not in positions:
            message = Message("import.missing_column", column=column.chinese, english=column.field)
            errors.append(RowError(file, 1, None, None, message))
    titles = {field_: header[index] for field_, index in positions.items()}
    return _Layout(file, positions, titles), errors


def _parse_row(
    layout: _Layout, number: int, cells: list[str], rules: _Rules
) -> tuple[dict[str, Any], list[RowError]]:
    values: dict[str, Any] = {}
    errors: list[RowError] = []
    for column in COLUMNS:
        index = layout.positions.get(column.field)
        if index is None:
            continue
        text = cells[index].strip() if index < len(cells) else ""
        if not text and column.required:
            errors.append(layout.error(number, column.field, Message("value.missing")))
            continue
        try:
            values[column.field] = _PARSERS[column.field](text, rules)
        except _Invalid as exc:
            errors.append(layout.error(number, column.field, exc.message))
    return values, errors


def parse_factories(
    path: Path, *, accept_codes: Iterable[str] = (), today: date | None = None
) -> tuple[list[FactoryRow], list[RowError]]:
    """Every valid row and every error of an import file; nothing is written."""
    header, body = _read(path)
    layout, errors = _layout(path.name, header)
    if errors:
        return [], errors
    rules = _Rules(list(accept_codes), today or today_beijing())
    first_row_of: dict[tuple[Any, ...], int] = {}
    rows: list[FactoryRow] = []
    for number, cells in body:
        values, problems = _parse_row(layout, number, cells, rules)
        errors += problems
        code = values.get("credit_code")
        level = values.get("level")
        key = (code, level, values.get("factory_name") or "")
        if code and key in first_row_of:
            message = Message("import.duplicate_code", code=code, first_row=first_row_of[key])
            errors.append(layout.error(number, "credit_code", message))
            continue
        if code:
            first_row_of[key] = number
        if not errors:  # once the file is rejected, only its errors are collected
            rows.append(
                FactoryRow(
                    row=number,
                    credit_code=values["credit_code"],
                    name=values["name"],
                    level=values["level"],
                    district_code=values["district"],
                    designated_on=values["designated_on"],
                    registered_address=values.get("registered_address"),
                    factory_name=values.get("factory_name"),
                    reference=values.get("reference"),
                    entity_type=values.get("entity_type"),
                )
            )
    if not rows and not errors:
        errors.append(RowError(path.name, None, None, None, Message("import.empty")))
    return rows, errors


def _column_letter(index: int) -> str:
    """The spreadsheet column (0 → A) an error names, as staff see it in their file."""
    # imported here: openpyxl's package costs a reader of the register 10 MB to name a column
    from openpyxl.utils import get_column_letter

    return get_column_letter(index + 1)
