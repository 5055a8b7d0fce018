"""The CLI's side of the API: find the daemon, make sure it is the daemon, call it.

Light on purpose (httpx and the standard library only): `sfm flags list` answers in a
quarter of a second from a cold start only if this path imports no SQLAlchemy, pydantic
settings, APScheduler or apprise. Without a daemon the same calls go to the operations in
this process (monitor/api/inprocess.py), which imports what they need.
"""

from __future__ import annotations

import json
import os
import pwd
import socket
import ssl
import struct
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import httpcore
import httpx

from monitor.api.protocol import OPERATOR_HEADER, PREFIX, RESULT_HEADER, exit_code_of
from monitor.errors import BadInput, ConfigError, Refused, SfmError
from monitor.i18n import Message, language
from monitor.locations import (
    DEFAULT_SOCKET,
    database_url_of,
    read_raw_config,
    service_user_of,
    socket_of,
    sqlite_file,
)

PEERCRED = struct.Struct("3i")
CONNECT_TIMEOUT_S = 5.0
# an answer comes within this, or the daemon is stopped or wedged (a sweep is a job, polled);
# SFM_API_TIMEOUT_S sets another (a script that would rather fail fast, the tests)
ANSWER_TIMEOUT_S = 120.0


def answer_timeout() -> float:
    """Seconds to wait for the daemon's answer: SFM_API_TIMEOUT_S if it is a positive
    number, else ANSWER_TIMEOUT_S."""
    try:
        seconds = float(os.environ.get("SFM_API_TIMEOUT_S", ""))
    except ValueError:
        return ANSWER_TIMEOUT_S
    return seconds if seconds > 0 else ANSWER_TIMEOUT_S


def _nothing() -> None:
    pass


class ApiError(SfmError):
    """The daemon's refusal, as it said it: its stable code decides the exit code."""

    def __init__(self, code: str, message: str, details: list[str]) -> None:
        super().__init__(message, details=details)
        self.code = code
        self.exit_code = exit_code_of(code)


class _DaemonOnly(httpcore.SyncBackend):
    """Connects to the socket, then asks the kernel who listens on it: only the service
    user (or root) is the daemon. Anyone else who bound the path gets nothing sent."""

    def __init__(self, allowed: set[int], path: Path) -> None:
        self.allowed, self.path = allowed, path

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.NetworkStream:
        stream = super().connect_unix_socket(path, timeout, socket_options)
        sock = stream.get_extra_info("socket")
        _pid, uid, _gid = PEERCRED.unpack(
            sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, PEERCRED.size)
        )
        if uid not in self.allowed:
            stream.close()
            raise _Impostor(uid)
        return stream


class _Impostor(Exception):
    def __init__(self, uid: int) -> None:
        self.uid = uid


class _SocketTransport(httpx.HTTPTransport):
    def __init__(self, path: Path, allowed: set[int]) -> None:
        # The daemon speaks plain HTTP on its socket: a TLS context that trusts no one,
        # never used, instead of httpx's default, whose CA bundle cost every command 60 ms.
        super().__init__(uds=str(path), verify=ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))
        # httpx builds its pool without a way to name the network backend: the same pool,
        # with the backend that checks the daemon's identity
        self._pool = httpcore.ConnectionPool(
            uds=str(path), network_backend=_DaemonOnly(allowed, path)
        )


class Api:
    """Calls to the API, over the daemon's socket or in this process."""

    def __init__(
        self, transport: httpx.BaseTransport, where: str, on_close: Callable[[], None] = _nothing
    ) -> None:
        self.where = where
        self._on_close = on_close
        headers = {"Accept-Language": language()}
        claimed = os.environ.get("SFM_OPERATOR")
        if claimed:
            headers[OPERATOR_HEADER] = claimed
        waited = answer_timeout()
        self.http = httpx.Client(
            transport=transport,
            base_url="http://sfm" + PREFIX,
            headers=headers,
            timeout=httpx.Timeout(waited, connect=min(CONNECT_TIMEOUT_S, waited)),
        )

    def close(self) -> None:
        self.http.close()
        self._on_close()

    def get(self, path: str, **params: Any) -> Any:
        return self._json(self._send("GET", path, params=_query(params)))

    def post(self, path: str, body: Any = None, **params: Any) -> Any:
        return self._json(self._send("POST", path, params=_query(params), json=body))

    def upload(self, path: str, file: Path, **params: Any) -> Any:
        """POST the file the command line names, opened here with this user's rights."""
        try:
            handle = file.open("rb")
        except OSError as exc:
            raise BadInput(f"{file}: {exc.strerror or exc}") from exc
        with handle:
            return self._json(self._send("POST", path, params=_query(params), content=handle))

    def download(self, path: str, target: Path, **params: Any) -> dict[str, Any]:
        """GET a file into `target`, written by this user: a temporary file beside it,
        renamed into place only when the whole answer came."""
        with self._streamed("GET", path, params=_query(params)) as response:
            result = json.loads(response.headers.get(RESULT_HEADER) or "{}")
            try:
                handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 (renamed or removed)
                    dir=target.parent or Path("."), prefix=f".{target.name}.", delete=False
                )
            except OSError as exc:
                raise BadInput(f"{target}: {exc.strerror or exc}") from exc
            try:
                with handle:
                    for chunk in response.iter_bytes():
                        handle.write(chunk)
                os.replace(handle.name, target)
            except BaseException:
                Path(handle.name).unlink(missing_ok=True)
                raise
        return result

    def _send(self, method: str, path: str, **options: Any) -> httpx.Response:
        with self._streamed(method, path, **options) as response:
            response.read()
            return response

    @contextmanager
    def _streamed(self, method: str, path: str, **options: Any) -> Iterator[httpx.Response]:
        try:
            with self.http.stream(method, path, **options) as response:
                if response.status_code >= 400:
                    response.read()
                    raise self._error(response)
                yield response
        except _Impostor as impostor:
            raise Refused(
                Message("api.impostor", socket=self.where, user=_user(impostor.uid))
            ) from None
        except (httpx.ConnectTimeout, httpx.PoolTimeout, httpx.ConnectError) as exc:
            # a connection never made sent nothing: a daemon whose queue is full (stopped,
            # or flooded) has not answered, which is no lost outcome
            raise Refused(Message("api.timeout", socket=self.where)) from exc
        except httpx.TimeoutException as exc:
            # A change that was sent may still be made: a stopped daemon reads it when it
            # runs again, a slow one is still making it. Saying only "no answer" would
            # send staff to do it twice.
            key = "api.timeout" if method == "GET" else "api.timeout_after_sending"
            raise Refused(Message(key, socket=self.where)) from exc
        except httpx.TransportError as exc:
            raise Refused(Message("api.lost", socket=self.where, detail=str(exc))) from exc

    def _error(self, response: httpx.Response) -> SfmError:
        try:
            error = response.json()["error"]
            return ApiError(str(error["code"]), str(error["message"]), list(error["details"]))
        except (ValueError, KeyError, TypeError):
            return ApiError("unexpected", f"HTTP {response.status_code}", [])

    @staticmethod
    def _json(response: httpx.Response) -> Any:
        return response.json()


