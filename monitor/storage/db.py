"""The database engine (SQLite with WAL by default, PostgreSQL for production) and migrations."""

from __future__ import annotations

import os
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url

from monitor.storage.schema import check_versions

if TYPE_CHECKING:
    from sqlmodel import Session

T = TypeVar("T")

MIGRATIONS = Path(__file__).parent / "migrations"

# Ids or codes bound in one statement: far below SQLite's limit of 32,766 variables
# (and PostgreSQL's 65,535), whatever size of register or dropped file they come from.
BOUND_PER_STATEMENT = 5_000

# How long a SQLite connection waits for another's write lock before "database is locked".
SQLITE_BUSY_TIMEOUT_MS = 10_000


def in_slices(values: Sequence[T]) -> Iterator[Sequence[T]]:
    """`values` a statement's worth at a time."""
    for start in range(0, len(values), BOUND_PER_STATEMENT):
        yield values[start : start + BOUND_PER_STATEMENT]


def normalise_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL whichever spelling the config uses."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


@dataclass(frozen=True)
class DatabaseFile:
    """The SQLite file a process opened: the same path may later name another file (or none),
    while the process would go on writing to the one it has open."""

    path: Path
    device: int
    inode: int

    @classmethod
    def of(cls, engine: Engine) -> DatabaseFile | None:
        """The file behind `engine`, or None (PostgreSQL, or SQLite in memory)."""
        parsed = make_url(engine.url)
        if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
            return None
        path = Path(os.path.realpath(parsed.database))
        found = path.stat()
        return cls(path, found.st_dev, found.st_ino)

    def still_there(self) -> bool:
        try:
            found = self.path.stat()
        except OSError:
            return False
        return (found.st_dev, found.st_ino) == (self.device, self.inode)


def refuse_stray_sqlite_files(database: str) -> None:
    """Before SQLite opens `database` (and would create it empty): a write-ahead log or
    shared-memory file without its database holds what the database lost, and an unreadable
    one would fail every start; either way, say what to do and touch nothing."""
    from monitor.errors import Refused
    from monitor.i18n import Message

    path = Path(os.path.realpath(database))
    companions = [Path(f"{path}{suffix}") for suffix in ("-wal", "-shm")]
    strays = [companion for companion in companions if companion.exists()]
    if strays and not path.exists():
        raise Refused(
            Message("db.stray_journal", path=str(path), files=", ".join(map(str, strays)))
        )
    for existing in ([path] if path.exists() else []) + strays:
        if not os.access(existing, os.R_OK | os.W_OK):
            raise Refused(Message("db.unreadable_file", path=str(existing)))


def make_engine(url: str, *, create: bool = True) -> Engine:
    """The database at `url`; with `create=False` a SQLite file is opened only while it
    exists (a process beside the daemon never makes an empty one where it was deleted)."""
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            refuse_stray_sqlite_files(parsed.database)
            if create:
                # the database's folder is its owner's alone (a copy of the file is every flag)
                Path(parsed.database).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            else:
                url = parsed.set(
                    database=f"file:{parsed.database}",
                    query={**parsed.query, "mode": "rw", "uri": "true"},
                ).render_as_string(hide_password=False)
        engine = create_engine(url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


def _alembic_config(engine: Engine) -> Any:
    from alembic.config import Config as AlembicConfig

    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    assert head is not None, "the migrations folder has no head revision"
    return head


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Bring the schema to the newest revision; return (before, after)."""
    from alembic import command

    from monitor.storage.audit_chain import seal

    before = current_revision(engine)
    command.upgrade(_alembic_config(engine), "head")
    seal(engine)  # the audit entries written before the chain existed
    return before, head_revision()


def require_current_schema(engine: Engine) -> None:
    """Refuse to work on a database whose schema is not the one this code expects."""
    from sqlalchemy.exc import DBAPIError

    try:
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT version_num FROM alembic_version"))
            versions = [row[0] for row in rows]
    except DBAPIError:  # no alembic_version table: an empty database
        versions = []
    check_versions(versions)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One transaction: committed when the block ends, rolled back if it raises."""
    from sqlmodel import Session  # imported here: read-only commands go without the ORM

    from monitor.storage import audit_chain  # noqa: F401 (seals audit entries after commit)

    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


# ---------------------------------------------------------------- fencing (DESIGN §6)


class CommitGuard(Protocol):
    def __call__(self, connection: Connection) -> None:
        """Raise to stop the commit of a transaction that wrote."""

    def refuse_writes(self) -> None:
        """Raise if no write may even start (checked at each write statement, so that a
        connection used outside a session is refused too); cheap, no database."""


_GUARDS: weakref.WeakKeyDictionary[Engine, CommitGuard] = weakref.WeakKeyDictionary()
_WROTE = "sfm_wrote"  # in a DBAPI connection's info: its open transaction changed something
_WRITES = ("INSERT", "UPDATE", "DELETE", "MERGE", "CREATE", "DROP", "ALTER", "TRUNCATE")


def guard_commits(engine: Engine, guard: CommitGuard | None) -> None:
    """Run `guard` inside every transaction on `engine` that wrote, just before it commits;
    whatever it raises stops the commit (the session then rolls back). None removes it.

    The leading daemon's fence (monitor/daemon/leader.py): its epoch is checked in the same
    transaction as what it writes, so a deposed leader's write never commits. Read-only
    transactions pay nothing."""
    if guard is None:
        _GUARDS.pop(engine, None)
        return
    _listen_to_sessions()
    if not event.contains(engine, "before_cursor_execute", _note_write):
        event.listen(engine, "before_cursor_execute", _note_write)
        event.listen(engine, "commit", _forget_write)
        event.listen(engine, "rollback", _forget_write)
    _GUARDS[engine] = guard


def check_guard(engine: Engine) -> None:
    """The guard's check now, in a transaction of its own (before an act the database does not
    see, such as sending an alert); nothing if the engine has none."""
    guard = _GUARDS.get(engine)
    if guard is None:
        return
    with engine.connect() as connection:
        guard(connection)
        connection.rollback()


def _note_write(
    connection: Connection, _cursor: Any, statement: str, *_args: Any, **_kwargs: Any
) -> None:
    if statement.lstrip()[:8].upper().startswith(_WRITES):
        connection.info[_WROTE] = True
        guard = _GUARDS.get(connection.engine)
        if guard is not None:
            guard.refuse_writes()


def _forget_write(connection: Connection) -> None:
    if not connection.invalidated:  # an invalidated one's DBAPI connection is gone with it
        connection.info.pop(_WROTE, None)


def _guard_session_commit(session: Any) -> None:
    """Session `before_commit`: flush, then check the guard in the transaction that wrote."""
    if not _GUARDS:
        return
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    guard = _GUARDS.get(engine)
    if guard is None:
        return
    session.flush()
    connection = session.connection()
    if connection.info.get(_WROTE):
        guard(connection)


def _listen_to_sessions() -> None:
    from sqlalchemy.orm import Session

    if not event.contains(Session, "before_commit", _guard_session_commit):
        event.listen(Session, "before_commit", _guard_session_commit)
