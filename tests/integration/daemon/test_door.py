"""The daemon is the only door: staff commands from other OS users, identified by the kernel.

The test (root) starts `sfm run`; its callers are forked children that drop to the
`nobody` and `daemon` accounts before they connect, so SO_PEERCRED reports those
uids whatever the children's environment says.
"""

from __future__ import annotations

import contextlib
import io
import multiprocessing
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlmodel import Session, col

from monitor.storage.models import FlagAudit
from tests.conftest import write_config
from tests.integration.daemon.conftest import Daemon, wait_for
from tests.integration.test_flags import one, swept  # noqa: F401  (fixture)

pytestmark = pytest.mark.skipif(os.getuid() != 0, reason="callers are other OS users: needs root")

NOBODY, DAEMON_USER, NOGROUP = 65534, 1, 65534
DOOR_CONFIG = """
[operators.nobody]
name = "海淀区经信局 值班员"
scope = ["110108"]
[daemon]
socket = "{socket}"
socket_group = "nogroup"
"""


def _call(
    uid: int, gid: int, socket: str, argv: list[str], environ: dict[str, str], results: Any
) -> None:
    from monitor.cli.remote import ask_daemon

    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)
    os.environ.update(environ)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = ask_daemon(Path(socket), argv)
        except Exception as exc:  # a refusal before the daemon answers (the socket's mode)
            print(f"sfm: {exc}", file=err)
            code = getattr(exc, "exit_code", 1)
    results.put((code, out.getvalue(), err.getvalue()))


def call_as(
    uid: int, socket: Path, *argv: str, gid: int = NOGROUP, **environ: str
) -> tuple[int | None, str, str]:
    """Run `sfm ARGV` against the daemon from a child process that is `uid`."""
    fork = multiprocessing.get_context("fork")
    results = fork.Queue()
    child = fork.Process(target=_call, args=(uid, gid, str(socket), list(argv), environ, results))
    child.start()
    outcome = results.get(timeout=60)
    child.join(timeout=10)
    return outcome  # type: ignore[no-any-return]


@pytest.fixture
def door(swept: Engine, database_url: str, tmp_path: Path) -> Iterator[Path]:  # noqa: F811
    folder = Path(tempfile.mkdtemp(prefix="sfm-door-"))
    folder.chmod(0o755)  # the socket's own mode is what admits or refuses
    socket = folder / "sfm.sock"
    config = write_config(tmp_path, database_url, DOOR_CONFIG.format(socket=socket))
    daemon = Daemon(config, tmp_path)
    try:
        wait_for(socket.is_socket, what="the door to open")
        yield socket
    finally:
        daemon.kill()
        shutil.rmtree(folder, ignore_errors=True)


def staff_audit(engine: Engine, flag_id: int) -> list[tuple[str, str]]:
    with Session(engine) as session:
        rows = session.scalars(
            select(FlagAudit).where(col(FlagAudit.flag_id) == flag_id).order_by(FlagAudit.id)
        )
        return [(row.actor, row.to_state) for row in rows if row.actor != "sfm"]


def test_the_socket_admits_only_the_operators_group(door: Path) -> None:
    assert oct(door.stat().st_mode & 0o777) == "0o660"
    assert door.stat().st_gid == NOGROUP
    code, _out, err = call_as(DAEMON_USER, door, "flags", "list", gid=DAEMON_USER)
    assert code == 3
    assert "用户组" in err


def test_callers_act_as_their_uid_whatever_their_environment_and_config_say(
    door: Path,
    swept: Engine,  # noqa: F811
    tmp_path: Path,
) -> None:
    haidian = one(swept, "art12.2-terminated", "华芯微电子")  # 海淀区: nobody's district
    fengtai = one(swept, "art12.5-penalty", "燕化")  # 房山区: outside it
    forged = tmp_path / "forged.toml"
    forged.write_text(
        'allow_operator_override = true\n[operators.nobody]\nname = "x"\nscope = "municipal"\n',
        encoding="utf-8",
    )
    forged.chmod(0o644)
    pretending = {"LOGNAME": "li", "USER": "li", "SFM_OPERATOR": "li"}

    code, _out, err = call_as(
        NOBODY,
        door,
        "--config",
        str(forged),
        "flags",
        "confirm",
        str(fengtai.id),
        "--reason",
        "冒充市局",
        **pretending,
    )
    assert code == 3, err
    assert "房山区" in err
    assert staff_audit(swept, fengtai.id or 0) == []

    code, out, err = call_as(
        NOBODY, door, "flags", "confirm", str(haidian.id), "--reason", "已核实注销", **pretending
    )
    assert code == 0, err
    assert "已确认" in out
    assert staff_audit(swept, haidian.id or 0) == [("nobody", "confirmed")]


def test_reads_come_back_through_the_door_and_unknown_users_are_refused(
    door: Path,
    swept: Engine,  # noqa: F811
) -> None:
    code, out, err = call_as(NOBODY, door, "flags", "list", "--json")
    assert code == 0, err
    assert '"rule_id"' in out
    code, _out, err = call_as(NOBODY, door, "flags", "show", "99999")
    assert code == 4
    code, _out, err = call_as(NOBODY, door, "run")
    assert code == 2
    assert "守护进程" in err


def test_files_are_opened_by_the_caller_and_handed_over(door: Path, tmp_path: Path) -> None:
    """The daemon never opens a path a caller names: the caller's own permissions decide."""
    from tests.conftest import DEMO_FACTORIES

    folder = Path(tempfile.mkdtemp(prefix="sfm-files-"))
    try:
        folder.chmod(0o755)
        rows = DEMO_FACTORIES.read_text(encoding="utf-8").splitlines()
        register = folder / "海淀.csv"
        register.write_text(
            "\n".join([rows[0], *[r for r in rows if "海淀区" in r]]) + "\n", encoding="utf-8"
        )
        os.chown(register, NOBODY, NOGROUP)
        register.chmod(0o600)  # only the caller can read it
        code, out, err = call_as(NOBODY, door, "factories", "import", str(register), "--dry-run")
        assert code == 0, err
        assert "海淀.csv" in out and "4 家" in out

        secret = tmp_path / "secret.csv"  # the daemon (root) could read it; the caller cannot
        secret.write_text(rows[0] + "\n", encoding="utf-8")
        code, _out, err = call_as(NOBODY, door, "factories", "import", str(secret))
        assert code == 2
        assert "Permission denied" in err

        writable = folder / "out"
        writable.mkdir()
        os.chown(writable, NOBODY, NOGROUP)
        code, out, err = call_as(NOBODY, door, "export", "flags", str(writable / "flags.csv"))
        assert code == 0, err
        exported = writable / "flags.csv"
        assert exported.stat().st_uid == NOBODY
        assert "统一社会信用代码" in exported.read_text(encoding="utf-8-sig")
        assert [p.name for p in writable.iterdir()] == ["flags.csv"]  # no draft left behind

        code, _out, err = call_as(NOBODY, door, "export", "flags", str(tmp_path / "x.csv"))
        assert code == 2  # a folder the caller cannot write to
        assert not (tmp_path / "x.csv").exists()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
