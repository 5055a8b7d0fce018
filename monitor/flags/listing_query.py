"""The `flags list` query, written with the models' own tables and compiled for each driver.

`sfm flags list` runs the compiled text straight on the driver (monitor/flags/listing.py),
so it starts without SQLAlchemy. `python -m monitor.flags.listing_query` writes
that text to monitor/flags/listing_sql.py; a test fails when the two differ, so a
change to the tables cannot leave the fast read behind.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Select, Table, bindparam, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from monitor.storage.models import Factory, Flag

GENERATED = Path(__file__).with_name("listing_sql.py")
FLAG: Table = Flag.__table__  # type: ignore[attr-defined]
FACTORY: Table = Factory.__table__  # type: ignore[attr-defined]
FILTERS = {
    "state": FLAG.c.state,
    "rule": FLAG.c.rule_id,
    "severity": FLAG.c.severity,
    "level": FACTORY.c.level,
    "district": FACTORY.c.district_code,
}
COLUMNS = (
    FLAG.c.id,
    FLAG.c.rule_id,
    FLAG.c.clause,
    FLAG.c.severity,
    FLAG.c.state,
    FACTORY.c.credit_code,
    FACTORY.c.name,
    FACTORY.c.level,
    FACTORY.c.district_code,
    FLAG.c.summary_key,
    FLAG.c.summary_params,
    FLAG.c.first_seen_at,
    FLAG.c.last_seen_at,
)


def statement() -> Select[Any]:
    """Flags with their factory, newest first; each filter applies when its value is given."""
    query = select(*COLUMNS).join_from(FLAG, FACTORY, FACTORY.c.id == FLAG.c.factory_id)
    for name, column in FILTERS.items():
        given = bindparam(name, type_=column.type)
        query = query.where(or_(given.is_(None), column == given))
    return query.order_by(FLAG.c.id.desc()).limit(bindparam("limit"))


def compiled(dialect: Any) -> tuple[str, dict[str, Any]]:
    """The SQL text, and the values of the parameters the compiler added itself."""
    done = statement().compile(dialect=dialect)
    own = {k: v for k, v in done.params.items() if k not in FILTERS and k != "limit"}
    return str(done), own


def generate() -> str:
    lines = [
        '"""Generated from the models by `python -m monitor.flags.listing_query`."""',
        "",
    ]
    for name, dialect in (
        ("SQLITE", sqlite.dialect(paramstyle="named")),
        ("POSTGRESQL", postgresql.psycopg.dialect()),
    ):
        sql, own = compiled(dialect)
        lines += [f"{name} = {sql!r}", f"{name}_PARAMS: dict[str, object] = {own!r}"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    GENERATED.write_text(generate(), encoding="utf-8")
    print(f"wrote {GENERATED}")
