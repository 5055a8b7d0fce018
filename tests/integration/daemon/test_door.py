"""The daemon's door: the kernel says who calls, the client checks who answers.

The test (root) starts `sfm run`; its callers are forked children that drop to the
`nobody` and `daemon` accounts before they connect, so SO_PEERCRED reports those uids
whatever the children's environment and config say. A forked child cannot import what
the parent has not: this interpreter's own library is root's alone on this machine, so
`_preload` imports the command's path before the child drops its rights.
"""

from __future__ import annotations

import contextlib
import io
import json
import multiprocessing
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlmodel import Session, col

from monitor.storage.models import Factory, Flag, FlagAudit
from tests.conftest import write_config
from tests.integration.daemon.conftest import Daemon, one_line, wait_for
from tests.integration.test_flags import swept  # noqa: F401  (fixture)

pytestmark = pytest.mark.skipif(os.getuid() != 0, reason="callers are other OS users: needs root")

NOBODY, DAEMON_USER, NOGROUP = 65534, 1, 65534
DOOR_CONFIG = """
[operators.nobody]
name = "海淀区经信局 值班员"
scope = ["110108"]
[operators.daemon]
name = "东城区经信局 值班员"
scope = ["110101"]
[daemon]
socket = "{socket}"
socket_group = "nogroup"
"""


def _preload(argv: list[str]) -> None:
    """Import, while still root, what the command will import (typer's own lazy parts
    included, by asking for the command's help)."""
    import asyncio  # noqa: F401
    import secrets  # noqa: F401

    import httpcore  # noqa: F401
    import rich.console
    import rich.table  # noqa: F401
    import structlog  # noqa: F401

    import monitor.api.client  # noqa: F401
    from monitor.cli import run

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        run([*argv, "--help"])


def _calls(
    index: int,
    uid: int,
    gid: int,
    socket_path: str | None,
    argv: list[str],
    environ: dict[str, str],
    cwd: str | None,
    rounds: int,
    start: Any,
    results: Any,
) -> None:
    from monitor.cli import run

    for name in ("SFM_CONFIG", "SFM_SOCKET", "SFM_OPERATOR", "SFM_API_TIMEOUT_S"):
        os.environ.pop(name, None)
    if socket_path is not None:
        os.environ["SFM_SOCKET"] = socket_path
    os.environ.update(environ)
    os.chdir(cwd or "/")
    _preload(argv)
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)
    if start is not None:
        start.wait(30)
    for _ in range(rounds):
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = run(argv)
        results.put((index, (code, out.getvalue(), err.getvalue())))


def call_as(
    uid: int,
    socket_path: Path | None,
    *argv: str,
    gid: int = NOGROUP,
    cwd: Path | None = None,
    **environ: str,
) -> tuple[int | None, str, str]:
    """Run `sfm ARGV` from a child process that is `uid` (SFM_SOCKET = `socket_path`)."""
    [[outcome]] = calls_at_once([(uid, gid, socket_path, list(argv), environ, cwd)], rounds=1)
    return outcome


def calls_at_once(
    callers: list[tuple[int, int, Path | None, list[str], dict[str, str], Path | None]],
    rounds: int,
) -> list[list[tuple[int | None, str, str]]]:
    """Each caller (uid, gid, socket, argv, environ, cwd) in its own child, all started
    together, each running its command `rounds` times; each caller's outcomes."""
    fork = multiprocessing.get_context("fork")
    results = fork.Queue()
    start = fork.Event() if len(callers) > 1 else None
    children = [
        fork.Process(
            target=_calls,
            args=(
                index,
                uid,
                gid,
                None if path is None else str(path),
                argv,
                environ,
                None if cwd is None else str(cwd),
                rounds,
                start,
                results,
            ),
        )
        for index, (uid, gid, path, argv, environ, cwd) in enumerate(callers)
    ]
    for child in children:
        child.start()
    if start is not None:
        start.set()
    outcomes: list[list[tuple[int | None, str, str]]] = [[] for _ in callers]
    for _ in range(len(callers) * rounds):
        index, outcome = results.get(timeout=120)
        outcomes[index].append(outcome)
    for child in children:
        child.join(timeout=10)
    return outcomes


