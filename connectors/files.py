"""The drop-folder connector: CSV/XLSX/JSON lists of accidents or penalties, read once each.

The connector only reads; which files were consumed (by content hash) is kept
by the sweep, in the same transaction as the observations the file produced,
so a crash never loses a file nor reads one twice.

Whatever lands in the folder is someone else's: a file over `max_file_bytes` or
`max_file_rows` is refused whole, a symlink leading out of the folder is refused
unread, and a name that is not UTF-8 (a GBK name from a Windows share) is shown
as best it can be. Each refusal is reported once, as a rejected file. A file is
opened once, without following links, and read from that descriptor no further
than `max_file_bytes` + 1: a file that grows after its size was checked is refused
as oversize, never read whole.

A row is the factory its credit code names, once that code passes its check
character: a row whose code fails is reported with the file and row and
attached to no factory; the file's other rows are read.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import json
import os
import stat
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from connectors.base import DroppedFile, FetchOutcome, Topic
from connectors.bounds import check_within, loads
from connectors.codes import code_problem, fold_code, read_code
from connectors.errors import MappingError, OverLimit, TableError
from connectors.mapping import RecordMapper, extract
from connectors.settings import ConnectorSettings
from connectors.tables import TABLE_SUFFIXES, read_table
from connectors.text import storable, visible

log = structlog.get_logger("sfm.connectors.files")

SUFFIXES = (*TABLE_SUFFIXES, ".json")

# Where the platform has them: a link is not followed when the file is opened (the
# one checked is the one read), and a FIFO named x.csv does not block the open.
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
_READ_CHUNK = 1 << 20


class FilesConnector:
    def __init__(
        self,
        settings: ConnectorSettings,
        *,
        folder: Path,
        accept_codes: Iterable[str] = (),
    ) -> None:
        self.settings = settings
        self.name = settings.name
        self.topic: Topic = settings.topic
        self.folder = folder
        self.mapper = RecordMapper.for_connector(settings)
        # codes real registries carry despite a bad check character ([codes] accept)
        self.accept_codes = tuple(accept_codes)

    async def new_files(self, consumed: set[str]) -> AsyncIterator[DroppedFile]:
        if not self.folder.is_dir():
            raise FileNotFoundError(f"drop folder {self.folder} does not exist")
        inside = self.folder.resolve()
        for path in sorted(self.folder.iterdir()):
            if path.suffix.lower() not in SUFFIXES:
                continue
            read = await asyncio.to_thread(self._read_bounded, path, inside)
            if read is None:
                continue
            if isinstance(read, DroppedFile):  # refused unread, or read past its bound
                if read.content_hash not in consumed:
                    yield read
                continue
            content_hash = hashlib.sha256(read).hexdigest()
            if content_hash in consumed:
                continue
            yield await asyncio.to_thread(self.read_file, path, read, content_hash)

    def _read_bounded(self, path: Path, inside: Path) -> bytes | DroppedFile | None:
        """The file's bytes, read from the one descriptor whose size was checked; a refusal
        (a link out of the folder, over max_file_bytes, grown past it while read); None for
        what is not a regular file or has gone."""
        name = shown_name(path)
        target = path.resolve()
        if not target.is_relative_to(inside):
            return _refusal(name, f"a link to {visible(str(target))}, outside the drop folder")
        try:
            descriptor = os.open(target, _OPEN_FLAGS)
        except FileNotFoundError:
            return None
        except OSError as exc:
            if exc.errno == errno.ELOOP:  # made a link after it was resolved
                return _refusal(name, "replaced by a link while being read")
            return _refusal(name, f"cannot be opened: {exc.strerror}")
        try:
            status = os.fstat(descriptor)
            if not stat.S_ISREG(status.st_mode):
                return None
            limit = self.settings.max_file_bytes
            if status.st_size > limit:
                return _oversize(name, status.st_size, limit)
            chunks: list[bytes] = []
            left = limit + 1  # one byte more than allowed tells a file that grew
            while left > 0:
                chunk = os.read(descriptor, min(left, _READ_CHUNK))
                if not chunk:
                    break
                chunks.append(chunk)
                left -= len(chunk)
            if left <= 0:
                return _oversize(name, max(os.fstat(descriptor).st_size, limit + 1), limit)
            return b"".join(chunks)
        finally:
            os.close(descriptor)

    def read_file(self, path: Path, data: bytes, content_hash: str) -> DroppedFile:
        fetched_at = datetime.now(UTC)
        name = shown_name(path)
        try:
            rows = self._rows(path, data)
        except (TableError, ValueError) as exc:
            return DroppedFile(name, content_hash, error=f"{name}: {exc}")
        except Exception as exc:  # a reader's own failure on a hostile file: that file only
            return DroppedFile(name, content_hash, error=f"{name}: {type(exc).__name__}: {exc}")
        by_code: dict[str, tuple[list[Any], list[dict[str, Any]]]] = {}
        folded: Counter[str] = Counter()
        rejected: list[str] = []
        code_path = self.settings.fields["credit_code"]
        for label, row in rows:
            # a row is the factory its credit code names, once that code passes its check
            written = extract(row, code_path) if isinstance(row, dict) else None
            written_text = storable(str(written)) if isinstance(written, str | int) else ""
            code = read_code(written_text)
            problem = code_problem(code, accept=self.accept_codes)
            if problem is not None:
                rejected.append(visible(f"{name}, {label}: {problem}"))
                continue
            try:
                record = self.mapper.map_record(row, fetched_at)
            except Exception as exc:  # MappingError, or anything else one row makes happen
                why = str(exc) if isinstance(exc, MappingError) else f"{type(exc).__name__}: {exc}"
                return DroppedFile(
                    name, content_hash, error=visible(f"{name}, {label}: {why}"), rows=len(rows)
                )
            if getattr(record, "credit_code", None) != code:
                if fold_code(written_text) == code:  # full-width look-alikes: the same code
                    folded[code] += 1
                record = record.model_copy(update={"credit_code": code})
            records, payload = by_code.setdefault(code, ([], []))
            records.append(record)
            payload.append(row)
        for code, count in folded.items():
            log.info(
                "credit code matched after NFKC",
                connector=self.name,
                credit_code=code,
                file=name,
                rows=count,
            )
        for why in rejected:
            log.warning("row attached to no factory", connector=self.name, file=name, detail=why)
        outcomes = [
            replace(
                FetchOutcome.found(
                    self.name, code, records, {"file": name, "rows": payload}, fetched_at
                ),
                codes_folded=folded[code],
            )
            for code, (records, payload) in by_code.items()
        ]
        return DroppedFile(
            name, content_hash, outcomes=outcomes, rows=len(rows), rejected_rows=tuple(rejected)
        )

    def _rows(self, path: Path, data: bytes) -> list[tuple[str, dict[str, Any]]]:
        """The file's records, or ValueError: unreadable, over a bound, not a list."""
        limit, chars = self.settings.max_file_rows, self.settings.max_field_chars
        if path.suffix.lower() == ".json":
            try:
                payload = loads(data.decode("utf-8-sig"))
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
    names), else with what cannot be read replaced; invisible characters written out."""
    raw = os.fsencode(path.name)
    for encoding in ("utf-8", "gb18030"):
        try:
            return visible(raw.decode(encoding))
        except UnicodeDecodeError:
            continue
    return visible(raw.decode("utf-8", "replace"))


def _oversize(name: str, size: int, limit: int) -> DroppedFile:
    return _refusal(name, f"{size} bytes, over the limit of {limit}", size)


def _refusal(name: str, why: str, size: int = 0) -> DroppedFile:
    """A file refused unread, keyed by what it is (so it is reported once, not every sweep)."""
    key = hashlib.sha256(f"refused|{name}|{why}|{size}".encode()).hexdigest()
    return DroppedFile(name, key, error=f"{name}: {why}")
