"""A secret from `${ENV}`, however short, appears nowhere: logs, the database, any output."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.integration.alerts.conftest import write_alert_config

SECRET = "Qz7xk"  # five characters: the red team found these shown everywhere


def test_a_five_character_secret_is_masked_everywhere(tmp_path: Path) -> None:
    database = tmp_path / "sfm.db"
    # the bureau's webhook carries the secret; nothing listens there, so each try fails
    config = write_alert_config(
        tmp_path,
        f"sqlite:///{database}",
        {"municipal": ["json://127.0.0.1:9/hook/${HOOK}?token=${HOOK}"]},
        extra="",
    )
    env = {**os.environ, "SFM_LANG": "en", "HOOK": SECRET}

    def sfm(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "monitor.cli", "--config", str(config), *argv],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip

    outputs = []
    for argv in (
        ["db", "upgrade"],
        ["config", "check"],
        ["run", "--once"],
        ["notify", "test", "municipal"],  # its delivery fails
        ["alerts", "list", "--json"],
        ["status", "--json"],
    ):
        done = sfm(*argv)
        outputs.append(done.stdout + done.stderr)
    assert "HOOK is shorter than 12 characters" in outputs[1]
    assert "failed" in outputs[4] or "retrying" in outputs[4] or "pending" in outputs[4]

    stored = "\n".join(sqlite3.connect(database).iterdump())
    logged = (tmp_path / "sfm.log").read_text(encoding="utf-8")
    assert "127.0.0.1:9" in stored + logged  # the failures were recorded, the URL with them
    for where, text in [("database", stored), ("log file", logged), *enumerate(outputs)]:
        assert SECRET not in text, f"{where}: {text[:2000]}"
