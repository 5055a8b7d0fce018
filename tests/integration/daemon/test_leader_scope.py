"""One lead per sfm database: neighbours on one server are independent, aliases are one."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from monitor.daemon.leader import LeaderLock
from monitor.storage import db
from tests.conftest import postgres_schema


@pytest.mark.postgres
def test_two_schemas_on_one_server_each_have_their_own_leader(postgres_available: None) -> None:
    with postgres_schema() as first_url, postgres_schema() as second_url:
        engines = [db.make_engine(url) for url in (first_url, second_url)]
        for engine in engines:
            db.upgrade(engine)
        locks = [LeaderLock(engine) for engine in engines]
        try:
            assert [lock.try_acquire() for lock in locks] == [True, True]
            assert not LeaderLock(engines[0]).try_acquire()  # same schema: one leader
        finally:
            for lock in locks:
                lock.release()
            for engine in engines:
                engine.dispose()


def test_a_symlink_to_the_database_takes_the_same_lock(tmp_path: Path) -> None:
    real = tmp_path / "sfm.db"
    alias = tmp_path / "alias.db"
    engine = db.make_engine(f"sqlite:///{real}")
    db.upgrade(engine)
    os.symlink(real, alias)
    aliased = db.make_engine(f"sqlite:///{alias}")
    first = LeaderLock(engine)
    try:
        assert first.try_acquire()
        assert not LeaderLock(aliased).try_acquire()
    finally:
        first.release()
        engine.dispose()
        aliased.dispose()
