"""Where things are, read from the config file's text alone: the config file itself, a
SQLite database's file, the daemon's socket. No pydantic, no SQLAlchemy: the CLI finds its
daemon with this before it imports anything heavy, and staff cannot read the secrets a full
load substitutes anyway (the daemon holds them)."""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any

from monitor.errors import ConfigError
from monitor.i18n import Message

DEFAULT_CONFIG_PATH = Path("config/sfm.toml")
DEFAULT_DATABASE_URL = "sqlite:///var/sfm.db"
# where a server's daemon listens when its config is not readable by the caller
DEFAULT_SOCKET = Path("/run/sfm/sfm.sock")


def config_path(explicit: str | os.PathLike[str] | None = None) -> tuple[Path, bool]:
    """The config file to read and whether the user named it (so it must exist)."""
    if explicit:
        return Path(explicit), True
    if os.environ.get("SFM_CONFIG"):
        return Path(os.environ["SFM_CONFIG"]), True
    return DEFAULT_CONFIG_PATH, False


def read_raw_config(explicit: str | os.PathLike[str] | None = None) -> tuple[Path, dict[str, Any]]:
    """The config file's TOML, unvalidated. A file the user named (`--config`, SFM_CONFIG)
    that is missing or is not TOML is an error; the default one may be absent."""
    path, named = config_path(explicit)
    try:
        return path, tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        if not named:
            return path, {}
        raise ConfigError(Message("config.not_found", path=str(path))) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(Message("config.not_toml", path=str(path), detail=str(exc))) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(Message("config.unreadable", path=str(path), detail=str(exc))) from exc


def sqlite_file(database_url: str) -> str | None:
    """The file of a SQLite database url; None for other databases and in-memory ones."""
    found = re.match(r"sqlite(?:\+\w+)?:///([^?]+)", database_url)
    return found.group(1) if found and found.group(1) != ":memory:" else None


def door_socket(database_url: str, configured: str) -> Path | None:
    """Where the daemon listens for staff commands, or None when it has no socket."""
    if configured:
        return Path(configured)
    database = sqlite_file(database_url)
    return Path(database + ".sock") if database else None


def _table(raw: dict[str, Any], name: str) -> dict[str, Any]:
    table = raw.get(name)
    return table if isinstance(table, dict) else {}


def database_url_of(raw: dict[str, Any]) -> str:
    url = os.environ.get("SFM_DATABASE_URL") or _table(raw, "database").get("url")
    return url if isinstance(url, str) and url else DEFAULT_DATABASE_URL


def socket_of(raw: dict[str, Any]) -> Path:
    """The daemon's socket as its config names it (or beside its SQLite file), else the
    packaged default."""
    configured = _table(raw, "daemon").get("socket", "")
    found = door_socket(database_url_of(raw), configured if isinstance(configured, str) else "")
    return found or DEFAULT_SOCKET


def service_user_of(raw: dict[str, Any]) -> str:
    """`[daemon] user`: the account the daemon runs as, which clients insist on."""
    user = _table(raw, "daemon").get("user", "")
    return user if isinstance(user, str) else ""
