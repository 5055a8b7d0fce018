"""Where reading workers cannot start, the daemon answers reads itself, and says so."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import structlog

from monitor.api import readers
from monitor.config import load_config


def test_without_posix_semaphores_the_daemon_answers_reads_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config_file = tmp_path / "sfm.toml"
    config_file.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "sfm.db"}"\n')
    config = load_config(config_file, environ={})

    def confined(*_args: Any, **_kwargs: Any) -> Any:  # as sem_open fails under some sandboxes
        raise OSError(38, "Function not implemented")

    monkeypatch.setattr(readers, "ProcessPoolExecutor", confined)
    with structlog.testing.capture_logs() as logged:
        assert readers.start_readers(config, 1) is None
    assert [entry["event"] for entry in logged] == [
        "reading workers could not start; the daemon answers reads"
    ]
    assert "Function not implemented" in logged[0]["error"]
    assert readers.start_readers(config, 0) is None  # none asked for
