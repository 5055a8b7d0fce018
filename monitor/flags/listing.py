"""`sfm flags list`: the one view staff open many times a day, kept light.

It must answer within half a second of a cold start with 100,000 flags, and
importing SQLAlchemy alone takes longer than that on this project's machines,
so this one read runs the query compiled from the models (monitor/flags/listing_query.py)
straight on the database driver: sqlite3, or psycopg for PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from monitor.codes import DISTRICTS_BY_CODE, resolve_district
from monitor.config import sqlite_file
from monitor.errors import BadInput
from monitor.i18n import Message, flag_summary, language, t, word_of
from monitor.storage.schema import check_versions
from monitor.vocabulary import RULE_IDS, FlagState, Level, Severity

NO_LIMIT = 2**62


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


def _check_choice(value: str | None, allowed: list[str], option: str, words: str) -> None:
    """Refuse a filter value that is no word of its vocabulary, listing the words staff may
    type: in Chinese (each with its recorded word) by default."""
    if value is not None and value not in allowed:
        choices = [
            f"{t(f'{words}.{word}')}（{word}）" if language() == "zh" else word for word in allowed
        ]
        raise BadInput(
            Message(
                "filter.unknown",
                option=option,
                value=value,
                choices=("、" if language() == "zh" else ", ").join(choices),
            )
        )


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
    """Flags, newest first, filtered as the CLI's options say (in the words tables print, or
    the recorded ones)."""
    state, rule = word_of("state", state), word_of("rule", rule)
    severity, level = word_of("severity", severity), word_of("level", level)
    _check_choice(state, [s.value for s in FlagState], "--state", "state")
    _check_choice(rule, list(RULE_IDS), "--rule", "rule")
    _check_choice(severity, [s.value for s in Severity], "--severity", "severity")
    _check_choice(level, [s.value for s in Level], "--level", "level")
    district_code = None
    if district:
        resolved = resolve_district(district)
        if resolved is None:
            raise BadInput(Message("district.unknown", value=district))
        district_code = resolved.code
    filters = {
        "state": state or None,
        "rule": rule or None,
        "severity": severity or None,
        "level": level or None,
        "district": district_code,
        "limit": limit or NO_LIMIT,
    }
    with _connect(database_url) as (connection, sql, own):
        cursor = connection.execute(sql, {**own, **filters})
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
                summary=flag_summary(row[9], _json(row[10])),
                first_seen_at=_utc(row[11]),
                last_seen_at=_utc(row[12]),
            )
            for row in cursor.fetchall()
        ]


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


def _utc(value: Any) -> datetime:
    # SQLite keeps naive UTC text (monitor.storage.sqltypes.UTCDateTime); PostgreSQL a timestamptz.
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@contextmanager
def _connect(database_url: str) -> Iterator[tuple[Any, str, dict[str, Any]]]:
    """A DB-API connection to a database of the current schema, with the query for its driver."""
    from monitor.flags import listing_sql

    url = database_url.split("?", 1)[0]
    if url.startswith("sqlite:///"):
        import sqlite3

        path = sqlite_file(database_url) or ":memory:"
        try:
            connection: Any = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        except sqlite3.OperationalError:  # no database file yet: refused as an empty schema
            check_versions([])
            raise
        sql, own = listing_sql.SQLITE, listing_sql.SQLITE_PARAMS
    elif url.startswith(("postgresql", "postgres")):
        import psycopg

        _scheme, rest = database_url.split("://", 1)
        connection = psycopg.connect(f"postgresql://{rest}")
        sql, own = listing_sql.POSTGRESQL, listing_sql.POSTGRESQL_PARAMS
    else:
        raise BadInput(f"unsupported database URL scheme in {database_url.split(':', 1)[0]!r}")
    try:
        try:
            rows = connection.execute("SELECT version_num FROM alembic_version").fetchall()
        except Exception:  # no alembic_version table: an empty database
            rows = []
        check_versions([row[0] for row in rows])
        yield connection, sql, own
    finally:
        connection.close()
