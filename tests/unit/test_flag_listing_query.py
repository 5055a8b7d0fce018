"""`flags list` runs SQL compiled from the models, never a hand-kept copy of the schema."""

from monitor.flags import listing_query
from monitor.storage.models import Flag
from monitor.storage.schema import check_versions, revisions, schema_head
from monitor.vocabulary import FlagState, sql_in


def test_the_fast_read_is_the_query_compiled_from_the_models_today() -> None:
    # If this fails, the tables changed: run `python -m monitor.flags.listing_query`.
    assert listing_query.GENERATED.read_text(encoding="utf-8") == listing_query.generate()


def test_the_check_constraints_admit_exactly_the_vocabulary() -> None:
    table = Flag.__table__  # type: ignore[attr-defined]
    constraints = {c.name: str(c.sqltext) for c in table.constraints if hasattr(c, "sqltext")}
    assert constraints["ck_flag_state"] == sql_in("state", FlagState)
    assert sql_in("state", FlagState) == (
        "state IN ('open', 'confirmed', 'dismissed', 'resolved', 'cleared')"
    )


def test_the_schema_head_is_read_from_the_migration_files() -> None:
    head = schema_head()
    assert head in revisions() and head not in {parent for parent in revisions().values()}
    check_versions([head])  # the current schema passes
