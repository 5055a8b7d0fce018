"""One daemon leads per database (DESIGN §6): the lock, and who holds it.

PostgreSQL: a session-level advisory lock on a connection the leader keeps open.
SQLite: an exclusive `flock` on a file beside the database. Either way the lock
belongs to the process, so the kernel (or the server, when the connection drops)
lets it go the moment the leader dies, SIGKILL included, and a standby can take
over. Who holds it (host, pid, since when) is written to `daemon_leader` for
`sfm status` and for the refusal a second daemon prints.

Fencing: a lock says who may lead, not that the one who led has stopped. Each
leadership raises the epoch in `daemon_epoch` and the leader's every transaction
that writes checks, before it commits and in the same transaction, that the epoch
is still its own (and, on PostgreSQL, that its lock session still holds the
lock). The check reads the epoch row `FOR SHARE`, so a standby's raise waits for
the transactions under way and every later one fails: a deposed leader's sweep,
dispatch or door writes nothing once it lost the lock, and it stops.
"""

from __future__ import annotations

import enum
import fcntl
import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import structlog
from sqlalchemy import Connection, Engine, delete, text
from sqlalchemy.engine import make_url
from sqlmodel import col

from monitor.clock import beijing_text, now_utc
from monitor.errors import LeadershipLost, Refused
from monitor.i18n import Message
from monitor.storage.db import DatabaseFile, guard_commits, session_scope
from monitor.storage.models import DaemonLeader

log = structlog.get_logger("sfm.daemon")

# One lock per sfm database and schema: two sfm on one PostgreSQL server (or two test
# schemas in one database) neither share nor block each other's lead.
_ADVISORY_KEY = "hashtext('sfm-lead'), hashtext(current_database() || '/' || current_schema())"


class AlreadyLed(Refused):
    """Another daemon holds the lock on this database (exit 3)."""


class Deposed(LeadershipLost):
    """This process's leadership ended (another took over, or its lock session is gone): the
    write that found out did not commit, and none after it will (exit 1)."""


class Lead(enum.Enum):
    HELD = "held"
    LOST = "lost"  # the lock session is gone, or another leads: never comes back
    UNREACHABLE = "unreachable"  # the database does not answer (yet): the session may live


_EPOCH_PG = (
    "SELECT epoch, EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
    " AND pid = :lock_pid) FROM daemon_epoch WHERE id = 1 FOR SHARE OF daemon_epoch"
)


class Fence:
    """This leadership's epoch; called in each transaction that writes, before it commits."""

    def __init__(
        self,
        backend: str,
        epoch: int,
        lock_pid: int | None,
        database_file: DatabaseFile | None = None,
    ) -> None:
        self.backend, self.epoch, self.lock_pid = backend, epoch, lock_pid
        self.database_file = database_file
        self.deposed = threading.Event()
        self.reason = Message("daemon.deposed", epoch=epoch)
        self._on_deposed: list[Callable[[], None]] = []

    def on_deposed(self, callback: Callable[[], None]) -> None:
        self._on_deposed.append(callback)

    def file_still_there(self) -> bool:
        """False (and deposed from now on) once the SQLite file opened is not at its path."""
        if self.database_file is None or self.database_file.still_there():
            return True
        if not self.deposed.is_set():
            self.reason = Message("daemon.db_file_gone", path=str(self.database_file.path))
            log.error(
                "the database file was deleted or replaced; every job stops",
                path=str(self.database_file.path),
            )
            self._depose()
        return False

    def refuse_writes(self) -> None:
        """Once deposed, no write starts, in a session or not (the audit seal writes on a
        connection of its own)."""
        if self.deposed.is_set():
            raise self._error()

    def __call__(self, connection: Connection) -> None:
        if self.deposed.is_set() or not self.file_still_there():
            raise self._error()
        if self.backend == "postgresql":
            row = connection.execute(text(_EPOCH_PG), {"lock_pid": self.lock_pid}).one_or_none()
            current, locked = (row[0], bool(row[1])) if row else (None, False)
        else:
            current = connection.execute(text("SELECT epoch FROM daemon_epoch WHERE id = 1"))
            current, locked = current.scalar(), True
        if current == self.epoch and locked:
            return
        log.error(
            "lost the lead: this write and every later one are refused",
            epoch=self.epoch,
            current_epoch=current,
            lock_session_alive=locked,
        )
        self._depose()
        raise self._error()

    def _depose(self) -> None:
        self.deposed.set()
        for callback in self._on_deposed:
            callback()

    def _error(self) -> Deposed:
        return Deposed(self.reason)


