"""The drop-folder connector: CSV/XLSX/JSON lists of accidents or penalties, read once each.

The connector only reads; which files were consumed (by content hash) is kept
by the sweep, in the same transaction as the observations the file produced,
so a crash never loses a file nor reads one twice.

Whatever lands in the folder is someone else's: a file over `max_file_bytes` or
`max_file_rows` is refused whole, a symlink leading out of the folder is refused
unread, and a name that is not UTF-8 (a GBK name from a Windows share) is shown
as best it can be. Each refusal is reported once, as a rejected file.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from connectors.base import DroppedFile, FetchOutcome, Topic
from connectors.bounds import check_within
from connectors.errors import MappingError, OverLimit, TableError
from connectors.mapping import RecordMapper, extract
from connectors.settings import ConnectorSettings
from connectors.tables import TABLE_SUFFIXES, read_table

SUFFIXES = (*TABLE_SUFFIXES, ".json")


def _normalise_code(value: Any) -> str:
    return "".join(str(value).split()).upper()


class FilesConnector:
    def __init__(
        self,
        settings: ConnectorSettings,
        *,
        folder: Path,
    ) -> None:
        self.settings = settings
        self.name = settings.name
        self.topic: Topic = settings.topic
        self.folder = folder
        self.mapper = RecordMapper.for_connector(settings)

    async def new_files(self, consumed: set[str]) -> AsyncIterator[DroppedFile]:
        if not self.folder.is_dir():
            raise FileNotFoundError(f"drop folder {self.folder} does not exist")
        inside = self.folder.resolve()
        for path in sorted(self.folder.iterdir()):
            if path.suffix.lower() not in SUFFIXES:
                continue
            name = shown_name(path)
            target = path.resolve()
            if not target.is_relative_to(inside):
                refusal = _refusal(name, f"a link to {target}, outside the drop folder")
                if refusal.content_hash not in consumed:
                    yield refusal
                continue
            if not target.is_file():
                continue
            size = target.stat().st_size
            if size > self.settings.max_file_bytes:
                limit = self.settings.max_file_bytes
                refusal = _refusal(name, f"{size} bytes, over the limit of {limit}", size)
                if refusal.content_hash not in consumed:
                    yield refusal
                continue
            data = await asyncio.to_thread(target.read_bytes)
            content_hash = hashlib.sha256(data).hexdigest()
            if content_hash in consumed:
                continue
            yield await asyncio.to_thread(self.read_file, path, data, content_hash)

    def read_file(self, path: Path, data: bytes, content_hash: str) -> DroppedFile:
        fetched_at = datetime.now(UTC)
        name = shown_name(path)
        try:
            rows = self._rows(path, data)
        except (TableError, ValueError) as exc:
            return DroppedFile(name, content_hash, error=f"{name}: {exc}")
        by_code: dict[str, tuple[list[Any], list[dict[str, Any]]]] = {}
        for label, row in rows:
            try:
                record = self.mapper.map_record(row, fetched_at)
            except MappingError as exc:
                return DroppedFile(
                    name, content_hash, error=f"{name}, {label}: {exc}", rows=len(rows)
                )
            code = _normalise_code(extract(row, self.settings.fields["credit_code"]))
            records, payload = by_code.setdefault(code, ([], []))
            records.append(record)
            payload.append(row)
        outcomes = [
            FetchOutcome.found(
                self.name, code, records, {"file": name, "rows": payload}, fetched_at
            )
            for code, (records, payload) in by_code.items()
        ]
        return DroppedFile(name, content_hash, outcomes=outcomes, rows=len(rows))

    def _rows(self, path: Path, data: bytes) -> list[tuple[str, dict[str, Any]]]:
        """The file's records, or ValueError: unreadable, over a bound, not a list."""
        limit, chars = self.settings.max_file_rows, self.settings.max_field_chars
        if path.suffix.lower() == ".json":
            try:
                payload = json.loads(data.decode("utf-8-sig"))
                check_within(payload, max_depth=self.settings.max_json_depth, max_chars=chars)
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise ValueError(f"not valid JSON: {exc}") from exc
            except RecursionError:
                raise OverLimit("JSON nested too deep") from None
            located = extract(payload, self.settings.record_path or "")
            if not isinstance(located, list):
                raise ValueError(f"expected a list of records at {self.settings.record_path!r}")
            if len(located) > limit:
                raise OverLimit(f"over {limit} records")
            return [(f"record {index}", item) for index, item in enumerate(located, start=1)]
        header, body = read_table(path, data)
        rows: list[tuple[str, dict[str, Any]]] = []
        for number, cells in body:
            if len(rows) == limit:
                raise OverLimit(f"over {limit} rows")
            if any(len(cell) > chars for cell in cells):
                raise OverLimit(f"row {number}: a cell over {chars} characters")
            rows.append((f"row {number}", dict(zip(header, cells, strict=False))))
        return rows

    async def aclose(self) -> None:
        return None


def shown_name(path: Path) -> str:
    """A file's name as text: its bytes as UTF-8, else as GB18030 (a Windows share's
    names), else with what cannot be read replaced."""
    raw = os.fsencode(path.name)
    for encoding in ("utf-8", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return raw.decode("utf-8", "replace")


def _refusal(name: str, why: str, size: int = 0) -> DroppedFile:
    """A file refused unread, keyed by what it is (so it is reported once, not every sweep)."""
    key = hashlib.sha256(f"refused|{name}|{why}|{size}".encode()).hexdigest()
    return DroppedFile(name, key, error=f"{name}: {why}")
