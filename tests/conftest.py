"""Shared fixtures: a database on SQLite and on the real PostgreSQL server, and the CLI."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from monitor.operators import Operator
from monitor.storage import db

if TYPE_CHECKING:
    from connectors.settings import ConnectorSettings
    from connectors.simulator import RunningSimulator

POSTGRES_URL = os.environ.get(
    "SFM_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
CONFIG_DIR = Path(__file__).parents[1] / "config"
DEFAULTS_DIR = Path(__file__).parents[1] / "monitor" / "defaults"
DEMO_FACTORIES = DEFAULTS_DIR / "demo" / "factories.csv"
DEMO_AUTHORITIES = DEFAULTS_DIR / "authorities.toml"


# Who imports the register in tests: a municipal operator, whose scope is every district.
REGISTRAR = Operator("tester", "测试员", "municipal")


def _postgres_unavailable() -> str | None:
    try:
        engine = db.make_engine(POSTGRES_URL)
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:  # any failure to connect means "no server here"
        return f"PostgreSQL at {POSTGRES_URL} is not reachable: {type(exc).__name__}: {exc}"
    return None


@pytest.fixture(scope="session")
def postgres_available() -> None:
    reason = _postgres_unavailable()
    if reason is None:
        return
    if os.environ.get("SFM_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"SFM_REQUIRE_POSTGRES=1 but {reason}")
    pytest.skip(reason)


@contextmanager
def postgres_schema(prefix: str = "sfm_test") -> Iterator[str]:
    """A fresh schema on the real server, dropped afterwards: the URL that works in it."""
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = db.make_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def postgres_url(postgres_available: None) -> Iterator[str]:
    """A fresh schema on the real server for one test, dropped afterwards."""
    with postgres_schema() as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'sfm.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """A migrated database, on SQLite and on PostgreSQL."""
    engine = db.make_engine(database_url)
    db.upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def register(engine: Engine) -> Engine:
    """The migrated database with the 34 demo factories designated."""
    from monitor.register.store import import_factories

    import_factories(engine, DEMO_FACTORIES, operator=REGISTRAR)
    return engine


def many_factories(path: Path, count: int) -> Path:
    """A register of `count` basic-level factories in 海淀 with valid credit codes."""
    from monitor.codes import check_character

    lines = ["credit_code,name,level,district,designated_on"]
    for index in range(count):
        first17 = f"91110108MA{index:07d}"
        lines.append(
            f"{first17}{check_character(first17)},测试企业{index}有限公司,basic,海淀,2025-06-30"
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@dataclass
class Result:
    code: int
    out: str
    err: str


class Cli:
    """Runs `sfm` in-process against a config of the test's own."""

    def __init__(self, capsys: pytest.CaptureFixture[str], config: Path) -> None:
        self.capsys = capsys
        self.config = config

    def __call__(self, *argv: str) -> Result:
        from monitor.cli import run

        self.capsys.readouterr()
        code = run(["--config", str(self.config), *argv])
        captured = self.capsys.readouterr()
        return Result(code, captured.out, captured.err)


OPERATORS = """
allow_operator_override = true
[operators.li]
name = "李明（市经信局）"
scope = "municipal"
[operators.wang]
name = "王芳（海淀区经信局）"
scope = ["110108"]
"""


def write_config(
    directory: Path, database_url: str, extra: str = "", *, operators: bool = True
) -> Path:
    path = directory / "sfm.toml"
    path.write_text(
        (OPERATORS if operators else "")
        + f'[database]\nurl = "{database_url}"\n'
        + f'[logging]\nfile = "{directory / "sfm.log"}"\n'
        + f'[alerts]\nauthorities = "{DEMO_AUTHORITIES}"\n'
        + extra,
        encoding="utf-8",
    )
    return path


@pytest.fixture(autouse=True)
def local_outbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Demo alerts (outbox://) land in the test's own folder, never in the work tree."""
    folder = tmp_path / "outbox"
    monkeypatch.setenv("SFM_OUTBOX_DIR", str(folder))
    return folder


@pytest.fixture
def cli(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    engine: Engine,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Cli:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SFM_CONFIG", raising=False)
    monkeypatch.delenv("SFM_DATABASE_URL", raising=False)
    monkeypatch.setenv("SFM_OPERATOR", "li")
    monkeypatch.setenv("SFM_LANG", "zh")
    return Cli(capsys, write_config(tmp_path, database_url))


# ---------------------------------------------------------------- upstream simulator

UPSTREAM = DEFAULTS_DIR / "demo" / "upstream.json"
SHIPPED_CONFIG = Path(__file__).parents[1] / "config" / "sfm.toml"


def shipped_connectors() -> str:
    """The [simulator] and [[connectors]] blocks of config/sfm.toml, as they ship."""
    text = SHIPPED_CONFIG.read_text(encoding="utf-8")
    return text[text.index("[simulator]") :]


@pytest.fixture
def upstream() -> dict[str, Any]:
    from connectors.simulator import load_upstream

    return load_upstream(UPSTREAM)


@pytest.fixture
def simulator(upstream: dict[str, Any]) -> Iterator[RunningSimulator]:
    """The demo upstream on a real loopback port, behaving well until a test says otherwise."""
    from connectors.simulator import RunningSimulator, Simulator

    with RunningSimulator(Simulator(upstream)) as running:
        yield running


def shipped_connector(name: str, base_url: str, **changes: Any) -> ConnectorSettings:
    """A connector exactly as config/sfm.toml ships it, aimed at a test's simulator."""
    from monitor.config import load_config

    settings = load_config(SHIPPED_CONFIG, environ={}).settings
    [connector] = [c for c in settings.connectors if c.name == name]
    data = connector.model_dump()
    data["url"] = (connector.url or "").replace("{simulator}", base_url)
    data.update(changes)
    from connectors.settings import ConnectorSettings as Model

    return Model.model_validate(data)


def demo_codes(upstream: dict[str, Any]) -> list[str]:
    return list(upstream["factories"])
