"""The daemon as operators run it: `sfm run` in a subprocess on a seconds-level schedule."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import shipped_connectors
from tests.integration.alerts.conftest import (  # noqa: F401 (fixtures used here)
    SmtpServer,
    Webhook,
    smtp,
    webhook,
    write_alert_config,
)

BUREAU = "zngc@jxj.beijing.gov.cn"
# Sweeps every two seconds, delivery every second; the calendar as a server has it.
FAST_SCHEDULE = """
[schedule]
registration_sweep = "*/2 * * * * *"
credit_sweep = "*/2 * * * * *"
safety_sweep = "*/2 * * * * *"
dispatch = "* * * * * *"
connector_watch = "*/2 * * * * *"
"""


def wait_for(condition: Callable[[], Any], timeout: float = 30.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what or condition}")


def accepting(path: Path) -> bool:
    """A daemon accepts connections on the socket `path`."""
    import socket

    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
    except OSError:
        return False
    finally:
        probe.close()
    return True


def one_line(err: str) -> str:
    """A refusal is one line, never a traceback."""
    assert "Traceback" not in err and "PermissionError" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


class Daemon:
    """One `sfm run` process; its output goes to files for the test to read."""

    def __init__(
        self,
        config: Path,
        cwd: Path,
        *args: str,
        name: str = "daemon",
        environ: dict[str, str] | None = None,
        preexec_fn: Callable[[], None] | None = None,  # e.g. a service's resource limits
    ) -> None:
        self.out = cwd / f"{name}.out"
        self.err = cwd / f"{name}.err"
        env = {**os.environ, "SFM_LANG": "en", "SFM_OUTBOX_DIR": str(cwd / "outbox")}
        env.update(environ or {})
        env.pop("SFM_OPERATOR", None)
        with self.out.open("wb") as out, self.err.open("wb") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "monitor.cli", "--config", str(config), "run", *args],
                cwd=cwd,
                env=env,
                stdout=out,
                stderr=err,
                preexec_fn=preexec_fn,
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.out.read_text(encoding="utf-8") + self.err.read_text(encoding="utf-8")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        self.process.send_signal(sig)
        return self.process.wait(timeout=timeout)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.fixture
def daemons() -> Iterator[list[Daemon]]:
    """Every daemon a test starts is killed at its end, whatever happened."""
    started: list[Daemon] = []
    yield started
    for daemon in started:
        daemon.kill()


def daemon_config(
    directory: Path,
    database_url: str,
    authorities: dict[str, list[str]],
    extra: str = "",
) -> Path:
    return write_alert_config(
        directory, database_url, authorities, extra=FAST_SCHEDULE + extra + shipped_connectors()
    )
