"""The configuration the project ships for the demo: it checks clean, and its operators
can decide on the flags the demo raises, each within their scope."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import DEMO_FACTORIES, SHIPPED_CONFIG, Cli


@pytest.fixture
def demo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Cli:
    """config/sfm.toml as shipped, on a database of the test's own."""
    config = tmp_path / "sfm.toml"
    config.write_text(
        SHIPPED_CONFIG.read_text(encoding="utf-8")
        .replace('url = "sqlite:///var/sfm.db"', f'url = "sqlite:///{tmp_path / "sfm.db"}"')
        .replace('file = "var/log/sfm.log"', f'file = "{tmp_path / "sfm.log"}"'),
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SFM_OPERATOR", raising=False)
    return Cli(capsys, config)


def test_the_shipped_demo_config_passes_config_check_with_its_local_sink(demo: Cli) -> None:
    result = demo("config", "check", "--json")
    assert result.code == 0, result.err
    shown = json.loads(result.out)
    assert shown["authorities"]["municipal"] == ["outbox://municipal"]
    assert set(shown["config"]["operators"]) == {"bureau", "haidian"}


def test_right_after_the_demo_its_operators_confirm_and_dismiss_within_their_scope(
    demo: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert demo("db", "upgrade").code == 0
    assert demo("factories", "import", str(DEMO_FACTORIES)).code == 3  # no operator: refused
    monkeypatch.setenv("SFM_OPERATOR", "bureau")  # as `make demo` imports
    assert demo("factories", "import", str(DEMO_FACTORIES)).code == 0
    assert demo("run", "--once").code == 0
    flags = json.loads(demo("flags", "list", "--state", "open", "--json").out)
    # one flag at least per Article 12 trigger the sources can show, and a rename
    assert {
        "art12.2-terminated",
        "art12.2-not-operating",
        "art12.3-major-accident",
        "art12.4-relocated",
        "art12.5-penalty",
        "art12-rename-pending",
    } <= {flag["rule_id"] for flag in flags}
    haidian = [f for f in flags if f["district_code"] == "110108"]
    elsewhere = [f for f in flags if f["district_code"] != "110108"]
    assert haidian and elsewhere

    monkeypatch.setenv("SFM_OPERATOR", "haidian")
    mine = demo("flags", "dismiss", str(haidian[0]["id"]), "--reason", "经核实为同名企业")
    assert mine.code == 0, mine.err
    refused = demo("flags", "confirm", str(elsewhere[0]["id"]), "--reason", "越权")
    assert refused.code == 3

    monkeypatch.setenv("SFM_OPERATOR", "bureau")
    bureau = demo("flags", "confirm", str(elsewhere[0]["id"]), "--reason", "已核实，拟撤销")
    assert bureau.code == 0, bureau.err
    trail = json.loads(demo("audit", "--json").out)
    decided = [
        (e["actor"], e["change"])
        for e in trail
        if e["actor"] in ("haidian", "bureau") and "→" in e["change"]  # flag decisions
    ]
    assert ("bureau", "认定") in [(e["actor"], e["change"]) for e in trail]  # the import, too
    assert decided == [("haidian", "open → dismissed"), ("bureau", "open → confirmed")]