def sfm(*argv: str, cwd: Path | None = None, **environ: str) -> subprocess.CompletedProcess[str]:
    """`sfm ARGV` as root, in its own process (a command line as an operator types it)."""
    env = {**os.environ, "SFM_LANG": "zh", **environ}
    for name in ("SFM_CONFIG", "SFM_SOCKET", "SFM_OPERATOR"):
        if name not in environ:
            env.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "monitor.cli", *argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def public_folder(prefix: str) -> Path:
    """A folder every user may enter (tmp_path is root's alone)."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    folder.chmod(0o755)
    return folder


@pytest.fixture
def door(swept: Engine, database_url: str, tmp_path: Path) -> Iterator[Path]:  # noqa: F811
    folder = public_folder("sfm-door-")  # the socket's own mode is what admits or refuses
    socket_path = folder / "sfm.sock"
    config = write_config(tmp_path, database_url, DOOR_CONFIG.format(socket=socket_path))
    daemon = Daemon(config, tmp_path)
    try:
        wait_for(socket_path.is_socket, what="the door to open")
        yield socket_path
    finally:
        daemon.kill()
        shutil.rmtree(folder, ignore_errors=True)


def requests_logged(log_file: Path) -> list[dict[str, Any]]:
    lines = log_file.read_text(encoding="utf-8").splitlines()
    return [entry for entry in map(json.loads, lines) if entry.get("event") == "request"]


# ---------------------------------------------------------------- who calls


def test_the_socket_admits_only_the_operators_group(door: Path) -> None:
    assert oct(door.stat().st_mode & 0o777) == "0o660"
    assert door.stat().st_gid == NOGROUP
    code, _out, err = call_as(DAEMON_USER, door, "flags", "list", gid=DAEMON_USER)
    assert code == 3
    assert "只有已配置操作员所在的用户组可以连接" in one_line(err)


def test_two_users_at_once_are_each_their_uid_whatever_they_claim(
    door: Path, tmp_path: Path
) -> None:
    """Both call together, each claiming to be the other (LOGNAME, USER, SFM_OPERATOR and
    a forged config): every request is logged as its caller's uid and that uid's operator."""
    forged = public_folder("sfm-forged-") / "forged.toml"
    forged.write_text(
        'allow_operator_override = true\n[operators.nobody]\nname = "冒充"\nscope = "municipal"\n',
        encoding="utf-8",
    )
    forged.chmod(0o644)
    as_daemon = {"LOGNAME": "daemon", "USER": "daemon", "SFM_OPERATOR": "daemon"}
    as_nobody = {"LOGNAME": "nobody", "USER": "nobody", "SFM_OPERATOR": "nobody"}
    before = len(requests_logged(tmp_path / "sfm.log"))
    rounds = 4
    listing = ["flags", "list", "--json"]
    outcomes = calls_at_once(
        [
            (NOBODY, NOGROUP, door, ["--config", str(forged), *listing], as_daemon, None),
            (DAEMON_USER, NOGROUP, door, listing, as_nobody, None),
        ],
        rounds=rounds,
    )
    shutil.rmtree(forged.parent)
    answers = [outcome for each in outcomes for outcome in each]
    assert all(code == 0 for code, _out, _err in answers), answers
    assert all('"rule_id"' in out for _code, out, _err in answers)
    logged = requests_logged(tmp_path / "sfm.log")[before:]
    who = sorted((entry["uid"], entry["operator"]) for entry in logged)
    assert who == [(DAEMON_USER, "daemon")] * rounds + [(NOBODY, "nobody")] * rounds
    assert {entry["operation"] for entry in logged} == {"GET /flags"}


HAIDIAN, DONGCHENG = "911101085214771897", "911101012215955975"  # nobody's, daemon's district


def test_two_users_raising_at_once_are_recorded_as_their_uid_within_its_scope(
    door: Path,
    swept: Engine,  # noqa: F811
) -> None:
    """Four raises at once, each caller claiming to be the other: the audit names each
    raise's kernel uid, and each uid's own scope decides what it may raise."""
    as_daemon = {"LOGNAME": "daemon", "USER": "daemon", "SFM_OPERATOR": "daemon"}
    as_nobody = {"LOGNAME": "nobody", "USER": "nobody", "SFM_OPERATOR": "nobody"}

    def raising(code: str) -> list[str]:
        return ["flags", "raise", code, "--rule", "art12.1-false-information", "--reason", "身份"]

    outcomes = calls_at_once(
        [
            (NOBODY, NOGROUP, door, raising(HAIDIAN), as_daemon, None),
            (NOBODY, NOGROUP, door, raising(DONGCHENG), as_daemon, None),
            (DAEMON_USER, NOGROUP, door, raising(DONGCHENG), as_nobody, None),
            (DAEMON_USER, NOGROUP, door, raising(HAIDIAN), as_nobody, None),
        ],
        rounds=1,
    )
    codes = [code for [(code, _out, _err)] in outcomes]
    assert codes == [0, 3, 0, 3], outcomes
    assert "东城区" in one_line(outcomes[1][0][2])
    assert "海淀区" in one_line(outcomes[3][0][2])
    with Session(swept) as session:
        recorded = session.execute(
            select(col(FlagAudit.actor), col(Factory.credit_code))
            .join(Flag, col(Flag.id) == col(FlagAudit.flag_id))
            .join(Factory, col(Factory.id) == col(Flag.factory_id))
            .where(col(FlagAudit.reason) == "身份")
        )
        assert sorted(tuple(row) for row in recorded) == [
            ("daemon", DONGCHENG),
            ("nobody", HAIDIAN),
        ]


def test_answers_and_refusals_come_back_through_the_door(door: Path) -> None:
    code, out, err = call_as(NOBODY, door, "status")
    assert code == 0, err
    assert "守护进程" in out
    code, _out, err = call_as(NOBODY, door, "flags", "show", "99999")
    assert code == 4
    assert "99999" in one_line(err)


def test_the_socket_option_and_the_environment_name_the_daemon(door: Path) -> None:
    """`--socket` wins over SFM_SOCKET, which wins over the config: `nobody` owns no database
    here, so only the daemon named can answer."""
    elsewhere = str(door.parent / "no-daemon.sock")
    code, _out, err = call_as(NOBODY, None, "--socket", str(door), "status")
    assert code == 0, err
    code, _out, err = call_as(NOBODY, door, "status")  # SFM_SOCKET
    assert code == 0, err
    code, _out, err = call_as(NOBODY, None, "--socket", str(door), "status", SFM_SOCKET=elsewhere)
    assert code == 0, err
    code, _out, err = call_as(NOBODY, door, "--socket", elsewhere, "status")
    assert code == 3
    assert one_line(err) == f"sfm: 守护进程未运行（{elsewhere}）；请联系运维人员"


def test_an_export_is_written_by_the_caller_with_its_own_rights(door: Path) -> None:
    """The daemon sends the file as the answer's body; the caller writes it where its own
    command line said, as itself, or cannot."""
    folder = public_folder("sfm-export-")
    try:
        writable = folder / "out"
        writable.mkdir()
        os.chown(writable, NOBODY, NOGROUP)
        exported = writable / "flags.csv"
        code, _out, err = call_as(NOBODY, door, "export", "flags", str(exported))
        assert code == 0, err
        assert exported.stat().st_uid == NOBODY
        assert "统一社会信用代码" in exported.read_text(encoding="utf-8-sig")
        assert [path.name for path in writable.iterdir()] == ["flags.csv"]  # no draft left

        code, _out, err = call_as(NOBODY, door, "export", "flags", str(folder / "x.csv"))
        assert code != 0  # a folder the caller may not write to (the daemon, root, could)
        assert "Permission denied" in one_line(err)
        assert not (folder / "x.csv").exists()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# ---------------------------------------------------------------- who answers


def _fake_daemon(path: str, ready: Any, stop: Any, told: Any) -> None:
    """A server bound by `nobody` at the daemon's path: it counts what it is sent."""
    os.setgroups([])
    os.setgid(NOGROUP)
    os.setuid(NOBODY)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    os.chmod(path, 0o666)
    server.listen(8)
    server.settimeout(0.2)
    ready.set()
    connections, received = 0, 0
    while not stop.is_set():
        try:
            connection, _ = server.accept()
        except TimeoutError:
            continue
        connections += 1
        connection.settimeout(1.0)
        with contextlib.suppress(OSError), connection:
            while chunk := connection.recv(65536):
                received += len(chunk)
    told.put((connections, received))


