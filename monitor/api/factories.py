"""/factories: the register of designated factories, its import, and the decisions the
bureau records on a designation (rename, revocation, a move inside Beijing)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from monitor.api.routes import Call, Routes
from monitor.codes import DISTRICTS_BY_CODE
from monitor.errors import BadInput
from monitor.i18n import Message

if TYPE_CHECKING:
    from monitor.storage.models import Designation, DesignationEvent, Factory

routes = Routes()

# the name an uploaded file keeps when its own is missing or unusable
UPLOAD_NAME = "upload"


def factory_json(factory: Factory) -> dict[str, Any]:
    district = DISTRICTS_BY_CODE.get(factory.district_code)
    return {
        "credit_code": factory.credit_code,
        "name": factory.name,
        "level": factory.level,
        "district_code": factory.district_code,
        "district": district.name if district else None,
        "designated_on": factory.designated_on,
        "registered_address": factory.registered_address,
        "status": factory.status,
        "revoked_on": factory.revoked_on,
    }


def designation_json(designation: Designation) -> dict[str, Any]:
    return {
        "level": designation.level,
        "factory": designation.name or None,
        "district_code": designation.district_code,
        "designated_on": designation.designated_on,
        "reference": designation.reference,
        "status": designation.status,
        "revoked_on": designation.revoked_on,
    }


def event_json(event: DesignationEvent) -> dict[str, Any]:
    return {
        "kind": event.kind,
        "occurred_on": event.occurred_on,
        "recorded_at": event.recorded_at.isoformat(),
        "actor": event.actor,
        "reference": event.reference,
        "reason": event.reason,
        "source": event.source,
        "details": event.details,
    }


@routes.get("/factories", reader=True)
def list_factories(call: Call) -> list[dict[str, Any]]:
    """The register, by district then credit code, filtered by district and level (code,
    name or pinyin; basic/advanced or 基础级/先进级); `limit` and `offset` page through it."""
    from monitor.register.store import list_factories as listed

    factories = listed(
        call.runtime.engine,
        district=call.text("district"),
        level=call.text("level"),
        **call.page(),
    )
    return [factory_json(factory) for factory in factories]


@routes.get("/factories/{code}", reader=True)
def show_factory(call: Call) -> dict[str, Any]:
    """One enterprise, the designations it holds or held, and every event of its register."""
    from monitor.register.store import designations_of, factory_history

    engine, accept = call.runtime.engine, call.runtime.accept_codes
    factory, events = factory_history(engine, call.args["code"], accept_codes=accept)
    held = designations_of(engine, factory.credit_code, accept_codes=accept)
    return (
        factory_json(factory)
        | {"designations": [designation_json(each) for each in held]}
        | {"events": [event_json(each) for each in events]}
    )


@routes.post("/factories/import", upload=True)
def import_factories(call: Call) -> dict[str, Any]:
    """The uploaded register file (CSV or XLSX), all or nothing; `dry_run` writes nothing.
    `filename` is the file's name on the caller's side: it decides the format and names the
    file, row and column in every message."""
    from monitor.register.store import import_factories as imported

    operator = call.operator  # refused before the file is read
    assert call.upload is not None  # the transport saved the body
    with _named(call.upload, call.text("filename", UPLOAD_NAME) or UPLOAD_NAME) as path:
        report = imported(
            call.runtime.engine,
            path,
            operator=operator,
            accept_codes=call.runtime.accept_codes,
            dry_run=call.flag("dry_run"),
        )
    return report.as_json()


@contextmanager
def _named(upload: Path, filename: str) -> Iterator[Path]:
    """The upload under the caller's file name, in a private folder of its own, removed
    after: the name alone is taken from the caller, never a folder."""
    name = Path(filename.replace("\\", "/")).name.replace("\0", "")
    if name in ("", ".", "..") or len(name.encode()) > 255:
        name = UPLOAD_NAME + Path(name).suffix[:16]
    folder = Path(tempfile.mkdtemp(prefix="sfm-import-", dir=upload.parent))
    try:
        path = folder / name
        os.replace(upload, path)
        yield path
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@routes.post("/factories/{code}/rename")
def rename(call: Call) -> dict[str, Any]:
    """The bureau's approval of a name change: {"name", "approved_on", "ref"}. Answers the
    factory as now registered, and `former_name`."""
    from monitor.decisions import rename_factory

    factory, former = rename_factory(
        call.runtime.engine,
        call.args["code"],
        new_name=_text(call, "name"),
        approved_on=_date(call, "approved_on", "--approved-on"),
        reference=_text(call, "ref") or None,
        operator=call.operator,
        outbox=call.runtime.alerting.outbox,
        accept_codes=call.runtime.accept_codes,
    )
    return factory_json(factory) | {"former_name": former}


@routes.post("/factories/{code}/revoke")
def revoke(call: Call) -> dict[str, Any]:
    """The revocation of a designation (Article 12): {"decided_on", "ref", "reason"}."""
    from monitor.decisions import revoke_factory

    factory = revoke_factory(
        call.runtime.engine,
        call.args["code"],
        decided_on=_date(call, "decided_on", "--decided-on"),
        reference=_text(call, "ref"),
        reason=_text(call, "reason"),
        operator=call.operator,
        outbox=call.runtime.alerting.outbox,
        accept_codes=call.runtime.accept_codes,
    )
    return factory_json(factory)


@routes.post("/factories/{code}/move")
def move(call: Call) -> dict[str, Any]:
    """A move inside Beijing (Article 4): {"district", "decided_on", "ref"}. Answers the
    factory as now registered, and `former_districts` (the codes it left)."""
    from monitor.decisions import move_factory

    factory, former = move_factory(
        call.runtime.engine,
        call.args["code"],
        district=_text(call, "district"),
        decided_on=_date(call, "decided_on", "--decided-on"),
        reference=_text(call, "ref") or None,
        operator=call.operator,
        outbox=call.runtime.alerting.outbox,
        accept_codes=call.runtime.accept_codes,
    )
    return factory_json(factory) | {"former_districts": former}


def _text(call: Call, name: str) -> str:
    """A text field of the body; a blank one is refused by the decision, naming its option."""
    value = call.field(name, required=False)
    return "" if value is None else str(value)


def _date(call: Call, name: str, option: str) -> date:
    """A date as staff type it (2026-05-01, 2026/5/1, 2026年5月1日), parsed here so every
    client reads dates alike; a bad or missing one names the command line's option."""
    from monitor.register.parse import parse_date

    value = _text(call, name)
    try:
        return parse_date(value)
    except ValueError as exc:
        raise BadInput(f"{option}: " + str(Message("date.invalid", value=value))) from exc
