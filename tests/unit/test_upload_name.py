"""An uploaded register keeps the caller's file name (its format and every message go by
it), but only the name: never a folder, whatever the caller sends."""

from pathlib import Path

import pytest

from monitor.api.factories import _named


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("factories.csv", "factories.csv"),
        ("海淀 2026.xlsx", "海淀 2026.xlsx"),
        ("../../etc/cron.d/evil.csv", "evil.csv"),
        ("/tmp/abs.csv", "abs.csv"),
        ("C:\\Users\\wang\\登记册.csv", "登记册.csv"),
        ("..", "upload"),
        ("", "upload"),
        ("a\0b.csv", "ab.csv"),
        ("名" * 100 + ".csv", "upload.csv"),  # over 255 bytes: the name cannot be kept
    ],
)
def test_the_upload_takes_the_callers_name_and_nothing_else(
    tmp_path: Path, sent: str, kept: str
) -> None:
    upload = tmp_path / "sfm-upload-x"
    upload.write_bytes(b"data")
    with _named(upload, sent) as path:
        assert path.name == kept
        assert path.parent.parent == tmp_path  # a private folder beside the upload
        assert path.read_bytes() == b"data"
        folder = path.parent
    assert not folder.exists() and not upload.exists()
    assert list(tmp_path.iterdir()) == []
