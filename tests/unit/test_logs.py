import io
import json
from pathlib import Path

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
