"""What the image, compose and the pinned versions promise, checked against each other."""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

import pytest

from monitor.cli import run
from monitor.config import load_config

ROOT = Path(__file__).parents[2]
DOCKERFILE = (ROOT / "deploy" / "Dockerfile").read_text(encoding="utf-8")


def _name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_every_dependency_is_pinned_by_the_constraints_file() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wanted = {_name(r) for r in project["dependencies"]}
    wanted |= {_name(r) for extra in project["optional-dependencies"].values() for r in extra}
    wanted.discard("sfm")
    pinned = {
        _name(line): line.split("==")[1].split()[0]
        for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines()
        if "==" in line and not line.startswith("#")
    }
    assert sorted(wanted - set(pinned)) == [], "run `make constraints`"


def test_every_0x_dependency_and_typer_has_a_cap() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    pinned = {
        _name(line): line.split("==")[1].split()[0]
        for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines()
        if "==" in line and not line.startswith("#")
    }
    requirements = [*project["dependencies"], *project["optional-dependencies"]["test"]]
    requirements += project["optional-dependencies"]["simulator"]
    uncapped = [
        r
        for r in requirements
        if _name(r) in pinned
        and (pinned[_name(r)].startswith("0.") or _name(r) == "typer")
        and "<" not in r
    ]
    assert uncapped == []


def test_the_image_runs_the_suites_python_and_installs_with_the_constraints() -> None:
    [image] = re.findall(r"^FROM python:(\d+\.\d+)-slim", DOCKERFILE, re.M)
    assert image == f"{sys.version_info.major}.{sys.version_info.minor}"
    assert "--constraint constraints.txt" in DOCKERFILE
    assert "--constraint $(CONSTRAINTS)" in (ROOT / "Makefile").read_text(encoding="utf-8")


def test_a_container_config_serves_the_port_the_health_check_reads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["init", str(tmp_path / "etc"), "--state-dir", str(tmp_path / "state"),
                "--container"]) == 0  # fmt: skip
    settings = load_config(tmp_path / "etc" / "sfm.toml", environ={}).settings
    [port] = re.findall(r"127\.0\.0\.1:(\d+)/healthz", DOCKERFILE)
    assert settings.daemon.http_port == int(port)
    assert settings.env_file == ""  # a container's secrets are its environment
    assert not (tmp_path / "etc" / "env").exists()


def test_a_server_config_names_its_secrets_file_and_keeps_a_log(tmp_path: Path) -> None:
    etc, state = tmp_path / "etc", tmp_path / "state"
    assert run(["init", str(etc), "--state-dir", str(state)]) == 0
    assert (etc / "env").stat().st_mode & 0o777 == 0o600
    assert (etc / "sfm.toml").stat().st_mode & 0o777 == 0o644
    assert state.stat().st_mode & 0o777 == 0o700
    settings = load_config(etc / "sfm.toml", environ={}).settings
    assert settings.env_file == str(etc / "env")
    assert settings.logging.file == str(state / "log" / "sfm.log")
    assert settings.daemon.http_port == 0
