"""The `sfm` command as staff use it: exit codes, tables, JSON, languages."""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from monitor.storage import db
from tests.conftest import DEMO_AUTHORITIES, DEMO_FACTORIES, Cli, write_config

CODE = "91110000600037341L"


def import_demo(cli: Cli) -> None:
    assert cli("factories", "import", str(DEMO_FACTORIES)).code == 0


def test_import_list_and_show(cli: Cli) -> None:
    result = cli("factories", "import", str(DEMO_FACTORIES))
    assert result.code == 0 and "新增 34 家" in result.out
    again = cli("factories", "import", str(DEMO_FACTORIES))
    assert again.code == 0 and "未作任何修改" in again.out
    listing = cli("factories", "list", "--district", "海淀")
    assert listing.code == 0
    assert (
        "统一社会信用代码" in listing.out
        and "海淀区" in listing.out
        and "朝阳区" not in listing.out
    )
    rows = json.loads(cli("factories", "list", "--json").out)
    assert len(rows) == 34 and {"credit_code", "name", "level", "district"} <= rows[0].keys()
    shown = json.loads(cli("factories", "show", rows[0]["credit_code"], "--json").out)
    assert shown["credit_code"] == rows[0]["credit_code"]
    assert [event["kind"] for event in shown["events"]] == ["designated"]


