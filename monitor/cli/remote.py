"""Staff commands as clients of the running daemon (monitor/daemon/door.py has the protocol).

`forward` is the client: when a daemon answers on the door, the command runs
there, as the caller's operator, and only its output, its files and its exit
code come back. When none answers, the command runs here, on the database
directly, which only the database's owner may do (`AppContext.engine`).
"""

from __future__ import annotations

import json
import os
import socket
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from monitor.errors import Refused
from monitor.i18n import Message, language

if TYPE_CHECKING:
    from monitor.cli.common import AppContext
    from monitor.daemon.door import Conversation, Handler

# Run where they are typed: the daemon itself, set-up, and what needs no database.
LOCAL_COMMANDS = {"run", "init", "db", "config", "simulator"}


def _without_config(argv: Sequence[str]) -> tuple[list[str], str | None]:
    """The command line without `--config PATH` (the daemon has its own), and that path."""
    kept: list[str] = []
    config: str | None = None
    arguments = iter(argv)
    for arg in arguments:
        if arg == "--config":
            config = next(arguments, None)
        elif arg.startswith("--config="):
            config = arg.split("=", 1)[1]
        else:
            kept.append(arg)
    return kept, config


def forward(argv: Sequence[str], words: Sequence[str]) -> int | None:
    """Run the command in the daemon and return its exit code; None when no daemon answers."""
    if not words or words[0] in LOCAL_COMMANDS or "--help" in argv:
        return None
    from monitor.config import door_socket_of

    kept, config = _without_config(argv)
    path = door_socket_of(config)
    try:
        if path is None or not path.is_socket():
            return None
    except PermissionError as exc:  # the socket's folder is the operators' group's
        raise Refused(Message("door.denied", socket=str(path))) from exc
    return ask_daemon(path, kept)


def ask_daemon(path: Path, argv: Sequence[str]) -> int | None:
    """Send the command to the daemon listening at `path`; None when none listens there."""
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        connection.connect(str(path))
    except (FileNotFoundError, ConnectionRefusedError):  # no daemon listening: direct mode
        connection.close()
        return None
    except PermissionError as exc:
        connection.close()
        raise Refused(Message("door.denied", socket=str(path))) from exc
    with connection:
        request = {
            "argv": list(argv),
            "lang": language(),
            "operator": os.environ.get("SFM_OPERATOR") or None,
        }
        connection.sendall(json.dumps(request, ensure_ascii=False).encode() + b"\n")
        return _converse(connection)


def _converse(connection: socket.socket) -> int:
    written: list[tuple[IO[bytes], Path]] = []  # exports: a temporary file, renamed on success
    code = 1
    try:
        for line in connection.makefile("rb"):
            message = json.loads(line)
            if "out" in message:
                sys.stdout.write(message["out"])
            elif "err" in message:
                sys.stderr.write(message["err"])
            elif "open" in message:
                _hand_over(connection, message["open"], message.get("mode"), written)
            elif "exit" in message:
                code = int(message["exit"])
                break
        else:
            print(f"sfm: {Message('door.lost')}", file=sys.stderr)
    finally:
        sys.stdout.flush()
        for handle, target in written:
            handle.close()
            if code == 0:
                os.replace(handle.name, target)
            else:
                Path(handle.name).unlink(missing_ok=True)
    return code


def _hand_over(
    connection: socket.socket, path: str, mode: Any, written: list[tuple[IO[bytes], Path]]
) -> None:
    """Open a file the command names, with this user's permissions, and pass its descriptor."""
    try:
        if mode == "rb":
            handle: IO[bytes] = open(path, "rb")  # noqa: SIM115 (closed below, once passed)
        elif mode == "wb":
            target = Path(path)
            handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 (renamed or removed at the end)
                dir=target.parent, prefix=f".{target.name}.", delete=False
            )
            written.append((handle, target))
        else:
            raise OSError(f"unknown mode {mode!r}")
    except OSError as exc:
        error = exc.strerror or str(exc)
        connection.sendall(json.dumps({"opened": False, "error": error}).encode() + b"\n")
        return
    socket.send_fds(connection, [b'{"opened": true}\n'], [handle.fileno()])
    if mode == "rb":
        handle.close()


def command_handler(daemon_state: AppContext) -> Handler:
    """What the daemon runs for each caller: the same commands, as the caller's operator."""
    from monitor.cli import run
    from monitor.i18n import using_language

    def handle(conversation: Conversation, request: dict[str, Any]) -> int:
        with using_language(str(request.get("lang") or "zh")):
            argv = request.get("argv")
            if not isinstance(argv, list) or not all(isinstance(arg, str) for arg in argv):
                print("sfm: malformed request", file=sys.stderr)
                return 2
            words = [arg for arg in argv if not arg.startswith("-")]
            if not words or words[0] in LOCAL_COMMANDS:
                refusal = Message("door.local_only", command=" ".join(words[:1]))
                print(f"sfm: {refusal}", file=sys.stderr)
                return 2
            claimed = request.get("operator")
            context = daemon_state.for_caller(
                conversation, claimed if isinstance(claimed, str) else None
            )
            return run(argv, context=context)

    return handle
