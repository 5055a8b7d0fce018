"""The daemon's API served over its Unix socket, and /healthz and /metrics on loopback.

aiohttp, because it is already here (httpx-aiohttp brings it), serves asyncio's Unix
sockets (`create_unix_server` with our own bound socket, as `web.UnixSite` does) and bounds
headers and bodies itself; one event loop on one thread holds every connection, so an idle
or slow client costs a descriptor and a few objects, never a thread. Handlers are plain
functions (monitor/api/routes.py) run on a small pool of threads, so requests are answered
concurrently while a sweep runs.

Abuse is bounded here: at most `max_connections` at once, and never so many that the
descriptor limit leaves the jobs fewer than RESERVED_DESCRIPTORS (the next is told, in one
JSON line, that the daemon is busy); a request's head must arrive within `io_timeout_s`,
and a connection that neither sends nor takes bytes for `io_timeout_s` while not being
answered is closed; a command's body is small and an upload's is at most
`max_import_bytes`.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import errno
import grp
import json
import logging
import os
import pwd
import resource
import shutil
import socket
import struct
import tempfile
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from monitor.api.protocol import OPERATOR_HEADER, PREFIX, RESULT_HEADER, language_of
from monitor.api.readers import start_readers
from monitor.api.routes import (
    Call,
    Caller,
    Download,
    Operation,
    answer,
    error_reply,
    json_default,
    table,
)
from monitor.errors import BadInput, ConfigError, SfmError, TooLarge
from monitor.i18n import Message, using_language

if TYPE_CHECKING:
    from monitor.runtime import Runtime

log = structlog.get_logger("sfm.api")

PEERCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid
COMMAND_BODY_BYTES = 64 << 10  # a decision, a note, a sweep's options
# descriptors kept for the jobs whatever the API holds (database, connectors, mail)
RESERVED_DESCRIPTORS = 256
# connections asyncio may accept in one turn of the loop before any is refused and closed
ACCEPT_BURST = 128
# a refusal (busy) waits this long, and this many at once, for the caller's language
BUSY_WAIT_S = 0.25
BUSY_WAITING = 32
BUSY_HEAD_BYTES = 2048
# what one read of a connection takes at most (aiohttp bounds a head's line at 8190 bytes)
READ_BYTES = 16 << 10


def peer_of(connection: socket.socket) -> Caller:
    """Who is on the other end, as the kernel recorded it when they connected."""
    raw = connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, PEERCRED.size)
    pid, uid, gid = PEERCRED.unpack(raw)
    return Caller(uid=uid, pid=pid, gid=gid)


@dataclass(frozen=True)
class Limits:
    max_connections: int = 64
    io_timeout_s: float = 15.0
    max_import_bytes: int = 32 << 20
    workers: int = 8  # the daemon's threads answering calls
    readers: int = 0  # processes answering reads beside it (monitor/api/readers.py)


def _language(request: web.Request) -> str:
    return language_of(request.headers.get("Accept-Language"))


def _json_response(status: int, data: Any) -> web.Response:
    body = json.dumps(data, ensure_ascii=False, default=json_default)
    return web.Response(status=status, text=body, content_type="application/json")


class Api:
    """The application: every operation of the table, run on the pool for its caller."""

    def __init__(self, runtime: Runtime, limits: Limits) -> None:
        self.runtime = runtime
        self.limits = limits
        self.pool = ThreadPoolExecutor(max_workers=limits.workers, thread_name_prefix="sfm-api")
        self.readers = start_readers(runtime.config, limits.readers)
        self.busy: dict[asyncio.BaseTransport, int] = {}  # connections being answered
        self.connections = 0  # admitted and not yet closed, counted as they are accepted
        self.refusing = 0  # refused ones waiting a moment to learn the caller's language
        self.uploads = Path(tempfile.mkdtemp(prefix="sfm-uploads-"))  # the daemon's alone
        self.app = web.Application(client_max_size=COMMAND_BODY_BYTES)
        for operation in table():
            self.app.router.add_route(
                operation.method, PREFIX + operation.pattern, self._serve(operation)
            )

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
        if self.readers is not None:
            self.readers.close()
        shutil.rmtree(self.uploads, ignore_errors=True)

    def _serve(
        self, operation: Operation
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def serve(request: web.Request) -> web.StreamResponse:
            transport = request.transport
            sock = transport.get_extra_info("socket") if transport else None
            if sock is None:
                raise web.HTTPForbidden(text="no caller")
            caller = peer_of(sock)
            claimed = request.headers.get(OPERATOR_HEADER) or None
            language = _language(request)
            upload: Path | None = None
            try:
                if operation.upload:
                    upload = await self._receive_file(request)
                    body = None
                elif request.can_read_body:
                    body = await request.json()
                else:
                    body = None
            except ConnectionError:  # the watchdog closed it, or the caller went away
                log.info("an API caller went away before its request was whole")
                return web.Response(status=400)  # to no one: nothing more is written
            except (ValueError, UnicodeDecodeError):
                with using_language(language):
                    status, data = error_reply(BadInput(Message("api.bad_json")))
                return _json_response(status, data)
            except web.HTTPRequestEntityTooLarge:
                with using_language(language):
                    status, data = error_reply(
                        TooLarge(Message("api.too_large", limit=COMMAND_BODY_BYTES))
                    )
                return _json_response(status, data)
            except TooLarge as exc:
                with using_language(language):
                    status, data = error_reply(exc)
                return _json_response(status, data)
            call = Call(
                runtime=self.runtime,
                caller=Caller(caller.uid, caller.pid, caller.gid, claimed),
                args=dict(request.match_info),
                params=dict(request.query),
                body=body,
                upload=upload,
            )
            if transport is not None:
                self.busy[transport] = self.busy.get(transport, 0) + 1
            try:
                if operation.reader and self.readers is not None:
                    status, body = await self.readers.answer(operation, call, language)
                    return web.Response(status=status, body=body, content_type="application/json")
                loop = asyncio.get_running_loop()
                status, result = await loop.run_in_executor(
                    self.pool, contextvars.copy_context().run, _answer, operation, call, language
                )
            finally:
                if upload is not None:
                    upload.unlink(missing_ok=True)
                if transport is not None:
                    left = self.busy.pop(transport, 1) - 1
                    if left:
                        self.busy[transport] = left
            if isinstance(result, Download):
                return await self._send_file(request, result)
            return _json_response(status, result)

        return serve

    async def _receive_file(self, request: web.Request) -> Path:
        """The uploaded file, streamed to a private file, at most max_import_bytes."""
        limit = self.limits.max_import_bytes
        if request.content_length is not None and request.content_length > limit:
            raise TooLarge(Message("api.too_large", limit=limit))
        handle, name = tempfile.mkstemp(dir=self.uploads)
        received = 0
        try:
            with os.fdopen(handle, "wb") as target:
                while chunk := await request.content.read(1 << 16):
                    received += len(chunk)
                    if received > limit:
                        raise TooLarge(Message("api.too_large", limit=limit))
                    target.write(chunk)
        except BaseException:
            Path(name).unlink(missing_ok=True)
            raise
        return Path(name)

    async def _send_file(self, request: web.Request, download: Download) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={
                "Content-Type": "application/octet-stream",
                RESULT_HEADER: json.dumps(download.result, ensure_ascii=True),
            }
        )
        try:
            response.content_length = download.path.stat().st_size
            await response.prepare(request)
            with download.path.open("rb") as source:
                while chunk := source.read(1 << 16):
                    await response.write(chunk)  # a client that stops reading: the watchdog
            await response.write_eof()
        except ConnectionError:
            log.info("an API caller stopped taking its download", file=download.filename)
        finally:
            download.cleanup()
        return response


def _answer(operation: Operation, call: Call, language: str) -> tuple[int, Any]:
    with using_language(language):
        return answer(operation, call)


class _Guard(asyncio.BufferedProtocol):
    """One connection, watched: closed when it neither sends nor takes bytes for the
    timeout while not being answered (a half-sent body, a reader that stopped). A request's
    head must be complete within the timeout of the connection's start or of its last
    answer, however slowly it trickles in (aiohttp's keep-alive timeout, set to it).

    Bytes are read READ_BYTES at a time into one buffer of its own (asyncio would read a
    quarter of a megabyte at a time): a flood of oversized requests costs the cap times
    that, not the cap times what each sent."""

    def __init__(self, inner: Any, api: Api, loop: asyncio.AbstractEventLoop) -> None:
        self.inner, self.api, self.loop = inner, api, loop
        self.buffer = bytearray(READ_BYTES)
        self.transport: asyncio.Transport | None = None
        self.last_seen = loop.time()
        self.unsent = 0
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.inner.connection_made(transport)
        self._watch()

    def _watch(self) -> None:
        self.timer = self.loop.call_later(1.0, self._check)

    def _check(self) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        unsent = transport.get_write_buffer_size()
        if unsent != self.unsent or (not unsent and self.api.busy.get(transport)):
            self.unsent, self.last_seen = unsent, self.loop.time()
        elif self.loop.time() - self.last_seen > self.api.limits.io_timeout_s:
            log.info("closing a stalled API connection", unsent_bytes=unsent)
            transport.abort()
            return
        self._watch()

    def get_buffer(self, sizehint: int) -> memoryview:
        return memoryview(self.buffer)

    def buffer_updated(self, nbytes: int) -> None:
        self.last_seen = self.loop.time()
        self.inner.data_received(bytes(self.buffer[:nbytes]))

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self.api.connections -= 1
        if self.timer is not None:
            self.timer.cancel()
        self.inner.connection_lost(exc)


class _Busy(asyncio.BufferedProtocol):
    """Past the connection cap: one answer saying so, then the connection is closed.

    The answer is in the caller's language when its request's head arrives within
    BUSY_WAIT_S (a client sends it as soon as it connects); at most BUSY_WAITING refusals
    wait for it at once, the rest are answered at once in the daemon's language, so that
    a flood of connections never holds more descriptors than the cap and a few."""

    def __init__(self, cap: int, api: Api, loop: asyncio.AbstractEventLoop) -> None:
        self.cap, self.api, self.loop = cap, api, loop
        self.head = bytearray(BUSY_HEAD_BYTES)  # the request's start, for its language
        self.transport: asyncio.Transport | None = None
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        if self.api.refusing >= BUSY_WAITING:
            self._answer(None)
            return
        self.api.refusing += 1
        self.timer = self.loop.call_later(BUSY_WAIT_S, self._answer, None)

    def get_buffer(self, sizehint: int) -> memoryview:
        return memoryview(self.head)

    def buffer_updated(self, nbytes: int) -> None:
        self._answer(_accepted_language(bytes(self.head[:nbytes])))

    def connection_lost(self, exc: Exception | None) -> None:
        self._done()

    def _done(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
            self.api.refusing -= 1

    def _answer(self, language: str | None) -> None:
        self._done()
        transport, self.transport = self.transport, None
        if transport is None or transport.is_closing():
            return
        with using_language(language) if language else contextlib.nullcontext():
            _status, data = error_reply(SfmError(Message("api.busy", cap=self.cap)), "busy")
        body = json.dumps(data, ensure_ascii=False).encode()
        transport.write(
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )
        transport.close()


def _accepted_language(head: bytes) -> str | None:
    """The Accept-Language of a request's first bytes, as `_language` reads it."""
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"accept-language":
            return language_of(value.decode("latin-1"))
    return None


class _MalformedRequests(logging.Filter):
    """aiohttp logs a caller's malformed request (a line too long, too many headers) as an
    error with its traceback; the caller was told 400, and a flood of them must not flood
    the log nor page anyone: one info line each instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError):
            log.info(
                "refused a malformed API request", status=error.code, reason=error.message[:120]
            )
            return False
        return True


MALFORMED_REQUESTS = _MalformedRequests()


class ApiServer:
    """The API on its socket and the health endpoints on loopback, on one event loop in
    their own thread; `close()` stops both and removes the socket."""

    def __init__(
        self,
        runtime: Runtime,
        path: Path | None,
        group: str,
        limits: Limits,
        *,
        health: web.Application | None = None,
        http: tuple[str, int] | None = None,
    ) -> None:
        self.path = path
        self.api = Api(runtime, limits)
        self.loop = asyncio.new_event_loop()
        self._runners: list[web.AppRunner] = []
        self._servers: list[asyncio.base_events.Server] = []
        cap = connection_cap(limits.max_connections, keep_descriptors_for_jobs())
        aiohttp_server = logging.getLogger("aiohttp.server")
        if MALFORMED_REQUESTS not in aiohttp_server.filters:
            aiohttp_server.addFilter(MALFORMED_REQUESTS)
        sock = bind_socket(path, group) if path is not None else None
        started = threading.Event()
        failure: list[BaseException] = []

        async def start() -> None:
            if sock is not None:
                runner = web.AppRunner(
                    self.api.app,
                    access_log=None,
                    handle_signals=False,
                    keepalive_timeout=limits.io_timeout_s,
                    max_line_size=8190,
                    max_field_size=8190,
                    max_headers=32,
                )
                await runner.setup()
                self._runners.append(runner)
                factory = runner.server
                assert factory is not None

                def guarded() -> asyncio.BaseProtocol:
                    # counted here, when the connection is accepted: a burst accepted in one
                    # turn of the loop is made before any of its connections is
                    if self.api.connections >= cap:
                        return _Busy(cap, self.api, self.loop)
                    assert factory is not None
                    self.api.connections += 1
                    return _Guard(factory(), self.api, self.loop)

                self._servers.append(
                    await self.loop.create_unix_server(guarded, sock=sock, backlog=ACCEPT_BURST)
                )
            if health is not None and http is not None:
                runner = web.AppRunner(health, access_log=None, handle_signals=False)
                await runner.setup()
                self._runners.append(runner)
                await web.TCPSite(runner, http[0], http[1]).start()

        def serve() -> None:
            asyncio.set_event_loop(self.loop)
            try:
                self.loop.run_until_complete(start())
            except BaseException as exc:  # reported to the starting thread
                failure.append(exc)
                started.set()
                return
            started.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=serve, name="sfm-api", daemon=True)
        self.thread.start()
        started.wait()
        if failure:
            self.close()
            error = failure[0]
            if isinstance(error, OSError):
                raise ConfigError(
                    f"[daemon] http_port {http}: {error.strerror or error}"
                ) from error
            raise error
        if path is not None:
            log.info("API open", socket=str(path), group=group or None)

    def close(self) -> None:
        async def stop() -> None:
            for server in self._servers:
                server.close()
            for runner in self._runners:
                await runner.cleanup()

        if self.loop.is_running():
            asyncio.run_coroutine_threadsafe(stop(), self.loop).result(timeout=10)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=10)
        self.api.close()
        if self.path is not None:
            self.path.unlink(missing_ok=True)


def keep_descriptors_for_jobs() -> int:
    """As many descriptors as the system allows this process (systemd's LimitNOFILE is the
    hard limit), so a full API leaves the jobs theirs; how many that is."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        soft = hard
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


def connection_cap(configured: int, descriptors: int) -> int:
    """The connections the API admits at once: as configured, unless the descriptor limit
    would then leave the jobs fewer than RESERVED_DESCRIPTORS. Refused connections are open
    for a moment too: those waiting for their caller's language, and up to three bursts
    accepted before the first is closed (1,000 connections at once peaked at about 490
    descriptors with the default cap of 64)."""
    room = max(1, descriptors - RESERVED_DESCRIPTORS - 3 * ACCEPT_BURST - BUSY_WAITING)
    if configured > room:
        log.warning(
            "fewer API connections than configured: the descriptor limit keeps the rest "
            "for the jobs",
            max_connections=configured,
            admitted=room,
            descriptor_limit=descriptors,
        )
    return min(configured, room)


def bind_socket(path: Path, group: str) -> socket.socket:
    """The listening socket, 0660 and the operators' group's from its first moment, and
    listening from the moment its path exists: bound under a private name, then renamed
    into place (a caller who finds the file is never refused)."""
    try:
        gid = grp.getgrnam(group).gr_gid if group else None
    except KeyError:
        raise ConfigError(f"[daemon] socket_group: there is no OS group {group!r}") from None
    make_socket_folder(path, group, gid)
    umask = os.umask(0o177)  # no moment at which the socket is open to others
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    binding = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        if path.exists() and not path.is_socket():
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST))
        binding.unlink(missing_ok=True)
        sock.bind(str(binding))
        if gid is not None:
            os.chown(binding, -1, gid)
            os.chmod(binding, 0o660)
        sock.listen(ACCEPT_BURST)
        sock.setblocking(False)
        # over a dead daemon's socket, if one is left: we hold the leader lock, it is ours
        os.replace(binding, path)
    except OSError as exc:
        sock.close()
        binding.unlink(missing_ok=True)
        raise ConfigError(f"[daemon] socket {path}: {exc.strerror or exc}") from exc
    finally:
        os.umask(umask)
    return sock