def test_a_server_bound_by_another_user_is_sent_nothing(tmp_path: Path) -> None:
    folder = public_folder("sfm-fake-")
    os.chown(folder, NOBODY, NOGROUP)  # a socket folder another user may write to
    path = folder / "sfm.sock"
    config = tmp_path / "sfm.toml"
    config.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path / "sfm.db"}"\n[logging]\nfile = ""\n'
        f'[daemon]\nsocket = "{path}"\nuser = "daemon"\n',
        encoding="utf-8",
    )
    fork = multiprocessing.get_context("fork")
    ready, stop, told = fork.Event(), fork.Event(), fork.Queue()
    fake = fork.Process(target=_fake_daemon, args=(str(path), ready, stop, told))
    fake.start()
    try:
        assert ready.wait(30)
        done = sfm("--config", str(config), "status")
        stop.set()
        connections, received = told.get(timeout=30)
    finally:
        stop.set()
        fake.join(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)
    assert done.returncode == 3, done.stderr
    line = one_line(done.stderr)
    assert str(path) in line and "nobody" in line and "未发送任何内容" in line
    assert connections >= 1  # the client did reach it, and sent it not a byte
    assert received == 0
    # The daemon never names a path for the client to open: the API's answers are JSON
    # and downloads are response bodies the client writes where its own command line
    # said (monitor/api/client.py); the line protocol that passed paths is gone.


