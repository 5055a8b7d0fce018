"""Staff read Chinese: click's own usage errors are Chinese by default, English with
SFM_LANG=en, and always exit 2 without touching anything."""

from __future__ import annotations

import pytest

from tests.conftest import Cli


@pytest.mark.parametrize(
    ("argv", "chinese"),
    [
        (("flags", "list", "--bogus"), "错误：没有选项 --bogus"),
        (("flags", "dismiss"), "错误：缺少参数 ID"),
        (("factories", "move", "91110108600037341L"), "错误：缺少选项 --district"),
        (("nosuch",), "错误：没有命令 nosuch"),
        (("flags", "show", "abc"), "错误：ID 应为整数"),
        (("flags", "list", "--stat", "open"), "可用的选项：--district, --state"),
    ],
)
def test_usage_errors_are_chinese_by_default(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, argv: tuple[str, ...], chinese: str
) -> None:
    result = cli(*argv)
    assert result.code == 2
    assert chinese in result.err and result.err.startswith("用法：sfm")
    assert "查看帮助" in result.err
    monkeypatch.setenv("SFM_LANG", "en")
    english = cli(*argv)
    assert english.code == 2 and "Usage: sfm" in english.err and "Error:" in english.err


def test_help_still_exits_0(cli: Cli) -> None:
    shown = cli("flags", "--help")
    assert shown.code == 0 and "规则提出的标记" in shown.out
    assert "用法：sfm flags" in shown.out and "Usage:" not in shown.out


def test_an_unknown_filter_value_lists_the_chinese_words(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    refused = cli("flags", "list", "--state", "nope")
    assert refused.code == 2
    assert "无法识别“nope”" in refused.err and "待处理（open）" in refused.err
    assert "疑似撤销情形（revocation）" in cli("flags", "list", "--severity", "x").err
    monkeypatch.setenv("SFM_LANG", "en")
    english = cli("flags", "list", "--state", "nope")
    assert english.code == 2 and "one of: open, confirmed" in english.err


def test_status_reads_in_chinese(cli: Cli) -> None:
    from tests.conftest import DEMO_FACTORIES

    assert cli("factories", "import", str(DEMO_FACTORIES)).code == 0
    assert cli("check").code == 0
    shown = cli("status")
    assert shown.code == 0
    assert "已完成" in shown.out and "completed" not in shown.out