def test_the_listing_is_read_page_after_page(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    import_demo(cli)
    whole = json.loads(cli("factories", "list", "--json").out)
    monkeypatch.setattr("monitor.cli.factories.REGISTER_PAGE", 10)
    assert json.loads(cli("factories", "list", "--json").out) == whole
    monkeypatch.setattr("monitor.cli.factories.REGISTER_PAGE", 17)  # the last page is full
    assert json.loads(cli("factories", "list", "--json").out) == whole
    assert "34" in cli("factories", "list").out


def test_english_tables(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    import_demo(cli)
    monkeypatch.setenv("SFM_LANG", "en")
    listing = cli("factories", "list", "--level", "advanced")
    assert (
        "Credit code" in listing.out and "advanced" in listing.out and "基础级" not in listing.out
    )
    again = cli("factories", "import", str(DEMO_FACTORIES), "--dry-run")
    assert "identical to the register" in again.out and "dry run" in again.out
    code = next(
        row["credit_code"]
        for row in json.loads(cli("factories", "list", "--json").out)
        if row["district_code"] == "110108"
    )
    renamed = cli(
        "factories", "rename", code, "--name", "New Name Co.", "--approved-on", "2026-3-1"
    )
    assert renamed.code == 0 and "rename recorded" in renamed.out and "New Name Co." in renamed.out
    moved = cli("factories", "move", code, "--district", "昌平", "--decided-on", "2026-04-01")
    assert moved.code == 0 and "Haidian → Changping" in moved.out
    bad = cli("factories", "revoke", code, "--decided-on", "May 1", "--ref", "x", "--reason", "y")
    assert bad.code == 2 and "--decided-on: unrecognised date 'May 1'" in bad.err
    shown = cli("factories", "show", code)
    assert "renamed" in shown.out and "Changping" in shown.out and "认定" not in shown.out


def test_names_in_tables_are_text_never_rich_markup(cli: Cli) -> None:
    """A provider's or registrar's words are data: rich would drop "[bold]", fail on a
    stray "[/]" and draw ":fire:" if they were read as its markup and emoji codes."""
    import_demo(cli)
    code = json.loads(cli("factories", "list", "--json").out)[0]["credit_code"]
    name = "[bold]星河[/bold]精密制造:fire:[/]"
    renamed = cli("factories", "rename", code, "--name", name, "--approved-on", "2026-03-01")
    assert renamed.code == 0, renamed.err
    listing = cli("factories", "list")
    assert listing.code == 0 and name in listing.out
    shown = cli("factories", "show", code)
    assert shown.code == 0 and name in shown.out


def test_bad_import_exits_2_names_row_and_column_and_writes_nothing(
    cli: Cli, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.csv"
    broken.write_text(
        DEMO_FACTORIES.read_text(encoding="utf-8").replace("91110000", "9111000O", 1),
        encoding="utf-8",
    )
    result = cli("factories", "import", str(broken))
    assert result.code == 2
    assert "broken.csv" in result.err and "统一社会信用代码" in result.err
    assert json.loads(cli("factories", "list", "--json").out) == []


def test_a_file_the_caller_cannot_open_or_the_api_will_not_take_is_bad_input(
    cli: Cli, tmp_path: Path, database_url: str
) -> None:
    missing = cli("factories", "import", str(tmp_path / "missing.csv"))
    assert missing.code == 2 and "missing.csv" in missing.err
    text = tmp_path / "factories.txt"
    text.write_text(DEMO_FACTORIES.read_text(encoding="utf-8"), encoding="utf-8")
    unsupported = cli("factories", "import", str(text))
    assert (
        unsupported.code == 2 and "factories.txt" in unsupported.err and ".txt" in unsupported.err
    )
    (tmp_path / "small").mkdir()
    limit = "[daemon]\nmax_import_bytes = 1024\n"
    small = Cli(cli.capsys, write_config(tmp_path / "small", database_url, limit))
    too_large = small("factories", "import", str(DEMO_FACTORIES))
    assert too_large.code == 2 and "1024" in too_large.err
    assert json.loads(cli("factories", "list", "--json").out) == []


def test_dry_run_flag(cli: Cli) -> None:
    result = cli("factories", "import", str(DEMO_FACTORIES), "--dry-run", "--json")
    assert result.code == 0 and len(json.loads(result.out)["added"]) == 34
    assert json.loads(cli("factories", "list", "--json").out) == []


def test_not_found_and_invalid_codes(cli: Cli) -> None:
    assert cli("factories", "show", CODE).code == 4
    invalid = cli("factories", "show", "91110000600037341K")
    assert invalid.code == 2 and "L" in invalid.err
    # a "/" typed in a code is part of the code, never a path of the API
    for words in (
        ("show", "9111/0000600037341L"),
        (
            "revoke",
            "91/1",
            "--decided-on",
            "2026-12-01",
            "--ref",
            "京经信〔2026〕1号",
            "--reason",
            "停产",
        ),
    ):
        slashed = cli("factories", *words)
        assert slashed.code == 2 and "18 位" in slashed.err, words


def test_rename_and_revoke_through_the_cli(cli: Cli) -> None:
    import_demo(cli)
    code = json.loads(cli("factories", "list", "--json").out)[0]["credit_code"]
    renamed = cli(
        "factories",
        "rename",
        code,
        "--name",
        "北京改名科技有限公司",
        "--approved-on",
        "2026/3/1",
        "--ref",
        "京经信函〔2026〕1号",
    )
    assert renamed.code == 0 and "北京改名科技有限公司" in renamed.out
    revoke = [
        "factories",
        "revoke",
        code,
        "--decided-on",
        "2026年5月1日",
        "--ref",
        "京经信发〔2026〕9号",
        "--reason",
        "12(2) 注销",
    ]
    assert cli(*revoke).code == 0
    assert cli(*revoke).code == 3  # already revoked
    assert (
        cli(
            "factories", "revoke", code, "--decided-on", "May 1", "--ref", "x", "--reason", "y"
        ).code
        == 2
    )
    shown = json.loads(cli("factories", "show", code, "--json").out)
    assert shown["status"] == "revoked"
    assert [e["kind"] for e in shown["events"]] == ["designated", "renamed", "revoked"]


def test_usage_errors_exit_2(cli: Cli) -> None:
    assert cli("factories", "revoke", CODE).code == 2  # required options missing
    assert cli("factories", "nope").code == 2


def test_operator_override_is_refused_unless_config_allows_it(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str
) -> None:
    strict = Cli(cli.capsys, write_config(tmp_path, database_url, operators=False))
    result = strict("factories", "import", str(DEMO_FACTORIES))
    assert result.code == 3 and "allow_operator_override" in result.err


def test_designation_decisions_need_an_operator_in_scope(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    import_demo(cli)
    rows = json.loads(cli("factories", "list", "--json").out)
    haidian_basic = next(
        r for r in rows if r["district_code"] == "110108" and r["level"] == "basic"
    )
    chaoyang = next(r for r in rows if r["district_code"] == "110105" and r["level"] == "basic")
    revoke = ["--decided-on", "2026-05-01", "--ref", "海经信〔2026〕1号", "--reason", "12(2)"]
    monkeypatch.setenv("SFM_OPERATOR", "wang")  # 海淀 district staff
    out_of_scope = cli("factories", "revoke", chaoyang["credit_code"], *revoke)
    assert out_of_scope.code == 3 and "朝阳区" in out_of_scope.err
    renamed = cli(
        "factories",
        "rename",
        haidian_basic["credit_code"],
        "--name",
        "新名",
        "--approved-on",
        "2026-05-01",
    )
    assert renamed.code == 3 and "市经济和信息化局" in renamed.err  # renames are the bureau's
    assert cli("factories", "revoke", haidian_basic["credit_code"], *revoke).code == 0
    monkeypatch.setenv("SFM_OPERATOR", "zhao")  # not configured at all
    unknown = cli("factories", "revoke", chaoyang["credit_code"], *revoke)
    assert unknown.code == 3 and "zhao" in unknown.err


def test_commands_refuse_a_database_whose_schema_is_behind(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    cli = Cli(capsys, write_config(tmp_path, f"sqlite:///{tmp_path / 'fresh.db'}"))
    refused = cli("factories", "list")
    assert refused.code == 3 and "sfm db upgrade" in refused.err
    flags_refused = cli("flags", "list")  # the driver-level fast path checks too
    assert flags_refused.code == 3 and "sfm db upgrade" in flags_refused.err
    assert cli("db", "upgrade").code == 0
    assert cli("factories", "list").code == 0
    assert db.head_revision() in cli("db", "upgrade").out


def test_a_locked_database_is_one_line_without_the_statement(
    cli: Cli, database_url: str, tmp_path: Path
) -> None:
    """Another writer holds SQLite past the busy timeout: one line, nothing written."""
    if not database_url.startswith("sqlite"):
        pytest.skip("a database-wide write lock is SQLite's; PostgreSQL locks rows")
    import sqlite3

    holder = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        result = cli("factories", "import", str(DEMO_FACTORIES))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert result.code == 1
    [line] = [each for each in result.err.splitlines() if each.startswith("sfm:")]
    assert line == "sfm: 数据库错误：database is locked（未作任何修改；详情见日志）"
    assert "INSERT" not in result.err and "[SQL" not in result.err
    assert "database is locked" in (tmp_path / "sfm.log").read_text(encoding="utf-8")
    assert json.loads(cli("factories", "list", "--json").out) == []


def test_unexpected_errors_are_one_line_with_the_traceback_in_the_log(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def explode(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("monitor.register.store.list_factories", explode)
    result = cli("factories", "list")
    assert result.code == 1
    assert "RuntimeError: disk on fire" in result.err
    assert "Traceback" not in result.err
    log = (tmp_path / "sfm.log").read_text(encoding="utf-8")
    assert "Traceback" in log and "disk on fire" in log


def test_config_check_masks_secrets(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "secret.toml"
    alerts = f'[alerts]\nauthorities = "{DEMO_AUTHORITIES}"\n'
    config.write_text(
        '[database]\nurl = "postgresql://sfm:${PGPASS}@db/sfm"\n' + alerts, encoding="utf-8"
    )
    monkeypatch.setenv("PGPASS", "s3cret-pw")
    result = cli("--config", str(config), "config", "check", "--json")
    assert result.code == 0 and "s3cret-pw" not in result.out
    shown = json.loads(result.out)
    assert shown["config"]["database"]["url"] == "postgresql://sfm:***@db/sfm"
    assert shown["authorities"]["110108"] == ["outbox://110108"]
    config.write_text("[database]\ntypo = 1\n", encoding="utf-8")
    bad = cli("--config", str(config), "config", "check")
    assert bad.code == 2 and "database.typo: 未知的配置项" in bad.err
    authorities = tmp_path / "authorities.toml"
    authorities.write_text(
        '[municipal]\nname = "市局"\nurls = ["mailto://u:pw@mail.example.gov.cn"]\n'
        '[ops]\nname = "ops"\nurls = ["nonsense://what", "wecombot://${WECOM_KEY}"]\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("WECOM_KEY", "k3y")
    config.write_text(f'[alerts]\nauthorities = "{authorities}"\n', encoding="utf-8")
    unusable = cli("--config", str(config), "config", "check")
    assert unusable.code == 2 and "ops (ops): nonsense://what" in unusable.err
    assert "pw" not in unusable.err


def test_installed_console_script(tmp_path: Path) -> None:
    """The real `sfm` entry point, as a deployment runs it."""
    sfm = Path(sys.executable).parent / "sfm"
    config = write_config(tmp_path, f"sqlite:///{tmp_path / 'sfm.db'}")
    env = {**os.environ, "SFM_CONFIG": str(config), "SFM_LANG": "en", "SFM_OPERATOR": "li"}

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(sfm), *argv],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    assert run("db", "upgrade").returncode == 0
    imported = run("factories", "import", str(DEMO_FACTORIES), "--json")
    assert imported.returncode == 0 and len(json.loads(imported.stdout)["added"]) == 34
    assert run("factories", "show", CODE).returncode == 4
    engine = db.make_engine(f"sqlite:///{tmp_path / 'sfm.db'}")
    assert db.current_revision(engine) == db.head_revision()


def every_help_text() -> set[str]:
    import typer

    from monitor.cli import app

    found: set[str] = set()

    def walk(command: Any) -> None:
        found.update(t.strip() for t in (command.help, command.short_help) if t)
        found.update(p.help.strip() for p in command.params if getattr(p, "help", None))
        for sub in getattr(command, "commands", {}).values():
            walk(sub)

    walk(typer.main.get_command(app))
    return found


def test_every_help_text_has_its_chinese_in_the_catalogue() -> None:
    from monitor.cli.help_zh import HELP_ZH

    assert sorted(every_help_text() - set(HELP_ZH)) == []


def test_help_is_chinese_by_default_and_english_on_request(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    chinese = cli("factories", "import", "--help")
    assert (
        chinese.code == 0 and "全部成功才写入" in chinese.out and "显示本帮助并退出" in chinese.out
    )
    assert "Import designated factories" not in chinese.out
    monkeypatch.setenv("SFM_LANG", "en")
    english = cli("factories", "import", "--help")
    assert "Import designated factories" in english.out


@pytest.mark.skipif(os.getuid() != 0, reason="gives the database to another user: needs root")
def test_without_a_daemon_only_the_databases_owner_may_open_it(
    cli: Cli, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("a server database is guarded by its credentials")
    import_demo(cli)
    database = database_url.removeprefix("sqlite:///")
    os.chown(database, 65534, 65534)
    monkeypatch.setenv("LOGNAME", "nobody")
    monkeypatch.setenv("USER", "nobody")
    for argv in (["flags", "list"], ["factories", "list"], ["factories", "show", CODE]):
        result = cli(*argv)
        assert result.code == 3, argv
        assert "守护进程未运行" in result.err and "请联系运维人员" in result.err
        assert "PermissionError" not in result.err and "Traceback" not in result.err
    assert cli("flags", "confirm", "1", "--reason", "x").code == 3
    os.chown(database, 0, 0)
    assert cli("flags", "list").code == 0


def test_a_second_check_at_once_is_refused_and_touches_nothing(cli: Cli, engine: Any) -> None:
    """The running check (or daemon) holds the leader lock; the second is refused, exit 3."""
    from sqlalchemy import func, select

    from monitor.daemon import jobs
    from monitor.daemon.leader import LeaderLock
    from monitor.errors import Refused
    from monitor.storage.models import SweepRun
    from monitor.sweep.run import SWEEPING

    import_demo(cli)
    first = LeaderLock(engine)
    assert first.try_acquire()
    try:
        second = cli("check")
        assert second.code == 3
        assert "本次核查未执行" in second.err
    finally:
        first.release()
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(SweepRun)).scalar() == 0
    # inside the daemon: a door caller's check while a scheduled sweep runs
    with SWEEPING, pytest.raises(Refused, match="另一次核查正在进行"):
        jobs.sweep(object(), wait=False)  # type: ignore[arg-type]
    assert cli("check").code == 0