# ---------------------------------------------------------------- no daemon, no config


def test_no_daemon_and_no_right_to_the_database_is_one_line(tmp_path: Path) -> None:
    folder = public_folder("sfm-down-")
    try:
        private = folder / "private"
        private.mkdir(mode=0o700)
        socket_path = folder / "sfm.sock"
        for database in (folder / "sfm.db", private / "sfm.db"):
            database.write_bytes(b"")  # root's, as the service user's would be
            config = folder / "sfm.toml"
            config.write_text(
                f'[database]\nurl = "sqlite:///{database}"\n[logging]\nfile = ""\n'
                f'[daemon]\nsocket = "{socket_path}"\n',
                encoding="utf-8",
            )
            config.chmod(0o644)
            code, _out, err = call_as(NOBODY, None, "--config", str(config), "status")
            assert code == 3
            assert one_line(err) == f"sfm: 守护进程未运行（{socket_path}）；请联系运维人员"
        # no config at all, in a folder nobody may write to: the packaged socket
        code, _out, err = call_as(NOBODY, None, "status", cwd=folder)
        assert code == 3
        assert "守护进程未运行" in one_line(err)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_named_config_that_is_missing_or_broken_is_refused_beside_a_daemon(
    swept: Engine,  # noqa: F811
    database_url: str,
    tmp_path: Path,
) -> None:
    """A daemon listens where a command in this folder finds it (config/sfm.toml names its
    database, the socket beside it); a `--config` or SFM_CONFIG that is missing or not
    TOML is still exit 2, never replaced by that daemon."""
    (tmp_path / "config").mkdir()
    config = write_config(tmp_path / "config", database_url)
    daemon = Daemon(config, tmp_path)
    try:
        wait_for(Path(database_url[len("sqlite:///") :] + ".sock").is_socket, what="the door")
        found = sfm("status", cwd=tmp_path)
        assert found.returncode == 0, found.stderr
        broken = tmp_path / "broken.toml"
        broken.write_text("[database\nurl = 1\n", encoding="utf-8")
        for argv, environ, said in (
            (["--config", "missing.toml"], {}, "文件不存在"),
            (["--config", str(broken)], {}, "不是有效的 TOML"),
            ([], {"SFM_CONFIG": "missing.toml"}, "文件不存在"),
        ):
            done = sfm(*argv, "status", cwd=tmp_path, **environ)
            assert done.returncode == 2, (argv, environ, done.stdout, done.stderr)
            assert said in one_line(done.stderr)
            assert not done.stdout
    finally:
        daemon.kill()
