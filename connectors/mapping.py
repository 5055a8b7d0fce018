"""Provider JSON (or spreadsheet rows) → canonical records, driven by configuration only.

Paths are dotted (`Result.Data`), `name[]` maps the rest of the path over a
list (`OriginalName[].Name`), `name[0]` picks one element.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

if TYPE_CHECKING:
    from connectors.settings import ConnectorSettings

from connectors.base import (
    PLACEHOLDERS,
    RECORD_TYPES,
    CanonicalRecord,
    CreditKind,
    SafetyCategory,
    Topic,
    parse_amount,
    parse_count,
    parse_date,
    parse_division,
    parse_fine,
    parse_grade,
)
from connectors.errors import MappingError
from connectors.text import storable, storable_value

# Enumerated fields: a text none of their forms knows keeps its record, as `unknown`
# (which every enumeration of the records has).
UNKNOWN = "unknown"
_ENUMERATED: dict[str, Callable[[str], StrEnum | None]] = {
    "kind": lambda text: _member(CreditKind, text),
    "category": lambda text: _member(SafetyCategory, text),
    "grade": parse_grade,
}


# Fields read from the provider's text: one that cannot be read is null on its record and
# named (field and text) for a person, and the rest of the record and the answer are kept.
_READERS: dict[str, Callable[[Any], Any]] = {
    "decided_on": parse_date,
    "removed_on": parse_date,
    "occurred_on": parse_date,
    "fine_cny": parse_fine,
    "direct_loss_cny": parse_amount,
    "division_code": parse_division,
    "deaths": parse_count,
    "serious_injuries": parse_count,
    "evacuated": parse_count,
}
_UNMAPPED_CHARS = 200  # the provider's text, as much of it as a person needs to see


def _member(enum: type[StrEnum], text: str) -> StrEnum | None:
    try:
        return enum(text)
    except ValueError:
        return None


_SEGMENT = re.compile(r"^(?P<name>[^\[\]]*)(?:\[(?P<index>\d*)\])?$")
_MISSING = object()


Segment = tuple[str, str | None]  # (key, None | "" for every element | "N" for one)


@lru_cache(maxsize=1024)
def compile_path(path: str) -> tuple[Segment, ...]:
    if path in ("", "."):
        return ()
    segments = []
    for text in path.split("."):
        match = _SEGMENT.match(text)
        if match is None:
            raise MappingError(f"bad path segment {text!r}")
        segments.append((match["name"], match["index"]))
    return tuple(segments)


def extract(data: Any, path: str) -> Any:
    """The value at a dotted path; `_MISSING` where the path leads nowhere."""
    return _walk(data, compile_path(path))


def _walk(data: Any, segments: tuple[Segment, ...]) -> Any:
    if not segments:
        return data
    (name, index), rest = segments[0], segments[1:]
    value = data
    if name:
        # dict first: parsed JSON and spreadsheet rows are dicts, and the ABC check
        # alone costs more than the rest of a step on a path walked for every field.
        if not isinstance(value, (dict, Mapping)) or name not in value:
            return _MISSING
        value = value[name]
    if index is None:
        return _walk(value, rest)
    if value is None:
        return [] if index == "" else _MISSING
    if not isinstance(value, list):
        raise MappingError(f"{name}[{index}]: expected a list, got {type(value).__name__}")
    if index == "":
        items = [_walk(item, rest) for item in value]
        return [item for item in items if item is not _MISSING]
    position = int(index)
    return _walk(value[position], rest) if position < len(value) else _MISSING


def required_fields(topic: Topic) -> set[str]:
    model = RECORD_TYPES[topic]
    # a credit listing without an id gets one derived from its content (derived_record_id)
    internal = {"source", "fetched_at", "raw", "unmapped"} | (
        {"record_id"} if topic is Topic.CREDIT else set()
    )
    return {
        name
        for name, info in model.model_fields.items()
        if info.is_required() and name not in internal
    }


def derived_record_id(data: Mapping[str, Any]) -> str:
    """A stable id for a listing the provider gives none (abnormal-operation and
    serious-violation lists usually do not): the same listing, seen again, has the same id."""
    basis = json.dumps(
        [
            str(data.get(name) or "")
            for name in ("kind", "decided_on", "authority", "document_no", "reason")
        ],
        ensure_ascii=False,
    )
    return "derived:" + hashlib.sha256(basis.encode("utf-8")).hexdigest()[:20]


def canonical_fields(topic: Topic) -> set[str]:
    return set(RECORD_TYPES[topic].model_fields) - {"source", "fetched_at", "raw", "unmapped"}


class RecordMapper:
    """Maps one provider's records onto one topic's canonical record type."""

    def __init__(
        self,
        topic: Topic,
        source: str,
        fields: Mapping[str, str],
        *,
        values: Mapping[str, Mapping[str, str]] | None = None,
        constants: Mapping[str, Any] | None = None,
    ) -> None:
        self.topic = topic
        self.source = source
        self.fields = dict(fields)
        self._paths = [(name, compile_path(path)) for name, path in self.fields.items()]
        self.values = {name: dict(table) for name, table in (values or {}).items()}
        self.constants = dict(constants or {})
        self.model = RECORD_TYPES[topic]
        self.required = required_fields(topic)
        self._readers = {n: r for n, r in _READERS.items() if n in self.model.model_fields}

    @classmethod
    def for_connector(cls, settings: ConnectorSettings) -> RecordMapper:
        """The mapper a connector's `fields`, `values` and `constants` describe."""
        return cls(
            settings.topic,
            settings.name,
            settings.fields,
            values=settings.values,
            constants=settings.constants,
        )

    def map_record(self, raw: Mapping[str, Any], fetched_at: datetime) -> CanonicalRecord:
        if not isinstance(raw, (dict, Mapping)):
            raise MappingError(f"a record must be an object, got {type(raw).__name__}")
        data: dict[str, Any] = dict(self.constants)
        for name, segments in self._paths:
            value = _walk(raw, segments)
            if value is _MISSING or value is None:
                continue
            # made storable here, before any lookup: one poisoned name must not fail a batch
            value = storable(value) if isinstance(value, str) else storable_value(value)
            if value == "":
                continue
            table = self.values.get(name)
            if table is not None:
                value = (
                    [table.get(str(v), v) for v in value]
                    if isinstance(value, list)
                    else (table.get(str(value), value))
                )
            data[name] = value
        unmapped: dict[str, str] = {}
        for name in list(data):
            value = data[name]
            if name in self.required or not isinstance(value, str):
                continue
            if value.strip() in PLACEHOLDERS:  # "-", "无", "暂无"…: none, without a flag
                del data[name]
        for name, read in self._readers.items():
            if name not in data:
                continue
            try:
                data[name] = read(data[name])
            except (ValueError, TypeError, OverflowError):
                unmapped[name] = str(data.pop(name))[:_UNMAPPED_CHARS]
        if self.topic is Topic.SAFETY and "occurred_on" not in data:
            unmapped.setdefault("occurred_on", "")  # an accident no one can place in time
        for name, canonical in _ENUMERATED.items():
            if name in data and name in self.model.model_fields:
                value = canonical(str(data[name]).strip())
                if value is None or value.value == UNKNOWN:
                    unmapped[name] = str(data[name])
                data[name] = UNKNOWN if value is None else value.value
        if unmapped:
            data["unmapped"] = unmapped
        if self.topic is Topic.CREDIT and "record_id" not in data:
            data["record_id"] = derived_record_id(data)
        missing = sorted(self.required - data.keys())
        if missing:
            raise MappingError(f"record has no value for required field(s) {', '.join(missing)}")
        if self.topic is Topic.REGISTRATION:
            data["raw_status"] = str(data["raw_status"]).strip()
        for name in ("record_id", "credit_code", "name", "document_no"):
            if name in data and isinstance(data[name], int | float):
                data[name] = str(data[name])
        try:
            return self.model.model_validate(
                {**data, "source": self.source, "fetched_at": fetched_at, "raw": dict(raw)}
            )
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}"
                for error in exc.errors()
            )
            raise MappingError(problems) from exc

    def map_payload(
        self, payload: Any, record_path: str | None, fetched_at: datetime
    ) -> list[CanonicalRecord]:
        """The records in one answer: `record_path` leads to one record or a list of them."""
        located = extract(payload, record_path or "")
        if located is _MISSING:
            raise MappingError(f"the answer has nothing at record_path {record_path!r}")
        if located is None:
            located = []
        items = located if isinstance(located, list) else [located]
        records = [self.map_record(item, fetched_at) for item in items]
        if self.topic is Topic.REGISTRATION and len(records) != 1:
            raise MappingError(f"expected one registration record, got {len(records)}")
        return records
