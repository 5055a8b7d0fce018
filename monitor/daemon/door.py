"""The daemon's door: staff commands reach the running daemon over a local Unix socket.

As `amtool` is a client of Alertmanager, `sfm flags confirm …` on a server is a
client of `sfm run`. The daemon alone holds the database and its credentials; it
learns who is calling from the kernel (SO_PEERCRED on the socket), never from the
caller's environment, and runs the command as that user's operator. The socket's
mode admits only its group (the configured operators' group).

One JSON object per line, in both directions:

    client → daemon   {"argv": [...], "lang": "zh", "operator": null}
    daemon → client   {"out": text} | {"err": text} | {"open": path, "mode": "rb" | "wb"}
                      … and last {"exit": code}
    client → daemon   {"opened": true} with the file descriptor attached (SCM_RIGHTS),
                      or {"opened": false, "error": text}, answering each "open"

Files named on the command line are opened by the client, with the client's own
permissions, and handed over as descriptors: the daemon never opens a path a
caller names.
"""

from __future__ import annotations

import grp
import io
import json
import os
import socket
import socketserver
import struct
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import structlog

from monitor.errors import ConfigError

log = structlog.get_logger("sfm.door")

CALLER_TIMEOUT_S = 120.0
MAX_REQUEST_BYTES = 1 << 20  # a command line, not a payload: files travel as descriptors
PEERCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid


class DoorClosed(Exception):
    """The client went away mid-command."""


@dataclass(frozen=True)
class Caller:
    pid: int
    uid: int
    gid: int


def peer_of(connection: socket.socket) -> Caller:
    """Who is on the other end, as the kernel recorded it when they connected."""
    raw = connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, PEERCRED.size)
    pid, uid, gid = PEERCRED.unpack(raw)
    return Caller(pid, uid, gid)


class Conversation:
    """One client's command: its output goes back over the socket, its files come as fds."""

    def __init__(self, connection: socket.socket, caller: Caller) -> None:
        self.connection = connection
        self.caller = caller
        self._pending = b""

    def send(self, message: dict[str, Any]) -> None:
        line = json.dumps(message, ensure_ascii=False).encode() + b"\n"
        try:
            self.connection.sendall(line)
        except OSError as exc:
            raise DoorClosed(str(exc)) from exc

    def receive(self) -> tuple[dict[str, Any], list[int]]:
        """The client's next line, with any descriptors that came with it."""
        fds: list[int] = []
        while b"\n" not in self._pending:
            data, received, _flags, _addr = socket.recv_fds(self.connection, 65536, 4)
            fds.extend(received)
            if not data:
                for fd in fds:
                    os.close(fd)
                raise DoorClosed("the client closed the connection")
            self._pending += data
            if len(self._pending) > MAX_REQUEST_BYTES:
                raise DoorClosed("request too large")
        line, _, self._pending = self._pending.partition(b"\n")
        return json.loads(line), fds

    def open(self, path: str, mode: str) -> IO[bytes]:
        """A file the client opened for us, with its own permissions."""
        from monitor.errors import BadInput

        self.send({"open": path, "mode": mode})
        answer, fds = self.receive()
        if not answer.get("opened") or len(fds) != 1:
            for fd in fds:
                os.close(fd)
            raise BadInput(f"{path}: {answer.get('error') or 'not opened'}")
        return os.fdopen(fds[0], mode)


class _Routed(io.TextIOBase):
    """sys.stdout / sys.stderr of the daemon: a door command's writes go to its client,
    every other thread's (the jobs' logs) to the original stream."""

    def __init__(self, original: IO[str], key: str) -> None:
        self.original = original
        self.key = key
        self.local = threading.local()

    def _target(self) -> Conversation | None:
        return getattr(self.local, "conversation", None)

    def write(self, text: str) -> int:
        conversation = self._target()
        if conversation is None:
            return self.original.write(text)
        if text:
            conversation.send({self.key: text})
        return len(text)

    def flush(self) -> None:
        if self._target() is None:
            self.original.flush()

    def isatty(self) -> bool:
        return False if self._target() is not None else self.original.isatty()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"

    def fileno(self) -> int:
        if self._target() is not None:
            raise io.UnsupportedOperation("a door command's output is not a file")
        return self.original.fileno()


@contextmanager
def _output_to(conversation: Conversation) -> Iterator[None]:
    """This thread's stdout and stderr go to `conversation` while the block runs."""
    routed = [stream for stream in (sys.stdout, sys.stderr) if isinstance(stream, _Routed)]
    for stream in routed:
        stream.local.conversation = conversation
    try:
        yield
    finally:
        for stream in routed:
            stream.local.conversation = None


Handler = Callable[[Conversation, dict[str, Any]], int]


def make_socket_folder(path: Path, group: str, gid: int | None) -> None:
    """The socket's folder: made 0750 and the operators' group's when the daemon may make
    it; otherwise the refusal says exactly what root must create (systemd's
    RuntimeDirectory= does it for the service)."""
    import pwd

    from monitor.i18n import Message

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


class Door:
    """The socket and the thread that serves it; `close()` removes both."""

    def __init__(self, path: Path, group: str, handle: Handler) -> None:
        self.path = path
        self.handle = handle
        self._serialised = threading.Lock()  # a command at a time: the CLI keeps module state
        self._install_routing()
        door = self

        class Server(socketserver.ThreadingUnixStreamServer):
            daemon_threads = True

        class Request(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                door._serve(self.request)

        try:
            gid = grp.getgrnam(group).gr_gid if group else None
        except KeyError:
            raise ConfigError(f"[daemon] socket_group: there is no OS group {group!r}") from None
        make_socket_folder(path, group, gid)
        umask = os.umask(0o177)  # no moment at which the socket is open to others
        try:
            if path.is_socket():
                path.unlink()  # a dead daemon's; we hold the leader lock, so it is ours
            self.server = Server(str(path), Request)
            if gid is not None:
                os.chown(path, -1, gid)
                os.chmod(path, 0o660)
        except OSError as exc:
            raise ConfigError(f"[daemon] socket {path}: {exc.strerror or exc}") from exc
        finally:
            os.umask(umask)
        self.thread = threading.Thread(target=self.server.serve_forever, name="door", daemon=True)
        self.thread.start()
        log.info("door open", socket=str(path), group=group or None)

    def _install_routing(self) -> None:
        if not isinstance(sys.stdout, _Routed):
            sys.stdout = _Routed(sys.stdout, "out")
        if not isinstance(sys.stderr, _Routed):
            sys.stderr = _Routed(sys.stderr, "err")

    def _serve(self, connection: socket.socket) -> None:
        caller = peer_of(connection)
        # a caller that stops talking (or reading) is let go, not waited on for ever
        connection.settimeout(CALLER_TIMEOUT_S)
        conversation = Conversation(connection, caller)
        try:
            request, fds = conversation.receive()
            for fd in fds:
                os.close(fd)
            with self._serialised, _output_to(conversation):
                code = self.handle(conversation, request)
            conversation.send({"exit": code})
        except (DoorClosed, ValueError, OSError) as exc:
            log.warning("door conversation ended early", uid=caller.uid, error=str(exc))

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.path.unlink(missing_ok=True)
