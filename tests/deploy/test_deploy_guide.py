"""deploy/README.md, followed as root on this machine, on SQLite and on PostgreSQL.

The guide's own shell blocks (marked `<!-- tests/deploy: NAME -->`) are run as written,
with three substitutions only: `/path/to/sfm` is this checkout, the example
PostgreSQL URL is a schema of the test server (the line is dropped on SQLite), and
the register file is the demo register. The users, groups and paths are the guide's
own (`sfm`, `sfm-staff`, `zhangsan`, /etc/sfm, /var/lib/sfm, /opt/sfm, /run/sfm):
the test refuses to touch a machine where any of them exists already, unless an
earlier run of this test left them (its marker file says so), and removes them all
afterwards. One run at a time per machine (a lock file).

What it proves: a virtualenv of the system Python (/usr/bin/python3) installs sfm
with constraints.txt (pip takes wheels from its cache or local mirror where it has
them, from PyPI otherwise), `sfm init` makes the state folder and the secrets file
with their owner and modes, `db upgrade` run as the service user reads the same
secrets file as the daemon (on PostgreSQL it migrates the server's schema, not a
SQLite file), the daemon makes or asks for its socket's folder, the bureau's
operator imports the register and decides through the socket, and a user outside
the staff group is refused. What it does not: systemd itself (PID 1 is not systemd
here), so the unit is checked with `systemd-analyze verify` where that exists,
and the service is started as the unit would start it, by `runuser`.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import DEMO_FACTORIES, postgres_schema

ROOT = Path(__file__).parents[2]
GUIDE = ROOT / "deploy" / "README.md"
SERVICE, STAFF, OPERATOR = "sfm", "sfm-staff", "zhangsan"
OUTSIDER = "sfmtest-outsider"  # an OS user with a login, not in the staff group
PATHS = [
    Path(p)
    for p in (
        "/etc/sfm",
        "/var/lib/sfm",
        "/opt/sfm",
        "/run/sfm",
        "/usr/local/bin/sfm",
        "/etc/profile.d/sfm.sh",
        "/etc/systemd/system/sfm.service",
    )
]
MARKER = Path("/var/tmp/sfm-deploy-test.owned")
LOCK = Path("/var/tmp/sfm-deploy-test.lock")
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
EXAMPLE_URL = "postgresql://sfm:PASSWORD@127.0.0.1/sfm"
NOT_THE_PROJECT = (
    ".git", ".venv", "build", "*.egg-info", "var", "__pycache__", ".*_cache", "dist",
)  # fmt: skip

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("useradd") or not shutil.which("runuser"),
    reason="the deploy guide is followed as root, with useradd and runuser (CI runs as root)",
)


def guide_block(name: str) -> str:
    """The shell block of deploy/README.md that follows `<!-- tests/deploy: NAME -->`."""
    text = GUIDE.read_text(encoding="utf-8")
    found = re.search(rf"<!-- tests/deploy: {name} -->\n```sh\n(.*?)```", text, re.S)
    assert found, f"deploy/README.md has no block marked tests/deploy: {name}"
    return found.group(1)


def _exists(name: str, database: str) -> bool:
    return subprocess.run(["getent", database, name], capture_output=True).returncode == 0


def _leftovers() -> list[str]:
    found = [str(path) for path in PATHS if path.exists() or path.is_symlink()]
    found += [f"user {u}" for u in (SERVICE, OPERATOR, OUTSIDER) if _exists(u, "passwd")]
    found += [f"group {g}" for g in (STAFF, SERVICE) if _exists(g, "group")]
    return found


def _pids(*selection: str) -> list[int]:
    found = subprocess.run(["pgrep", *selection], capture_output=True, text=True)
    return [int(pid) for pid in found.stdout.split()]


def _remove_everything() -> None:
    if _exists(SERVICE, "passwd"):  # a daemon of the guide's service user, left by a killed run
        for pid in _pids("-u", SERVICE):
            os.kill(pid, signal.SIGKILL)
    for user in (OPERATOR, OUTSIDER, SERVICE):
        if _exists(user, "passwd"):
            subprocess.run(["userdel", "--remove", user], capture_output=True)
    for group in (STAFF, SERVICE):
        if _exists(group, "group"):
            subprocess.run(["groupdel", group], capture_output=True)
    for path in PATHS:
        if path.is_symlink() or path.is_file():
            path.unlink()
        elif path.exists():
            shutil.rmtree(path)
    MARKER.unlink(missing_ok=True)


@pytest.fixture
def machine() -> Iterator[None]:
    """The guide's users and paths, free for this test, removed afterwards."""
    with LOCK.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another developer's run finishes first
        if MARKER.exists():
            _remove_everything()  # a run of this test that was killed
        leftovers = _leftovers()
        if leftovers:
            pytest.skip(f"this machine has its own {', '.join(leftovers)}: not touched")
        MARKER.write_text(str(os.getpid()), encoding="utf-8")
        try:
            yield
        finally:
            _remove_everything()


