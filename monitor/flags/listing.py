"""`sfm flags list`: the one view staff open many times a day, a page at a time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Engine, Integer, String, column, select, table

from monitor.codes import DISTRICTS_BY_CODE, resolve_district
from monitor.errors import BadInput
from monitor.i18n import Message, flag_summary, language, t, word_of
from monitor.storage.sqltypes import UTCDateTime
from monitor.vocabulary import RULE_IDS, FlagState, Level, Severity

# The columns the listing reads, in SQLAlchemy Core: without a daemon, `sfm flags list`
# starts without the ORM, SQLModel and the models (about 0.2 s of its 0.6 s); their types
# are the models' (tests/unit/test_listing_columns.py holds them to it).
FLAG = table(
    "flag",
    column("id", Integer),
    column("rule_id", String),
    column("clause", String),
    column("severity", String),
    column("state", String),
    column("factory_id", Integer),
    column("summary_key", String),
    column("summary_params", JSON),
    column("first_seen_at", UTCDateTime),
    column("last_seen_at", UTCDateTime),
)
FACTORY = table(
    "factory",
    column("id", Integer),
    column("credit_code", String),
    column("name", String),
    column("level", String),
    column("district_code", String),
)


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
    engine: Engine,
    *,
    state: str | None = None,
    rule: str | None = None,
    district: str | None = None,
    level: str | None = None,
    severity: str | None = None,
    limit: int | None = 100,
    offset: int = 0,
) -> list[FlagRow]:
    """Flags, newest first, filtered as staff's options say (in the words tables print, or
    the recorded ones)."""
    state, rule = word_of("state", state), word_of("rule", rule)
    severity, level = word_of("severity", severity), word_of("level", level)
    _check_choice(state, [s.value for s in FlagState], "--state", "state")
    _check_choice(rule, list(RULE_IDS), "--rule", "rule")
    _check_choice(severity, [s.value for s in Severity], "--severity", "severity")
    _check_choice(level, [s.value for s in Level], "--level", "level")
    flag, factory = FLAG.c, FACTORY.c
    query = select(
        flag.id,
        flag.rule_id,
        flag.clause,
        flag.severity,
        flag.state,
        factory.credit_code,
        factory.name,
        factory.level,
        factory.district_code,
        flag.summary_key,
        flag.summary_params,
        flag.first_seen_at,
        flag.last_seen_at,
    ).join_from(FLAG, FACTORY, factory.id == flag.factory_id)
    if district:
        resolved = resolve_district(district)
        if resolved is None:
            raise BadInput(Message("district.unknown", value=district))
        query = query.where(factory.district_code == resolved.code)
    for filtered, value in (
        (flag.state, state),
        (flag.rule_id, rule),
        (flag.severity, severity),
        (factory.level, level),
    ):
        if value:
            query = query.where(filtered == value)
    query = query.order_by(flag.id.desc()).limit(limit).offset(offset)
    with engine.connect() as connection:
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
                summary=flag_summary(row[9], row[10]),
                first_seen_at=row[11],
                last_seen_at=row[12],
            )
            for row in connection.execute(query)
        ]
