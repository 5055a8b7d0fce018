"""`config/authorities.toml`: the municipal bureau, the districts, ops, and how to reach them."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from monitor.codes import resolve_district
from monitor.config import LoadedConfig, describe_problem, mask_secrets, substitute_env
from monitor.errors import ConfigError
from monitor.i18n import Message

MUNICIPAL = "municipal"
OPS = "ops"


class AuthorityEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    urls: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)


class AuthoritiesFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    municipal: AuthorityEntry
    districts: dict[str, AuthorityEntry] = Field(default_factory=dict)
    ops: AuthorityEntry

    @field_validator("districts")
    @classmethod
    def _known_codes(cls, districts: dict[str, AuthorityEntry]) -> dict[str, AuthorityEntry]:
        resolved: dict[str, AuthorityEntry] = {}
        for key, entry in districts.items():
            district = resolve_district(key)
            if district is None:
                raise ValueError(f"districts.{key}: not a Beijing district code")
            resolved[district.code] = entry
        return resolved


@dataclass(frozen=True)
class Authority:
    key: str  # "municipal", a district code, or "ops"
    name: str
    urls: tuple[str, ...]
    masked_urls: tuple[str, ...]


@dataclass(frozen=True)
class Authorities:
    by_key: dict[str, Authority]
    path: Path

    def get(self, key: str) -> Authority | None:
        return self.by_key.get(key)

    def has_district(self, code: str) -> bool:
        return code in self.by_key

    def name_of(self, key: str) -> str:
        """The authority's name, or its key where the file does not name it."""
        authority = self.by_key.get(key)
        return authority.name if authority else key


def load_authorities(config: LoadedConfig, environ: Mapping[str, str] | None = None) -> Authorities:
    path = config.authorities_file
    try:
        raw: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(Message("config.not_found", path=str(path))) from exc
    except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    effective, masked = substitute_env(
        raw, (config.environ or os.environ) if environ is None else environ, source=str(path)
    )
    try:
        parsed = AuthoritiesFile.model_validate(effective)
        shown = AuthoritiesFile.model_validate(masked)
    except ValidationError as exc:
        problems = "; ".join(describe_problem(error) for error in exc.errors())
        raise ConfigError(f"{path}: {problems}") from exc

    def authority(key: str, entry: AuthorityEntry, masked_entry: AuthorityEntry) -> Authority:
        shown = tuple(shown_url(url) for url in entry.urls)
        return Authority(key, entry.name, tuple(entry.urls), shown)

    by_key = {
        MUNICIPAL: authority(MUNICIPAL, parsed.municipal, shown.municipal),
        OPS: authority(OPS, parsed.ops, shown.ops),
    }
    for code, entry in parsed.districts.items():
        by_key[code] = authority(code, entry, shown.districts[code])
    return Authorities(by_key, path)


def shown_url(url: str) -> str:
    """A notification URL as it may be shown or stored: apprise's privacy form (its
    passwords and keys cut to `a...z`), then sfm's own masking of tokens in the path
    and of every value that came from the environment."""
    import apprise

    import monitor.alerts.send  # noqa: F401 (registers sfm's own outbox:// with apprise)

    if url.lower().startswith("outbox://"):
        return url  # sfm's own local sink: a folder name, nothing secret (and apprise's
        # privacy form of a decorator plugin drops it)
    service = apprise.Apprise.instantiate(url, suppress_exceptions=True)
    private = service.url(privacy=True) if service else url
    return mask_secrets(private)


def unparseable_urls(authorities: Authorities) -> list[str]:
    """Every configured URL apprise cannot turn into a service, named by authority."""
    import apprise

    import monitor.alerts.send  # noqa: F401 (registers sfm's own outbox:// with apprise)

    problems = []
    for authority in authorities.by_key.values():
        for url, shown in zip(authority.urls, authority.masked_urls, strict=True):
            if apprise.Apprise.instantiate(url) is None:
                problems.append(f"{authority.key} ({authority.name}): {shown}")
    return problems
