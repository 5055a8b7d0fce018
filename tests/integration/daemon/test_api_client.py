"""The CLI is a client: through a running daemon it imports nothing that touches the
database, and it gets the same JSON the same operations give in-process without one."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.conftest import write_config
from tests.integration.daemon.conftest import Daemon, accepting, wait_for
from tests.integration.test_flags import swept  # noqa: F401  (fixture)

# What the client path must never import (issue 20): the database, the settings models,
# the scheduler, the alert senders, and sfm's own modules built on them.
HEAVY = (
    "sqlalchemy",
    "sqlmodel",
    "pydantic_settings",
    "apscheduler",
    "apprise",
    "aiohttp",
    "monitor.config",
    "monitor.storage",
    "monitor.runtime",
    "monitor.api.routes",
)

CLIENT = """
import json, sys
from monitor.cli import run
code = run(sys.argv[1:])
sys.stdout.flush()
heavy = sorted(m for m in sys.modules if m.split(".")[0] in {heavy_roots} or m in {heavy})
print("\\nIMPORTED " + json.dumps({{"code": code, "heavy": heavy}}), file=sys.stderr)
"""


def run_client(config: Path, cwd: Path, *argv: str) -> tuple[int, str, list[str]]:
    roots = {name for name in HEAVY if "." not in name}
    dotted = {name for name in HEAVY if "." in name}
    script = CLIENT.format(heavy_roots=sorted(roots), heavy=sorted(dotted))
    done = subprocess.run(
        [sys.executable, "-c", script, "--config", str(config), *argv],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "SFM_LANG": "zh", "PYTHONPATH": str(Path.cwd())},
    )
    marker = done.stderr.rindex("IMPORTED ")
    report = json.loads(done.stderr[marker + len("IMPORTED ") :])
    return report["code"], done.stdout, report["heavy"]


@pytest.fixture
def daemon_socket(swept: Engine, database_url: str, tmp_path: Path) -> Iterator[Path]:  # noqa: F811
    socket = tmp_path / "sfm.sock"
    config = write_config(tmp_path, database_url, f'[daemon]\nsocket = "{socket}"\n')
    daemon = Daemon(config, tmp_path)
    try:
        wait_for(lambda: accepting(socket), what="the API to accept connections")
        yield socket
    finally:
        daemon.kill()


def in_process(config: Path, path: str) -> object:
    """The same operation called without a daemon, in this process."""
    from monitor.api.client import Api
    from monitor.api.inprocess import InProcessTransport
    from monitor.runtime import Runtime

    runtime = Runtime.load(str(config))
    api = Api(InProcessTransport(runtime, max_import_bytes=1 << 20), "test", runtime.close)
    try:
        return api.get(path)
    finally:
        api.close()


@pytest.mark.parametrize(
    ("argv", "path"),
    [
        (("flags", "list", "--json"), "/flags"),
        (("flags", "show", "1", "--json"), "/flags/1"),
        (("status", "--json"), None),
    ],
)
def test_through_the_daemon_the_cli_imports_nothing_heavy_and_gets_the_operations_json(
    daemon_socket: Path, tmp_path: Path, argv: tuple[str, ...], path: str | None
) -> None:
    config = tmp_path / "sfm.toml"
    code, out, heavy = run_client(config, tmp_path, *argv)
    assert code == 0
    assert heavy == []
    if path is not None:  # status reads the daemon's live jobs: compared by shape only
        assert json.loads(out) == in_process(config, path)
    else:
        assert {"measures", "jobs", "flags", "outbox"} <= set(json.loads(out))


def test_an_unknown_flag_is_exit_4_with_the_daemons_message(
    daemon_socket: Path, tmp_path: Path
) -> None:
    code, _out, heavy = run_client(tmp_path / "sfm.toml", tmp_path, "flags", "show", "99999")
    assert code == 4
    assert heavy == []


def test_without_a_config_the_client_looks_for_the_servers_daemon_and_says_it_is_not_running(
    tmp_path: Path,
) -> None:
    """No config file at all (a staff login without SFM_CONFIG): the packaged socket, and
    never a database made in the caller's folder."""
    if Path("/run/sfm/sfm.sock").exists():
        pytest.skip("a daemon's socket is at the packaged path on this machine")
    done = subprocess.run(
        [sys.executable, "-m", "monitor.cli", "flags", "list"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "SFM_LANG": "zh", "PYTHONPATH": str(Path.cwd())},
    )
    assert done.returncode == 3
    assert done.stderr.strip() == "sfm: 守护进程未运行（/run/sfm/sfm.sock）；请联系运维人员"
    assert list(tmp_path.iterdir()) == []
