"""Spreadsheets as Beijing's bureaus exchange them: CSV (UTF-8, BOM, GB18030) and XLSX."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

from connectors.errors import TableError

TABLE_SUFFIXES = (".csv", ".xlsx", ".xlsm")


def decode_text(data: bytes) -> str:
    # utf-8-sig reads UTF-8 with or without BOM; Excel on Chinese Windows writes GB18030.
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise TableError("encoding")


def cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def read_table(
    path: Path, data: bytes | None = None
) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """The header and the (spreadsheet row number, cell texts) of every non-blank row."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            text = decode_text(path.read_bytes() if data is None else data)
            rows: Sequence[Sequence[Any]] = list(csv.reader(io.StringIO(text, newline="")))
        elif suffix in (".xlsx", ".xlsm"):
            from openpyxl import load_workbook

            source = path if data is None else io.BytesIO(data)
            workbook = load_workbook(source, read_only=True, data_only=True)
            try:
                rows = [tuple(row) for row in workbook.worksheets[0].iter_rows(values_only=True)]
            finally:
                workbook.close()
        else:
            raise TableError("format", suffix)
    except TableError:
        raise
    except zipfile.BadZipFile as exc:  # an .xlsx is a zip archive; this one is not
        raise TableError("not_xlsx", f"{path.name}: {exc}") from exc
    except (OSError, csv.Error, ValueError, KeyError, IndexError) as exc:
        raise TableError("unreadable", f"{type(exc).__name__}: {exc}") from exc

    header = [cell_text(cell) for cell in rows[0]] if rows else []

    def body() -> Iterator[tuple[int, list[str]]]:
        for number, cells in enumerate(rows[1:], start=2):
            texts = [cell_text(cell) for cell in cells]
            if any(texts):
                yield number, texts

    return header, body()