class LeaderLock:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._connection: Connection | None = None
        self._file: IO[str] | None = None
        self.fence: Fence | None = None
        self._probe: threading.Thread | None = None
        self._probe_answer: Lead | None = None
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
        """Take the lock if it is free; never waits. A database that does not answer raises
        (sqlalchemy's OperationalError): the caller decides whether to wait for it."""
        lock_pid = None
        if self.backend == "postgresql":
            connection = self.engine.connect()
            try:
                held = connection.execute(
                    text(f"SELECT pg_try_advisory_lock({_ADVISORY_KEY}), pg_backend_pid()")
                ).one()
                connection.commit()
            except BaseException:
                connection.close()
                raise
            if not held[0]:
                connection.close()
                return False
            self._connection, lock_pid = connection, held[1]
        elif self._path is not None:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            handle = self._path.open("a+", encoding="utf-8")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                return False
            self._file = handle
        try:
            epoch = self._record_holder()
        except BaseException:
            self.release()
            raise
        self.fence = Fence(self.backend, epoch, lock_pid, DatabaseFile.of(self.engine))
        guard_commits(self.engine, self.fence)
        return True

    def still_held(self) -> bool:
        """False once the PostgreSQL session that holds the lock is gone."""
        return self.check(timeout_s=30.0) is Lead.HELD

    def check(self, timeout_s: float = 5.0) -> Lead:
        """Whether this process still leads. On PostgreSQL the lock session is asked, for at
        most `timeout_s` (a database that does not answer may come back with the session
        alive); a session that was closed or ended never comes back."""
        if self.fence is not None and (
            self.fence.deposed.is_set() or not self.fence.file_still_there()
        ):
            return Lead.LOST
        if self._connection is None:
            return Lead.HELD if (self._file is not None or self._path is None) else Lead.LOST
        if self._probe is None:
            self._probe_answer = None
            self._probe = threading.Thread(target=self._ask_lock_session, daemon=True)
            self._probe.start()
        self._probe.join(timeout_s)
        if self._probe.is_alive():  # asked, no answer yet: asked again at the next check
            return Lead.UNREACHABLE
        self._probe = None
        return self._probe_answer or Lead.UNREACHABLE

    def _ask_lock_session(self) -> None:
        connection = self._connection
        if connection is None:
            self._probe_answer = Lead.LOST
            return
        try:
            connection.execute(text("SELECT 1")).scalar()
            connection.commit()
        except Exception as exc:
            gone = connection.invalidated or connection.closed
            log.warning("the lock session did not answer", error=str(exc), gone=gone)
            self._probe_answer = Lead.LOST if gone else Lead.UNREACHABLE
            return
        self._probe_answer = Lead.HELD

    def release(self) -> None:
        deposed = self.fence is not None and self.fence.deposed.is_set()
        guard_commits(self.engine, None)
        try:
            if deposed:  # not even its own row: the new leader's record is not its to touch
                raise LeadershipLost(Message("daemon.lost_lock"))
            with session_scope(self.engine) as session:
                session.execute(delete(DaemonLeader).where(col(DaemonLeader.pid) == os.getpid()))
        except Exception:  # the lock itself goes with the process whatever happens here
            pass
        if self._connection is not None:
            try:
                self._connection.execute(text(f"SELECT pg_advisory_unlock({_ADVISORY_KEY})"))
                self._connection.commit()
            except Exception:  # the session is gone, and the lock with it
                pass
            finally:
                self._connection.close()
                self._connection = None
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None

    def _record_holder(self) -> int:
        """Who leads, for `sfm status`; and the new leadership's epoch."""
        with session_scope(self.engine) as session:
            session.execute(text("UPDATE daemon_epoch SET epoch = epoch + 1 WHERE id = 1"))
            epoch = session.execute(text("SELECT epoch FROM daemon_epoch WHERE id = 1")).scalar()
            session.execute(delete(DaemonLeader))
            session.add(
                DaemonLeader(id=1, host=socket.gethostname(), pid=os.getpid(), since=now_utc())
            )
        assert epoch is not None, "daemon_epoch has no row: run sfm db upgrade"
        return int(epoch)


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
