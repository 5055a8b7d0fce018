"""`sfm flags list`: the one view staff open many times a day, kept light.

It must answer within half a second of a cold start with 100,000 flags, and
importing SQLAlchemy alone takes a third of that on this project's machines,
so this one read goes straight to the database driver (sqlite3, or psycopg
for PostgreSQL) with plain SQL: no SQLAlchemy, no ORM, no rules, no structlog.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from monitor.codes import DISTRICTS_BY_CODE, resolve_district
from monitor.errors import BadInput
from monitor.i18n import CATALOG, Message, t

STATES = ("open", "confirmed", "dismissed", "resolved", "cleared")
SEVERITIES = ("revocation", "review", "action")
LEVELS = ("basic", "advanced")


@dataclass(frozen=True)
class FlagRow:
    id: int
    rule_id: str
    clause: str
    severity: str
    state: str
    credit_code: str
    name: str
    level: str
    district_code: str
    summary: str
    first_seen_at: datetime
    last_seen_at: datetime

    def as_json(self) -> dict[str, Any]:
        district = DISTRICTS_BY_CODE.get(self.district_code)
        return {
            "id": self.id,
            "rule_id": self.rule_id,
            "clause": self.clause,
            "severity": self.severity,
            "state": self.state,
            "credit_code": self.credit_code,
            "name": self.name,
            "level": self.level,
            "district_code": self.district_code,
            "district": district.name if district else None,
            "summary": self.summary,
            "first_seen_at": self.first_seen_at.isoformat(),
            "last_seen_at": self.last_seen_at.isoformat(),
        }


def summary_text(key: str, params: dict[str, Any]) -> str:
    """A flag's summary in the reader's language, its coded values spelled out."""
    shown = {
        name: t(f"{name}.{value}") if f"{name}.{value}" in CATALOG else value
        for name, value in params.items()
    }
    try:
        return str(Message(key, **shown))
    except (KeyError, IndexError):  # a message whose parameters changed since it was stored
        return key


def _check_choice(value: str | None, allowed: list[str], option: str) -> None:
    if value is not None and value not in allowed:
        raise BadInput(f"{option}: unknown value {value!r} (one of: {', '.join(allowed)})")


_QUERY = """
SELECT flag.id, flag.rule_id, flag.clause, flag.severity, flag.state, factory.credit_code,
       factory.name, factory.level, factory.district_code, flag.summary_key,
       flag.summary_params, flag.first_seen_at, flag.last_seen_at
FROM flag JOIN factory ON factory.id = flag.factory_id
WHERE {conditions}
ORDER BY flag.id DESC
"""


def list_flags(
    database_url: str,
    *,
    state: str | None = None,
    rule: str | None = None,
    district: str | None = None,
    level: str | None = None,
    severity: str | None = None,
    limit: int | None = 100,
) -> list[FlagRow]:
    """Flags, newest first, filtered as the CLI's options say."""
    from monitor.rules.policy import RULE_IDS

    _check_choice(state, list(STATES), "--state")
    _check_choice(rule, list(RULE_IDS), "--rule")
    _check_choice(severity, list(SEVERITIES), "--severity")
    _check_choice(level, list(LEVELS), "--level")
    conditions = ["1 = 1"]
    params: dict[str, Any] = {}
    for column, value in (
        ("flag.state", state),
        ("flag.rule_id", rule),
        ("flag.severity", severity),
        ("factory.level", level),
    ):
        if value:
            name = column.replace(".", "_")
            conditions.append(f"{column} = :{name}")
            params[name] = value
    if district:
        resolved = resolve_district(district)
        if resolved is None:
            raise BadInput(Message("district.unknown", value=district))
        conditions.append("factory.district_code = :district")
        params["district"] = resolved.code
    sql = _QUERY.format(conditions=" AND ".join(conditions))
    if limit:
        sql += " LIMIT :limit"
        params["limit"] = limit
    with _connect(database_url) as (connection, named):
        cursor = connection.execute(named(sql), params)
        return [
            FlagRow(
                id=row[0],
                rule_id=row[1],
                clause=row[2],
                severity=row[3],
                state=row[4],
                credit_code=row[5],
                name=row[6],
                level=row[7],
                district_code=row[8],
                summary=summary_text(row[9], _json(row[10])),
                first_seen_at=_utc(row[11]),
                last_seen_at=_utc(row[12]),
            )
            for row in cursor.fetchall()
        ]


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


def _utc(value: Any) -> datetime:
    # SQLite keeps naive UTC text (see monitor.sqltypes.UTCDateTime); PostgreSQL a timestamptz.
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@contextmanager
def _connect(database_url: str) -> Iterator[tuple[Any, Callable[[str], str]]]:
    """A DB-API connection for the configured database, after checking its schema."""
    from monitor.errors import Refused
    from monitor.schema import SCHEMA_HEAD

    url = database_url.split("?", 1)
    if database_url.startswith("sqlite:///"):
        import sqlite3

        path = url[0].removeprefix("sqlite:///")
        try:
            connection: Any = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        except sqlite3.OperationalError as exc:  # no database file yet
            raise Refused(Message("db.behind", current="(empty)", head=SCHEMA_HEAD)) from exc

        def named(sql: str) -> str:
            return sql  # sqlite3 takes :name as it is
    elif database_url.startswith(("postgresql", "postgres")):
        import psycopg

        _scheme, rest = database_url.split("://", 1)
        connection = psycopg.connect(f"postgresql://{rest}")

        def named(sql: str) -> str:
            return re.sub(r":(\w+)", r"%(\1)s", sql)
    else:
        raise BadInput(f"unsupported database URL scheme in {database_url.split(':', 1)[0]!r}")
    try:
        try:
            versions = [
                row[0]
                for row in connection.execute("SELECT version_num FROM alembic_version").fetchall()
            ]
        except Exception:  # no alembic_version table: an empty database
            versions = []
        if versions != [SCHEMA_HEAD]:
            raise Refused(
                Message("db.behind", current=", ".join(versions) or "(empty)", head=SCHEMA_HEAD)
            )
        yield connection, named
    finally:
        connection.close()
