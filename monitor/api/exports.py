"""/exports: spreadsheets for officials, written here into a private folder and sent as the
answer's body; the client writes its own file with its own permissions."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from monitor.api.routes import Call, Download, Routes
from monitor.errors import BadInput
from monitor.i18n import Message, t

routes = Routes()


@routes.get("/exports/flags")
def flags(call: Call) -> Download:
    """Every flag (`format`: csv or xlsx); headers in the caller's language."""
    from monitor.reports import export_flags

    fmt = _format(call)
    return _written(f"flags.{fmt}", lambda path: export_flags(call.runtime.engine, path, fmt))


@routes.get("/exports/filings")
def filings(call: Call) -> Download:
    """Article 6: the basic-level filings of `quarter` (2026Q4), of one `district` (code or
    name) or all, their open flags and decisions (`format`: csv or xlsx)."""
    from monitor.calendar import Quarter
    from monitor.codes import resolve_district
    from monitor.reports import export_filings

    fmt = _format(call)
    try:
        quarter = Quarter.parse(call.text("quarter") or "")
    except ValueError as exc:
        raise BadInput(Message("quarter.invalid", value=call.text("quarter") or "")) from exc
    district = call.text("district")
    code = None
    if district is not None:
        found = resolve_district(district)
        if found is None:
            raise BadInput("--district: " + t("district.unknown", value=district))
        code = found.code
    return _written(
        f"filings-{quarter.year}Q{quarter.number}.{fmt}",
        lambda path: export_filings(call.runtime.engine, path, fmt, quarter, code),
    )


def _format(call: Call) -> str:
    from monitor.reports import check_format

    fmt = call.text("format")
    if fmt is None:
        raise BadInput(Message("api.missing_field", name="format"))
    check_format(fmt)
    return fmt


def _written(filename: str, write: Callable[[Path], int]) -> Download:
    """`write` into a folder only this process's user can enter; removed once sent."""
    folder = Path(tempfile.mkdtemp(prefix="sfm-export-"))
    try:
        path = folder / filename
        count = write(path)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return Download(
        path, filename, {"count": count}, cleanup=lambda: shutil.rmtree(folder, ignore_errors=True)
    )
