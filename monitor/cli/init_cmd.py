"""`sfm init DIR`: an editable config folder for a server, from what ships in the package,
and the state folder the daemon keeps its database in."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from monitor.cli.common import say

ENV_FILE_TEXT = """\
# sfm's secrets, NAME=value a line, referenced from sfm.toml and authorities.toml as ${NAME}.
# Read by the daemon and by every sfm command (sfm.toml's env_file); keep it 0600.
# SFM_DATABASE_URL=postgresql://sfm:PASSWORD@127.0.0.1/sfm
# SMTP_PASS=...
"""


def init(
    directory: Annotated[Path, typer.Argument(metavar="DIR", help="The folder to write.")],
    state_dir: Annotated[
        Path, typer.Option("--state-dir", help="Where the database and reports live.")
    ] = Path("/var/lib/sfm"),
    user: Annotated[
        str | None,
        typer.Option("--user", help="The service's OS user: owns the state folder and secrets."),
    ] = None,
    staff_group: Annotated[
        str, typer.Option("--staff-group", help="The OS group whose members may decide.")
    ] = "sfm-staff",
    container: Annotated[
        bool,
        typer.Option("--container", help="For an image: /healthz on, secrets from its env."),
    ] = False,
) -> None:
    """Write sfm.toml and authorities.toml (commented, no secrets) into DIR."""
    from monitor.defaults import packaged
    from monitor.errors import Refused
    from monitor.i18n import Message

    owner = _account(user) if user else None
    state = state_dir.absolute()
    env_file = directory.absolute() / "env"
    config = (
        packaged("sfm.toml")
        .read_text(encoding="utf-8")
        .replace("@STATE_DIR@", str(state))
        .replace("@STAFF_GROUP@", staff_group)
        .replace("@SERVICE_USER@", user or "")
        .replace("@HTTP_PORT@", "" if container else "# ")
        # a container's secrets are its environment (compose's env_file)
        .replace("@ENV_FILE@", "" if container else str(env_file))
    )
    targets = {
        directory / "sfm.toml": config,
        directory / "authorities.toml": packaged("authorities.toml").read_text(encoding="utf-8"),
    }
    if not container:
        targets[env_file] = ENV_FILE_TEXT
    existing = [str(path) for path in targets if path.exists()]
    if existing:
        raise Refused(Message("init.exists", paths=", ".join(existing)))
    if not directory.is_dir():
        # readable by all, as /etc is: staff's commands find the daemon's socket there
        directory.mkdir(parents=True)
        os.chmod(directory, 0o755)
    for path, text in targets.items():
        secret = path == env_file
        # opened with its final mode: the secrets file is never readable by others,
        # not even for a moment; the config holds none, and staff's commands read it
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(path, 0o600 if secret else 0o644)
        if secret and owner:
            os.chown(path, *owner)
    _make_state_folder(state, owner)
    say(Message("init.done", directory=str(directory), state=str(state)))


def _account(user: str) -> tuple[int, int]:
    import pwd

    from monitor.errors import BadInput

    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise BadInput(f"--user: there is no OS user {user!r}") from None
    return entry.pw_uid, entry.pw_gid


def _make_state_folder(state: Path, owner: tuple[int, int] | None) -> None:
    """The database's folder: 0700 and the service user's, so no one else can copy it."""
    from monitor.errors import Refused
    from monitor.i18n import Message

    try:
        state.mkdir(parents=True, exist_ok=True)
        if owner:
            os.chown(state, *owner)
        os.chmod(state, 0o700)
    except PermissionError as exc:
        raise Refused(
            Message("init.state_denied", path=str(state), detail=exc.strerror or str(exc))
        ) from exc