def sh(
    script: str, *, check: bool = True, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """A block of the guide, run by bash as root with the system's PATH."""
    env = {"PATH": SYSTEM_PATH, "HOME": "/root", "LANG": "C.UTF-8", "SFM_LANG": "en"}
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd="/",
    )
    if check:
        assert result.returncode == 0, (
            f"{script}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
        )
    return result


def as_user(user: str, command: str) -> subprocess.CompletedProcess[str]:
    """What a staff member types in their own login shell."""
    return sh(f"runuser -l {user} -c {_quote('SFM_LANG=en ' + command)}", check=False)


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def mode_and_owner(path: str) -> tuple[str, str]:
    info = os.stat(path)
    import pwd

    return oct(info.st_mode & 0o777), pwd.getpwuid(info.st_uid).pw_name


@pytest.mark.parametrize(
    "database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_the_deploy_guide_works_as_written(
    database: str, machine: None, request: pytest.FixtureRequest
) -> None:
    url = None
    if database == "postgres":
        request.getfixturevalue("postgres_available")
        schemas = postgres_schema("sfm_deploy")
        url = schemas.__enter__()
        request.addfinalizer(lambda: schemas.__exit__(None, None, None))
    # the operator's OS account exists before the guide adds it to the staff group
    sh(f"useradd --create-home --shell /bin/bash {OPERATOR}")
    sh(f"useradd --create-home --shell /bin/bash {OUTSIDER}")

    # "a copy of the project": this checkout's files, without what building it left
    # behind (a stale build/ would install migrations this tree no longer has)
    copy = Path(tempfile.mkdtemp(prefix="sfm-copy-"))
    request.addfinalizer(lambda: shutil.rmtree(copy, ignore_errors=True))
    shutil.copytree(ROOT, copy / "sfm", ignore=shutil.ignore_patterns(*NOT_THE_PROJECT))
    source = copy / "sfm"
    install = guide_block("install").replace("/path/to/sfm", str(source))
    if url is None:
        install = "\n".join(line for line in install.splitlines() if EXAMPLE_URL not in line)
    else:
        assert EXAMPLE_URL in install
        install = install.replace(EXAMPLE_URL, url.replace("postgresql+psycopg", "postgresql"))
    installed = sh(install)

    # the state folder and the secrets file: the service user's alone
    assert mode_and_owner("/var/lib/sfm") == ("0o700", SERVICE)
    assert mode_and_owner("/etc/sfm/env") == ("0o600", SERVICE)
    assert mode_and_owner("/etc/sfm/sfm.toml") == ("0o644", "root")
    config = Path("/etc/sfm/sfm.toml").read_text(encoding="utf-8")
    assert 'env_file = "/etc/sfm/env"' in config
    assert 'file = "/var/lib/sfm/log/sfm.log"' in config  # the server config keeps a log file
    if url is None:
        assert mode_and_owner("/var/lib/sfm/sfm.db") == ("0o600", SERVICE)
        assert "upgraded" in installed.stdout or "schema" in installed.stdout
    else:
        # db upgrade read the secrets file: the server's schema, and no SQLite file
        assert not Path("/var/lib/sfm/sfm.db").exists()
        from sqlalchemy import create_engine, text

        engine = create_engine(url)
        with engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
        engine.dispose()

    # step 5 with systemd: the unit as the guide installs it
    unit_steps = "\n".join(
        line
        for line in _fenced_after("Then the service:")
        .replace("/path/to/sfm", str(source))
        .splitlines()
        if line.startswith("install ")
    )
    sh(unit_steps)
    if shutil.which("systemd-analyze"):  # both units, ExecStart in the guide's venv
        for unit in (
            "/etc/systemd/system/sfm.service",
            ROOT / "deploy/systemd/sfm-standby.service",
        ):
            verified = sh(f"systemd-analyze verify {unit}", check=False)
            assert verified.returncode == 0, verified.stdout + verified.stderr
            assert not verified.stdout.strip() and not verified.stderr.strip(), verified.stderr

    # without systemd: with no /run/sfm, the daemon says exactly what to make
    run_block = guide_block("run")
    make_folder, start = run_block.strip().splitlines()
    refused = sh(start, check=False, timeout=120)
    assert refused.returncode == 2, refused.stderr
    assert make_folder in refused.stderr  # "install -d -o sfm -g sfm-staff -m 0750 /run/sfm"

    sh(make_folder)
    daemon = subprocess.Popen(
        ["bash", "-euo", "pipefail", "-c", start],
        env={"PATH": SYSTEM_PATH, "LANG": "C.UTF-8", "SFM_LANG": "en"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        _wait_for_socket(Path("/run/sfm/sfm.sock"), daemon)
        assert mode_and_owner("/run/sfm") == ("0o750", SERVICE)
        assert os.stat("/run/sfm").st_gid == os.stat("/run/sfm/sfm.sock").st_gid

        # 6. the register, imported by the bureau's operator through the daemon
        home = Path(f"/home/{OPERATOR}")
        shutil.copy(DEMO_FACTORIES, home / "认定名单.csv")
        shutil.chown(home / "认定名单.csv", OPERATOR)
        register = guide_block("register").replace("认定名单.xlsx", "认定名单.csv")
        for line in register.splitlines():
            command = line.split("#")[0].strip()
            if command:
                done = as_user(OPERATOR, command)
                assert done.returncode == 0, f"{command}: {done.stdout}{done.stderr}"
        listed = as_user(OPERATOR, "sfm factories list --json")
        assert len(json.loads(listed.stdout)) == 34

        # a decision by a staff user through the socket, recorded under their name
        code = json.loads(listed.stdout)[0]["credit_code"]
        raised = as_user(
            OPERATOR,
            f"sfm flags raise {code} --rule art12.1-false-information --reason 'deploy test'",
        )
        assert raised.returncode == 0, raised.stderr
        [flag] = json.loads(as_user(OPERATOR, "sfm flags list --json").stdout)
        confirmed = as_user(OPERATOR, f"sfm flags confirm {flag['id']} --reason 'checked on site'")
        assert confirmed.returncode == 0, confirmed.stderr
        audit = json.loads(as_user(OPERATOR, f"sfm audit --factory {code} --json").stdout)
        assert [(e["actor"], e["change"]) for e in audit if e["subject"].startswith("flag")] == [
            (OPERATOR, "— → open"),
            (OPERATOR, "open → confirmed"),
        ]

        # someone outside the staff group is refused, and cannot read the database either
        outsider = as_user(OUTSIDER, "sfm flags list")
        assert outsider.returncode == 3, outsider.stdout + outsider.stderr
        assert "not allowed to reach the daemon" in outsider.stderr
        assert as_user(OUTSIDER, "cat /var/lib/sfm/sfm.db > /dev/null").returncode != 0
        assert as_user(OUTSIDER, "cat /etc/sfm/env").returncode != 0

        # what the daemon wrote is the service user's alone
        for written in Path("/var/lib/sfm").rglob("*"):
            mode = written.stat().st_mode & 0o777
            assert mode & 0o077 == 0, f"{written} is {oct(mode)}"
    finally:
        # SIGTERM to sfm itself (as systemctl stop does), not to runuser's session
        for pid in _pids("-s", str(daemon.pid), "-u", SERVICE):
            os.kill(pid, signal.SIGTERM)
        out, err = daemon.communicate(timeout=60)
    assert daemon.returncode == 0, err[-3000:]
    assert '"event": "daemon stopped"' in out


def _fenced_after(heading: str) -> str:
    text = GUIDE.read_text(encoding="utf-8")
    found = re.search(re.escape(heading) + r"\s*```sh\n(.*?)```", text, re.S)
    assert found, heading
    return found.group(1)


def _wait_for_socket(path: Path, daemon: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if path.is_socket():
            return
        if daemon.poll() is not None:
            _out, err = daemon.communicate()
            pytest.fail(f"sfm run exited {daemon.returncode}: {err[-3000:]}")
        time.sleep(0.2)
    pytest.fail("the daemon's socket did not appear within 120 s")
