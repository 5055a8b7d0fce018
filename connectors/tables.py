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


# Excel on mainland Windows saves CSV as GB18030 (GBK); files from Hong Kong, Macao or
# Taiwan partners come as Big5. GB18030 decodes nearly any bytes, Big5 included, into
# mojibake, so the choice between them is charset-normalizer's, never "whatever decodes".
LEGACY_ENCODINGS = ("gb18030", "big5")


def decode_text(data: bytes) -> str:
    """The text of a CSV: UTF-8 (with or without BOM), else the one legacy Chinese
    encoding charset-normalizer finds coherent; refused (naming the candidates) when it
    finds none, or cannot choose."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    candidates = [match.encoding for match in from_bytes(data, cp_isolation=list(LEGACY_ENCODINGS))]
    if len(candidates) != 1:
        raise TableError("encoding", ", ".join(candidates))
    return data.decode(candidates[0])


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
