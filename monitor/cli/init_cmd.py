"""`sfm init DIR`: an editable config folder for a server, from what ships in the package."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from monitor.cli.common import say


def init(
    directory: Annotated[Path, typer.Argument(metavar="DIR", help="The folder to write.")],
    state_dir: Annotated[
        Path, typer.Option("--state-dir", help="Where the database and reports live.")
    ] = Path("/var/lib/sfm"),
) -> None:
    """Write sfm.toml and authorities.toml (commented, no secrets) into DIR."""
    from monitor.defaults import packaged
    from monitor.errors import Refused
    from monitor.i18n import Message

    targets = {
        directory / "sfm.toml": packaged("sfm.toml")
        .read_text(encoding="utf-8")
        .replace("@STATE_DIR@", str(state_dir.absolute())),
        directory / "authorities.toml": packaged("authorities.toml").read_text(encoding="utf-8"),
    }
    existing = [str(path) for path in targets if path.exists()]
    if existing:
        raise Refused(Message("init.exists", paths=", ".join(existing)))
    directory.mkdir(parents=True, exist_ok=True)
    for path, text in targets.items():
        path.write_text(text, encoding="utf-8")
    say(Message("init.done", directory=str(directory)))
