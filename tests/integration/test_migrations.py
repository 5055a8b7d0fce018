"""The migrations produce exactly the tables the models describe, on both databases."""

import importlib
import json
from datetime import UTC, date, datetime

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text
from sqlmodel import SQLModel

from monitor.storage import db
from monitor.storage.schema import schema_head


def test_migrations_match_the_models(engine: Engine) -> None:
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), SQLModel.metadata) == []
    assert db.current_revision(engine) == db.head_revision()


def test_upgrade_is_idempotent(engine: Engine) -> None:
    assert db.upgrade(engine) == (db.head_revision(), db.head_revision())
    assert {"factory", "designation_event"} <= set(inspect(engine).get_table_names())


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine = db.make_engine(f"sqlite:///{tmp_path / 'var' / 'sfm.db'}")
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_the_schema_head_every_command_checks_is_the_newest_migration() -> None:
    assert schema_head() == db.head_revision()


def _stored_records(engine: Engine) -> list[dict[str, object]]:
    with engine.connect() as connection:
        stored = connection.execute(text("SELECT records FROM observation")).scalar_one()
    return json.loads(stored) if isinstance(stored, str) else stored


def test_registration_records_stored_with_a_mapped_status_keep_only_the_providers_text(
    engine: Engine,
) -> None:
    config = db._alembic_config(engine)
    command.downgrade(config, "0005_daemon")
    record = {"credit_code": "91110000600037341L", "raw_status": "注销", "status": "deregistered"}
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO factory (credit_code, name, level, district_code, designated_on,"
                " status, created_at, updated_at) VALUES ('91110000600037341L', 'x', 'basic',"
                " '110108', '2025-06-01', 'active', '2026-11-25 00:00:00+00',"
                " '2026-11-25 00:00:00+00')"
            )
        )
        connection.execute(
            text(
                "INSERT INTO observation (factory_id, connector, topic, outcome, payload_hash,"
                " records, fetched_at, last_checked_at) VALUES (1, 'registry', 'registration',"
                " 'found', 'h', :records, '2026-11-25 00:00:00+00', '2026-11-25 00:00:00+00')"
            ),
            {"records": json.dumps([record], ensure_ascii=False)},
        )
    command.upgrade(config, "head")
    assert _stored_records(engine) == [{"credit_code": "91110000600037341L", "raw_status": "注销"}]
    command.downgrade(config, "0005_daemon")
    assert _stored_records(engine) == [record]
    command.upgrade(config, "head")


def test_each_factory_registered_before_designations_became_one_designation(
    engine: Engine,
) -> None:
    config = db._alembic_config(engine)
    command.downgrade(config, "0006_provider_status")
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO factory (credit_code, name, level, district_code, designated_on,"
                " status, revoked_on, created_at, updated_at) VALUES ('91110000600037341L', 'x',"
                " 'advanced', '110108', '2025-06-30', 'revoked', '2026-04-01',"
                " '2026-11-25 00:00:00+00', '2026-11-25 00:00:00+00')"
            )
        )
    command.upgrade(config, "head")
    with engine.connect() as connection:
        carried = connection.execute(
            text(
                "SELECT name, level, district_code, designated_on, status, revoked_on"
                " FROM designation"
            )
        ).one()
    assert [str(value) for value in carried] == [
        "",
        "advanced",
        "110108",
        "2025-06-30",
        "revoked",
        "2026-04-01",
    ]


def test_the_database_refuses_a_flag_under_a_rule_the_catalogue_lacks(engine: Engine) -> None:
    from sqlalchemy import insert, update
    from sqlalchemy.exc import IntegrityError

    from monitor.storage.models import Factory, Flag
    from monitor.vocabulary import RULE_IDS

    migration = importlib.import_module("monitor.storage.migrations.versions.0010_rule_ids")
    assert migration.RULE_IDS == RULE_IDS  # a new rule comes with its migration
    now = datetime(2026, 12, 4, tzinfo=UTC)
    with engine.begin() as connection:
        factory_id = connection.execute(
            insert(Factory).returning(Factory.id),
            {
                "credit_code": "91110108600037341L",
                "name": "x",
                "level": "basic",
                "district_code": "110108",
                "designated_on": date(2025, 6, 30),
                "status": "active",
                "created_at": now,
                "updated_at": now,
            },
        ).scalar_one()
    row = {
        "fingerprint": "f",
        "clause": "—",
        "severity": "review",
        "factory_id": factory_id,
        "evidence_key": "k",
        "state": "open",
        "summary_key": "finding.unknown_value",
        "summary_params": {},
        "evidence": {},
        "anchor": "state",
        "first_seen_at": now,
        "last_seen_at": now,
        "state_changed_at": now,
    }
    with pytest.raises(IntegrityError), engine.begin() as connection:
        connection.execute(insert(Flag), {**row, "rule_id": "art12.9-invented"})
    with engine.begin() as connection:
        connection.execute(insert(Flag), {**row, "rule_id": "data-unknown-value"})
    with pytest.raises(IntegrityError), engine.begin() as connection:
        connection.execute(update(Flag).values(rule_id="art12.9-invented"))
