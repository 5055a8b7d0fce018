"""A non-editable install, used as an operator would: no source tree, a config elsewhere."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).parents[2]


def _run(*argv: str | Path, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def test_a_wheel_installed_in_a_fresh_virtualenv_runs_every_command(tmp_path: Path) -> None:
    # Build the wheel from this tree, install it (not editable) into a new virtualenv
    # whose dependencies come from the test environment's site-packages, read as a
    # plain path so that the editable install there is not seen.
    wheels = tmp_path / "dist"
    built = _run(
        sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
        "--quiet", "-w", wheels, ROOT, cwd=tmp_path, env=dict(os.environ),
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    [wheel] = list(wheels.glob("sfm-*.whl"))
    venv = tmp_path / "venv"
    assert (
        _run(
            sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp_path, env=dict(os.environ)
        ).returncode
        == 0
    )
    python = venv / "bin" / "python"
    purelib = _run(
        python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])",
        cwd=tmp_path, env={},
    ).stdout.strip()  # fmt: skip
    (Path(purelib) / "test_dependencies.pth").write_text(
        sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8"
    )
    installed = _run(
        sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--quiet", wheel,
        cwd=tmp_path, env=dict(os.environ),
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr

    work = tmp_path / "server"
    work.mkdir()
    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path), "SFM_LANG": "en"}
    where = _run(python, "-c", "import monitor; print(monitor.__file__)", cwd=work, env=env)
    assert where.stdout.startswith(purelib), where.stdout + where.stderr

    sfm = venv / "bin" / "sfm"
    init = _run(sfm, "init", "etc", "--state-dir", work / "state", cwd=work, env=env)
    assert init.returncode == 0, init.stderr
    assert (work / "etc" / "sfm.toml").is_file() and (work / "etc" / "authorities.toml").is_file()
    for written in ("sfm.toml", "authorities.toml"):  # no secrets, none needed to start
        lines = (work / "etc" / written).read_text(encoding="utf-8").splitlines()
        assert not [line for line in lines if "${" in line and not line.lstrip().startswith("#")]
    config = str(work / "etc" / "sfm.toml")
    for command in (
        ["config", "check"],
        ["db", "upgrade"],
        ["run", "--once"],
        ["status"],
        ["notify", "test", "municipal"],
    ):
        result = _run(sfm, "--config", config, *command, cwd=work, env=env)
        assert result.returncode == 0, f"sfm {' '.join(command)}: {result.stderr}"
    # the packaged templates rendered a test message to the packaged local sink (the weekly
    # overview waits for its weekday, and is not sent with nothing in it)
    sent = [p.read_text(encoding="utf-8") for p in (work / "var/outbox/municipal").glob("*.md")]
    assert [text for text in sent if "通知渠道测试" in text and "依据：" in text]
    assert (work / "state" / "sfm.db").is_file()
    again = _run(sfm, "init", "etc", cwd=work, env=env)
    assert again.returncode == 3 and "overwrite" in again.stderr