def _query(params: dict[str, Any]) -> dict[str, str]:
    """Options left unset are not sent; booleans as the API reads them."""
    query = {}
    for key, value in params.items():
        if value is None or value is False:
            continue
        query[key] = "true" if value is True else str(value)
    return query


def _user(uid: int) -> str:
    try:
        return f"{pwd.getpwuid(uid).pw_name}（uid {uid}）"
    except KeyError:
        return f"uid {uid}"


def _uid_of(user: str) -> int | None:
    try:
        return pwd.getpwnam(user).pw_uid
    except KeyError:
        return None


def daemon_users(raw: dict[str, Any], path: Path) -> set[int]:
    """Who may be the daemon: root, `[daemon] user`, the owner of a SQLite database; with
    none of these known, the owner of the socket's folder (systemd's RuntimeDirectory=
    makes it the service user's)."""
    allowed = {0}
    named = service_user_of(raw)
    if named and (uid := _uid_of(named)) is not None:
        allowed.add(uid)
    database = sqlite_file(database_url_of(raw))
    if database:
        with suppress(OSError):
            allowed.add(os.stat(database).st_uid)
    if allowed == {0}:
        with suppress(OSError):
            allowed.add(path.parent.stat().st_uid)
    return allowed


def connect(config: str | None, socket_path: str | None) -> Api:
    """The API this command calls: the daemon's if one listens, else this process's own
    (as the database's owner), else a refusal saying the daemon is not running (exit 3).
    A named config that is missing or broken is an error (exit 2), never replaced."""
    file, raw = read_raw_config(config)
    configured = file.exists()  # without one, a server's daemon: nothing to open here
    chosen = socket_path or os.environ.get("SFM_SOCKET")
    path = Path(chosen) if chosen else socket_of(raw) if configured else DEFAULT_SOCKET
    if _listening(path):
        return Api(_SocketTransport(path, daemon_users(raw, path)), str(path))
    if not configured or not _may_open_database(raw):
        raise Refused(Message("api.no_daemon", socket=str(path)))
    return _in_process(config, str(path))


def _listening(path: Path) -> bool:
    """A daemon accepts on `path` (a stale socket file, or none, is no daemon)."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(CONNECT_TIMEOUT_S)
    try:
        probe.connect(str(path))
    except (FileNotFoundError, ConnectionRefusedError, NotADirectoryError):
        return False
    except PermissionError as exc:  # the socket's folder or mode is the operators' group's
        raise Refused(Message("door.denied", socket=str(path))) from exc
    except (TimeoutError, BlockingIOError) as exc:  # a daemon whose queue is full: stopped
        raise Refused(Message("api.timeout", socket=str(path))) from exc
    except OSError:
        return False
    finally:
        probe.close()
    return True


def _may_open_database(raw: dict[str, Any]) -> bool:
    """Whether this user could work on the database without a daemon: its owner (SQLite),
    or one who can read the config's secrets (a server database)."""
    database = sqlite_file(database_url_of(raw))
    if database is None:
        return True  # the credentials decide; without them the connection is refused
    try:
        return os.stat(database).st_uid == os.getuid()
    except FileNotFoundError:
        return os.access(Path(database).parent if Path(database).parent.exists() else ".", os.W_OK)
    except PermissionError:
        return False


def _in_process(config: str | None, where: str) -> Api:
    from monitor.api.inprocess import InProcessTransport
    from monitor.runtime import Runtime

    runtime = Runtime.load(config, owner_only=True)
    from monitor.logs import configure_logging

    configure_logging(
        runtime.config.settings.logging
    )  # the operations log here, as the daemon's do
    limit = runtime.config.settings.daemon.max_import_bytes
    return Api(InProcessTransport(runtime, max_import_bytes=limit), where, runtime.close)


__all__ = ["Api", "ApiError", "ConfigError", "connect"]