def make_socket_folder(path: Path, group: str, gid: int | None) -> None:
    """The socket's folder: made 0750 and the operators' group's when the daemon may make
    it; otherwise the refusal says exactly what root must create (systemd's
    RuntimeDirectory= does it for the service)."""
    folder = path.parent
    if folder.is_dir():
        mode = folder.stat()
        if gid is not None and not (
            mode.st_mode & 0o001 or (mode.st_gid == gid and mode.st_mode & 0o010)
        ):
            log.warning("the operators' group cannot reach the socket's folder", folder=str(folder))
        return
    user = pwd.getpwuid(os.getuid()).pw_name
    command = f"install -d -o {user} -g {group or user} -m 0750 {folder}"
    try:
        folder.mkdir(mode=0o750, parents=True)
        if gid is not None:
            os.chown(folder, -1, gid)
        os.chmod(folder, 0o750)  # the umask may have taken the group's bits
    except OSError as exc:
        raise ConfigError(
            Message(
                "door.folder_denied",
                socket=str(path),
                folder=str(folder),
                detail=exc.strerror or str(exc),
                command=command,
            )
        ) from exc


def health_app(metrics: Any, healthy: Callable[[], bool]) -> web.Application:
    """/healthz and /metrics, for the loopback port (never the API)."""
    app = web.Application()

    async def healthz(_request: web.Request) -> web.Response:
        ok = await asyncio.get_running_loop().run_in_executor(None, healthy)
        return web.Response(status=200 if ok else 503, text="ok\n" if ok else "unhealthy\n")

    async def scrape(_request: web.Request) -> web.Response:
        body = await asyncio.get_running_loop().run_in_executor(None, metrics.render)
        return web.Response(body=body, headers={"Content-Type": "text/plain; version=0.0.4"})

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", scrape)
    return app
