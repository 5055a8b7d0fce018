import io
import json
from pathlib import Path

import pytest
import structlog

from monitor.config import LoggingSettings
from monitor.logs import configure_logging


def test_json_lines_off_a_terminal_with_secrets_masked(tmp_path: Path) -> None:
    stream = io.StringIO()
    configure_logging(LoggingSettings(level="info", file=str(tmp_path / "sfm.log")), stream=stream)
    structlog.get_logger("t").info(
        "fetched",
        credit_code="91110000600037341L",
        connector="registry",
        token="abc123",
        url="https://user:pw123@provider.example/x",
    )
    line = json.loads(stream.getvalue().strip())
    assert line["credit_code"] == "91110000600037341L" and line["connector"] == "registry"
    assert line["token"] == "***" and "pw123" not in line["url"]
    file_line = json.loads((tmp_path / "sfm.log").read_text(encoding="utf-8").strip())
    assert file_line["event"] == "fetched" and "abc123" not in json.dumps(file_line)


def test_terminal_level_filters_but_file_keeps_info(tmp_path: Path) -> None:
    stream = io.StringIO()
    configure_logging(
        LoggingSettings(level="warning", file=str(tmp_path / "sfm.log")), stream=stream
    )
    structlog.get_logger("t").info("quiet")
    assert stream.getvalue() == ""
    assert "quiet" in (tmp_path / "sfm.log").read_text(encoding="utf-8")


def test_tracebacks_and_nested_values_are_masked_in_the_log_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import monitor.config
    from monitor.config import remember_secret

    monkeypatch.setattr(monitor.config, "_KNOWN_SECRETS", set())  # this test's secret only
    remember_secret("k9")  # a two-character secret from ${ENV}: masked all the same
    stream = io.StringIO()
    configure_logging(LoggingSettings(level="info", file=str(tmp_path / "sfm.log")), stream=stream)
    try:
        raise RuntimeError("provider said: bad key k9 for https://u:hunter22@h/x")
    except RuntimeError:
        structlog.get_logger("t").exception(
            "job failed",
            detail={"headers": {"X-Key": "k9"}, "tries": ["k9", 3], "Authorization": "Bearer k9"},
        )
    written = (tmp_path / "sfm.log").read_text(encoding="utf-8")
    line = json.loads(written)
    assert "RuntimeError: provider said: bad key *** for https://u:***@h/x" in line["exception"]
    assert line["detail"] == {
        "headers": {"X-Key": "***"},
        "tries": ["***", 3],
        "Authorization": "***",
    }
    assert "k9" not in written and "hunter22" not in written
    assert "k9" not in stream.getvalue() and "hunter22" not in stream.getvalue()
