"""One daemon leads per database (DESIGN §6): the lock, and who holds it.

PostgreSQL: a session-level advisory lock on a connection the leader keeps open.
SQLite: an exclusive `flock` on a file beside the database. Either way the lock
belongs to the process, so the kernel (or the server, when the connection drops)
lets it go the moment the leader dies, SIGKILL included, and a standby can take
over. Who holds it (host, pid, since when) is written to `daemon_leader` for
`sfm status` and for the refusal a second daemon prints.
"""

from __future__ import annotations

import fcntl
import os
import socket
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Connection, Engine, delete, text
from sqlalchemy.engine import make_url
from sqlmodel import col

from monitor.clock import beijing_text, now_utc
from monitor.errors import Refused
from monitor.i18n import Message
from monitor.storage.db import session_scope
from monitor.storage.models import DaemonLeader

# One lock per sfm database and schema: two sfm on one PostgreSQL server (or two test
# schemas in one database) neither share nor block each other's lead.
_ADVISORY_KEY = "hashtext('sfm-lead'), hashtext(current_database() || '/' || current_schema())"


class AlreadyLed(Refused):
    """Another daemon holds the lock on this database (exit 3)."""


class LeaderLock:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._connection: Connection | None = None
        self._file: IO[str] | None = None
        url = make_url(engine.url)
        self.backend = url.get_backend_name()
        database = url.database or ""
        # The real path, so that a symlink to the database and the database itself
        # take the same lock.
        self._path = (
            Path(os.path.realpath(database) + ".leader")
            if self.backend == "sqlite" and database not in ("", ":memory:")
            else None
        )

    def try_acquire(self) -> bool:
        """Take the lock if it is free; never waits."""
        if self.backend == "postgresql":
            connection = self.engine.connect()
            held = connection.execute(
                text(f"SELECT pg_try_advisory_lock({_ADVISORY_KEY})")
            ).scalar()
            connection.commit()
            if not held:
                connection.close()
                return False
            self._connection = connection
        elif self._path is not None:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            handle = self._path.open("a+", encoding="utf-8")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                return False
            self._file = handle
        self._record_holder()
        return True

    def still_held(self) -> bool:
        """False once the PostgreSQL session that holds the lock is gone."""
        if self._connection is None:
            return self._file is not None or self._path is None
        try:
            self._connection.execute(text("SELECT 1")).scalar()
            self._connection.commit()
        except Exception:
            return False
        return True

    def release(self) -> None:
        try:
            with session_scope(self.engine) as session:
                session.execute(delete(DaemonLeader).where(col(DaemonLeader.pid) == os.getpid()))
        except Exception:  # the lock itself goes with the process whatever happens here
            pass
        if self._connection is not None:
            try:
                self._connection.execute(text(f"SELECT pg_advisory_unlock({_ADVISORY_KEY})"))
                self._connection.commit()
            finally:
                self._connection.close()
                self._connection = None
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None

    def _record_holder(self) -> None:
        with session_scope(self.engine) as session:
            session.execute(delete(DaemonLeader))
            session.add(
                DaemonLeader(id=1, host=socket.gethostname(), pid=os.getpid(), since=now_utc())
            )


def leader(engine: Engine) -> dict[str, Any] | None:
    """The daemon recorded as leading, or None."""
    with session_scope(engine) as session:
        row = session.get(DaemonLeader, 1)
        if row is None:
            return None
        return {"host": row.host, "pid": row.pid, "since": beijing_text(row.since)}


def refusal(engine: Engine, wanted: str = "daemon") -> AlreadyLed:
    """Why the lock could not be had, naming its holder if it is recorded: for a second
    daemon (`wanted="daemon"`) or for a sweep (`"sweep"`)."""
    holder = leader(engine)
    if holder is None:
        return AlreadyLed(Message(f"{wanted}.led_unknown"))
    return AlreadyLed(Message(f"{wanted}.led_by", **holder))
