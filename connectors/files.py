"""The drop-folder connector: CSV/XLSX/JSON lists of accidents or penalties, read once each.

The connector only reads; which files were consumed (by content hash) is kept
by the sweep, in the same transaction as the observations the file produced,
so a crash never loses a file nor reads one twice.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from connectors.base import DroppedFile, FetchOutcome, Topic
from connectors.errors import MappingError, TableError
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
        for path in sorted(self.folder.iterdir()):
            if not path.is_file() or path.suffix.lower() not in SUFFIXES:
                continue
            data = await asyncio.to_thread(path.read_bytes)
            content_hash = hashlib.sha256(data).hexdigest()
            if content_hash in consumed:
                continue
            yield await asyncio.to_thread(self.read_file, path, data, content_hash)

    def read_file(self, path: Path, data: bytes, content_hash: str) -> DroppedFile:
        fetched_at = datetime.now(UTC)
        try:
            rows = list(self._rows(path, data))
        except (TableError, ValueError) as exc:
            return DroppedFile(path.name, content_hash, error=f"{path.name}: {exc}")
        by_code: dict[str, tuple[list[Any], list[dict[str, Any]]]] = {}
        for label, row in rows:
            try:
                record = self.mapper.map_record(row, fetched_at)
            except MappingError as exc:
                return DroppedFile(
                    path.name, content_hash, error=f"{path.name}, {label}: {exc}", rows=len(rows)
                )
            code = _normalise_code(extract(row, self.settings.fields["credit_code"]))
            records, payload = by_code.setdefault(code, ([], []))
            records.append(record)
            payload.append(row)
        outcomes = [
            FetchOutcome.found(
                self.name, code, records, {"file": path.name, "rows": payload}, fetched_at
            )
            for code, (records, payload) in by_code.items()
        ]
        return DroppedFile(path.name, content_hash, outcomes=outcomes, rows=len(rows))

    def _rows(self, path: Path, data: bytes) -> list[tuple[str, dict[str, Any]]]:
        if path.suffix.lower() == ".json":
            try:
                payload = json.loads(data.decode("utf-8-sig"))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise ValueError(f"not valid JSON: {exc}") from exc
            located = extract(payload, self.settings.record_path or "")
            if not isinstance(located, list):
                raise ValueError(f"expected a list of records at {self.settings.record_path!r}")
            return [(f"record {index}", item) for index, item in enumerate(located, start=1)]
        header, body = read_table(path, data)
        return [(f"row {number}", dict(zip(header, cells, strict=False))) for number, cells in body]

    async def aclose(self) -> None:
        return None
