"""A bad configuration stops the start with its reason; a failing job is seen failing."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import Engine

from monitor.storage.db import session_scope
from monitor.storage.models import DaemonLeader
from tests.integration.alerts.conftest import free_port, write_alert_config
from tests.integration.daemon.conftest import Daemon, wait_for

SECRET = "Qz7x"  # short on purpose: masked whatever its length


def _sfm(config: Path, *argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SFM_LANG": "en", "DROP_KEY": SECRET}
    return subprocess.run(
        [sys.executable, "-m", "monitor.cli", "--config", str(config), *argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _nobody_leads(engine: Engine) -> bool:
    with session_scope(engine) as session:
        return session.get(DaemonLeader, 1) is None


CONNECTOR = """
[[connectors]]
name = "bureau-drop"
kind = "{kind}"
topic = "safety"
path = "{path}"
[connectors.fields]
credit_code = "统一社会信用代码"
record_id = "编号"
category = "类型"
occurred_on = "日期"
"""


@pytest.mark.parametrize("broken", ["authorities", "template", "connector"])
def test_a_bad_configuration_stops_the_start_naming_file_and_key(
    broken: str, engine: Engine, database_url: str, tmp_path: Path
) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    extra = CONNECTOR.format(kind="files", path=drop)
    if broken == "connector":
        extra = CONNECTOR.format(kind="no-such-plugin", path=drop).replace(
            'path = "', 'url = "https://h/x?code={credit_code}"\n# "'
        )
    if broken == "template":
        (tmp_path / "templates" / "zh").mkdir(parents=True)
        (tmp_path / "templates" / "zh" / "digest.md.j2").write_text(
            "{{ 每日汇总 }\n{% for flag in flags %}\n", encoding="utf-8"
        )
        extra = 'templates = "templates"\n' + extra
    config = write_alert_config(tmp_path, database_url, {}, extra=extra)
    if broken == "authorities":
        with (tmp_path / "authorities.toml").open("a", encoding="utf-8") as file:
            file.write('[districts.110108]\nname = "海淀"\nurl = ["mailto://x"]\n')

    started = _sfm(config, "run", "--once", cwd=tmp_path)

    assert started.returncode == 2, started.stdout + started.stderr
    reason = started.stderr
    expected = {
        "authorities": [str(tmp_path / "authorities.toml"), "districts.110108.url"],
        "template": [str(tmp_path / "templates" / "zh" / "digest.md.j2"), ":1:"],
        "connector": [str(config), "connectors[0] (bureau-drop)", "no-such-plugin"],
    }[broken]
    for needed in expected:
        assert needed in reason, reason
    assert _nobody_leads(engine)  # refused before the lock: no standby takes over to fail


def _get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except OSError:
        return 0, ""


def test_a_failing_job_says_why_and_since_when_and_fails_healthz_after_three_runs(
    register: Engine, database_url: str, tmp_path: Path, daemons: list[Daemon]
) -> None:
    drop = tmp_path / f"drop-{SECRET}"
    drop.mkdir()
    port = free_port()
    extra = (
        '[schedule]\nsafety_sweep = "* * * * * *"\n'
        f"[daemon]\nhttp_port = {port}\n"
        + CONNECTOR.format(kind="files", path=str(tmp_path / "drop-${DROP_KEY}"))
    )
    config = write_alert_config(tmp_path, database_url, {}, extra=extra)
    os.environ["DROP_KEY"] = SECRET
    try:
        daemon = Daemon(config, tmp_path)
    finally:
        del os.environ["DROP_KEY"]
    daemons.append(daemon)
    assert wait_for(lambda: _get(port, "/healthz")[0] == 200, what="/healthz up")

    shutil.rmtree(drop)  # the drop folder goes away: each safety sweep now fails
    wait_for(lambda: _get(port, "/healthz")[0] == 503, timeout=60, what="/healthz 503")

    report = json.loads(_sfm(config, "status", "--json", cwd=tmp_path).stdout)
    [safety] = [job for job in report["jobs"] if job["id"] == "safety-sweep"]
    assert safety["last_outcome"] in ("failed", "running")
    assert safety["failures_in_row"] >= 3 and safety["failing_since"]
    assert safety["last_error"].startswith("monitor.errors.SweepIncomplete: source bureau-drop")
    shown = _sfm(config, "status", cwd=tmp_path).stdout
    assert "failing:" in shown and "runs in a row since" in shown

    drop.mkdir()  # fixed: the next sweep succeeds and health is back
    wait_for(lambda: _get(port, "/healthz")[0] == 200, timeout=60, what="/healthz back")
    assert daemon.stop() == 0

    stdout = daemon.out.read_text(encoding="utf-8")
    failures = [json.loads(line) for line in stdout.splitlines() if '"job failed"' in line]
    assert any("source bureau-drop failed" in line["error"] for line in failures)
    # each says its type and message, on stdout where the traceback is not
    # (whatever else failed on a loaded machine: a stop mid-sweep, a busy database)
    assert all(re.match(r"[\w.]+: \S", line["error"]) for line in failures), failures
    everything = stdout + daemon.err.read_text(encoding="utf-8")
    everything += (tmp_path / "sfm.log").read_text(encoding="utf-8") + json.dumps(report)
    assert SECRET not in everything


def test_the_daemon_makes_its_sockets_folder_for_the_staff_group(tmp_path: Path) -> None:
    import grp

    from monitor.api.server import make_socket_folder

    group = grp.getgrgid(os.getgid()).gr_name
    socket_path = tmp_path / "run" / "sfm" / "sfm.sock"
    old = os.umask(0o077)  # as sfm runs: the folder's group bits are set on purpose
    try:
        make_socket_folder(socket_path, group, os.getgid())
    finally:
        os.umask(old)
    folder = socket_path.parent.stat()
    assert folder.st_mode & 0o777 == 0o750 and folder.st_gid == os.getgid()
