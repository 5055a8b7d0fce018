"""sfm's configuration: `config/sfm.toml`, validated, with `${ENV}` secrets (DESIGN §8).

An unknown key or a wrong type is an error naming the key and the file, so a
typo never silently falls back to a default.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from connectors.settings import ConnectorSettings
from monitor.codes import resolve_district
from monitor.errors import ConfigError
from monitor.i18n import Message, t
from monitor.locations import (  # noqa: F401  (where they were, for their readers)
    DEFAULT_CONFIG_PATH,
    DEFAULT_DATABASE_URL,
    config_path,
    door_socket,
    sqlite_file,
)
from monitor.rules.policy import DEFAULT_POLICIES, Policy, with_texts

_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
MASK = "***"


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatabaseSettings(StrictModel):
    url: str = DEFAULT_DATABASE_URL


class LoggingSettings(StrictModel):
    level: Literal["debug", "info", "warning", "error"] = "warning"
    # JSON lines, every level from `file_level` up, tracebacks included; empty turns it off.
    file: str = "var/log/sfm.log"
    file_level: Literal["debug", "info", "warning", "error"] = "info"


class CodesSettings(StrictModel):
    # Credit codes real registries carry despite a bad check character.
    accept: list[str] = Field(default_factory=list)


class AlertsSettings(StrictModel):
    # Relative to this config file; empty: authorities.toml beside it if there is one,
    # else the packaged skeleton, which delivers to the local outbox (var/outbox).
    authorities: str = ""
    # A folder whose <language>/<kind>.md.j2 files override the packaged templates,
    # relative to this config file; empty: the packaged ones only.
    templates: str = ""
    language: Literal["zh", "en"] = "zh"
    retry_budget: int = Field(default=8, ge=1)  # attempts before an alert is `failed`
    backoff_initial_s: float = Field(default=30.0, ge=0)
    backoff_max_s: float = Field(default=3600.0, gt=0)
    sending_lease_s: float = Field(default=300.0, gt=0)  # a claim older than this is retried
    reminder_after_days: int = Field(default=10, ge=1)  # open flags: remind the recipients
    escalate_after_days: int = Field(default=20, ge=1)  # then tell the municipal bureau
    im_max_chars: int = Field(default=3800, ge=200)  # WeCom's 4096-byte markdown limit
    # One dispatch run stops taking alerts once this long has passed; the next run goes on.
    dispatch_budget_s: float = Field(default=50.0, gt=0)
    # How long one URL may take to answer: per connection and per read (SMTP, HTTP).
    smtp_timeout_s: float = Field(default=15.0, gt=0)
    http_timeout_s: float = Field(default=10.0, gt=0)


class OperatorSettings(StrictModel):
    name: str
    scope: Literal["municipal"] | list[str]

    @field_validator("scope")
    @classmethod
    def _districts_exist(cls, scope: str | list[str]) -> str | list[str]:
        if isinstance(scope, str):
            return scope
        codes = []
        for value in scope:
            district = resolve_district(value)
            if district is None:
                raise ValueError(f"unknown district {value!r}")
            codes.append(district.code)
        return codes


SimulatedFault = Literal[
    "500", "502", "503", "429", "timeout", "bad_json", "schema", "truncated", "oversize", "deep"
]


class SimulatorSettings(StrictModel):
    """The built-in upstream that connectors reach through `{simulator}` in their url."""

    data: str = ""  # relative to the config file; empty: the packaged demo upstream
    latency_ms: float = Field(default=0.0, ge=0)
    error_rate: float = Field(default=0.0, ge=0, le=1)
    # what a failure is (connectors/simulator.py Behaviour): "503", "timeout", "deep", ...
    error_kinds: list[SimulatedFault] = Field(
        default_factory=lambda: list[SimulatedFault](["503"]), min_length=1
    )
    rate_limit_per_s: int | None = Field(default=None, ge=1)
    synthesize: bool = False  # answer codes missing from the data with an active company
    seed: int | None = None  # the same failures in the same order, run after run


class SweepSettings(StrictModel):
    batch_size: int = Field(default=200, ge=1, le=10_000)  # outcomes written per transaction


_CRON_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WEEKDAY_NUMBER = re.compile(r"(?<![/\d])([0-7])(?!\d)")


def cron_trigger(expression: str) -> Any:
    """A crontab line in Beijing time; six fields put seconds first (demo and test schedules).

    Weekday numbers mean what they mean in crontab (0 or 7 Sunday, 1 Monday);
    APScheduler 3 alone would read 0 as Monday, so they become names first.
    """
    from apscheduler.triggers.cron import CronTrigger

    from monitor.clock import BEIJING

    fields = expression.split()
    if len(fields) == 5:
        fields.insert(0, "0")
    if len(fields) != 6:
        raise ValueError(f"{expression!r}: a cron expression has 5 fields (or 6, seconds first)")
    second, minute, hour, day, month, day_of_week = fields
    return CronTrigger(
        second=second,
        minute=minute,
        hour=hour,
        day=day,
        month=month,
        day_of_week=_WEEKDAY_NUMBER.sub(lambda m: _CRON_WEEKDAYS[int(m[1])], day_of_week),
        timezone=BEIJING,
    )


class ScheduleSettings(StrictModel):
    """When the daemon runs each job (cron, Beijing time) and how it treats missed runs."""

    registration_sweep: str = "0 2 * * *"
    credit_sweep: str = "0 3 * * *"
    safety_sweep: str = "0 4 * * *"
    connector_watch: str = "15 * * * *"  # stale data is noticed within the hour
    dispatch: str = "* * * * *"
    digest: str = "0 9 * * 1-5"
    remind: str = "30 9 * * 1-5"
    overview: str = "0 9 * * 1"  # Article 11: the bureau's weekly overview of open flags
    filing_reminder: str = "0 9 * * *"  # sends only on the filing_reminder_days
    expiry_warning: str = "0 9 * * *"  # sends only on the expiry_warning_days
    expired_note: str = "0 9 * * 1"  # weekly, only once the measures have expired
    # A run missed while the daemon was down is made up at start-up within this long.
    misfire_grace_s: int = Field(default=6 * 3600, ge=1)
    # Article 6: days before the 15th of March, June, September and December.
    filing_reminder_days: list[int] = Field(default_factory=lambda: [10, 3])
    # Article 14: days before the measures in force expire.
    expiry_warning_days: list[int] = Field(default_factory=lambda: [60, 30, 7])

    @field_validator("*")
    @classmethod
    def _valid_cron(cls, value: Any) -> Any:
        if isinstance(value, str):  # every text setting here is a cron expression
            cron_trigger(value)
        return value

    @field_validator("filing_reminder_days", "expiry_warning_days")
    @classmethod
    def _days_ahead(cls, days: list[int]) -> list[int]:
        if any(day < 0 or day > 366 for day in days):
            raise ValueError("days before must be between 0 and 366")
        return sorted(set(days), reverse=True)


class DaemonSettings(StrictModel):
    """`sfm run`: leadership, stopping, and the optional health and metrics endpoint."""

    standby_poll_s: float = Field(default=5.0, gt=0)  # how often a standby tries to lead
    stop_timeout_s: float = Field(default=25.0, gt=0)  # SIGTERM: the running job's allowance
    # A leader whose database stops answering pauses its jobs and waits this long for it (and
    # its lock session) to come back before it exits 1 so that a standby can lead.
    db_outage_s: float = Field(default=60.0, gt=0)
    # Loopback port for /healthz and /metrics; 0 turns the endpoint off.
    http_port: int = Field(default=0, ge=0, le=65535)
    http_host: Literal["127.0.0.1", "::1", "localhost"] = "127.0.0.1"
    reports: str = "var/reports"  # filing reports attached to reminders
    # The staff commands' door (DESIGN §7), a Unix socket. "": beside a SQLite database
    # file (var/sfm.db.sock); with PostgreSQL a server sets it (e.g. /run/sfm/sfm.sock).
    socket: str = ""
    # The operators' OS group: the socket is 0660 and theirs. "": the daemon's user only.
    socket_group: str = ""
    # The account the daemon runs as: clients answer only a daemon of this user (or root).
    # "": the owner of the SQLite database, or of the socket's folder.
    user: str = ""
    # The API's bounds: connections at once, seconds a connection may stall, upload size.
    max_connections: int = Field(default=64, ge=1, le=1024)
    io_timeout_s: float = Field(default=15.0, gt=0)
    max_import_bytes: int = Field(default=32 << 20, ge=1 << 10)
    # Processes that answer reads (listings, a flag, status) beside the daemon, so that
    # staff reading never slow its sweeps (monitor/api/readers.py); 0: its own threads.
    readers: int = Field(default=1, ge=0, le=16)


class Settings(StrictModel):
    # NAME=value lines every command and the daemon read before `${NAME}` is substituted
    # (relative to this file); the process environment wins over it. "": none.
    env_file: str = ""
    database: DatabaseSettings = DatabaseSettings()
    logging: LoggingSettings = LoggingSettings()
    codes: CodesSettings = CodesSettings()
    alerts: AlertsSettings = AlertsSettings()
    operators: dict[str, OperatorSettings] = Field(default_factory=dict)
    allow_operator_override: bool = False
    # the measures in force, keyed by name: thresholds, status map, switches (DESIGN §4)
    policy: dict[str, Policy] = Field(default_factory=lambda: dict(DEFAULT_POLICIES))
    connectors: list[ConnectorSettings] = Field(default_factory=list)
    simulator: SimulatorSettings = SimulatorSettings()
    sweep: SweepSettings = SweepSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    daemon: DaemonSettings = DaemonSettings()

    @field_validator("connectors")
    @classmethod
    def _unique_names(cls, connectors: list[ConnectorSettings]) -> list[ConnectorSettings]:
        names = [connector.name for connector in connectors]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"connector names must be unique: {', '.join(duplicates)}")
        return connectors


@dataclass(frozen=True)
class LoadedConfig:
    """The validated settings, where they came from, and a copy safe to print."""

    settings: Settings
    path: Path | None  # None when no file exists and the built-in defaults apply
    masked: dict[str, Any] = field(default_factory=dict)
    # `${NAME}`s whose value is shorter than SHORT_SECRET: masked all the same, but weak
    short_secrets: tuple[str, ...] = ()
    # the environment `${NAME}` was read from (the process's over env_file's), for the
    # files the config names (authorities.toml)
    environ: Mapping[str, str] = field(default_factory=dict, repr=False)

    @property
    def directory(self) -> Path:
        return self.path.parent if self.path else DEFAULT_CONFIG_PATH.parent

    def resolve(self, relative: str) -> Path:
        """A path from the config, relative to the config file's folder."""
        candidate = Path(relative)
        return candidate if candidate.is_absolute() else self.directory / candidate

    @property
    def authorities_file(self) -> Path:
        from monitor.defaults import packaged

        named = self.settings.alerts.authorities
        if named:
            return self.resolve(named)
        beside = self.resolve("authorities.toml")
        return beside if beside.is_file() else packaged("authorities.toml")

    @property
    def simulator_data(self) -> Path:
        from monitor.defaults import packaged

        data = self.settings.simulator.data
        return self.resolve(data) if data else packaged("demo", "upstream.json")

    @property
    def template_override(self) -> Path | None:
        folder = self.settings.alerts.templates
        return self.resolve(folder) if folder else None


def substitute_env(
    value: Any, environ: Mapping[str, str], *, source: str, key: str = ""
) -> tuple[Any, Any]:
    """Replace `${NAME}` from `environ` in every string; return (effective, masked) trees."""
    if isinstance(value, dict):
        pairs = {
            name: substitute_env(item, environ, source=source, key=f"{key}.{name}".lstrip("."))
            for name, item in value.items()
        }
        return {k: v[0] for k, v in pairs.items()}, {k: v[1] for k, v in pairs.items()}
    if isinstance(value, list):
        pairs_list = [
            substitute_env(item, environ, source=source, key=f"{key}[{index}]")
            for index, item in enumerate(value)
        ]
        return [p[0] for p in pairs_list], [p[1] for p in pairs_list]
    if not isinstance(value, str):
        return value, value

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in environ:
            raise ConfigError(Message("config.env_unset", source=source, key=key, name=name))
        remember_secret(environ[name])
        return environ[name]

    return _ENV_REFERENCE.sub(replace, value), mask_secrets(_ENV_REFERENCE.sub(MASK, value))


_URL_PASSWORD = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@\s]+):[^@\s]+@", re.I)


_URL = re.compile(r"[a-z][a-z0-9+.-]*://[^\s'\"<>]+", re.I)
# a URL's tail after scheme://host: path segments, then query parameters
_SECRET_PARAM = re.compile(
    r"(?P<name>[?&](?:access_?token|api_?key|key|secret|sign(?:ature)?|pass(?:word)?|token)=)"
    r"[^&#\s]+",
    re.I,
)
_TOKEN = re.compile(r"(?<=[/=])(?=[A-Za-z0-9_-]*\d)[A-Za-z0-9_-]{12,}")
# Values the config took from the environment: whatever text they turn up in, they are hidden.
_KNOWN_SECRETS: set[str] = set()


def mask_secrets(text: str) -> str:
    """Hide what could be a credential in `text`: passwords in URLs, webhook keys and
    tokens in a URL's path or query (as `a...z`), and every value the config took
    from the environment."""
    text = _URL_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
    text = _URL.sub(_mask_url, text)
    # the longest first: a short secret inside a longer one never leaves the rest showing
    for secret in sorted(_KNOWN_SECRETS, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def _mask_url(match: re.Match[str]) -> str:
    url = match.group(0)
    scheme, _, rest = url.partition("://")
    host, slash, tail = rest.partition("/")
    if not slash:
        host, question, tail = rest.partition("?")
        slash = question
    if scheme.lower() not in ("http", "https") and "@" not in host and "." not in host:
        # apprise's wecombot://KEY, dingtalk://TOKEN: the "host" is the credential
        host = _shorten(host) if len(host) >= 12 else host
    tail = _SECRET_PARAM.sub(lambda m: m["name"] + MASK, ("?" if slash == "?" else "") + tail)
    tail = _TOKEN.sub(lambda m: _shorten(m.group(0), keep_codes=True), tail)
    if slash == "?":
        return f"{scheme}://{host}{tail}"
    return f"{scheme}://{host}{slash}{tail}"


_CREDIT_CODE = re.compile(r"[0-9A-Z]{18}")


def _shorten(token: str, *, keep_codes: bool = False) -> str:
    if keep_codes and _CREDIT_CODE.fullmatch(token):
        return token  # a credit code is what logs are searched by, not a secret
    return f"{token[0]}...{token[-1]}"


def remember_secret(value: str) -> None:
    """A value from the environment that a config used: never shown again, whatever
    its length (`config check` warns about short ones)."""
    if value:
        _KNOWN_SECRETS.add(value)


SHORT_SECRET = 12


def read_env_file(path: Path, key: str = "env_file") -> dict[str, str]:
    """The NAME=value lines of the secrets file (systemd's EnvironmentFile syntax: comments,
    quotes, `export`), read by python-dotenv; a missing or unreadable file names itself."""
    from dotenv import dotenv_values

    try:
        with path.open(encoding="utf-8") as handle:
            values = dotenv_values(stream=handle)
    except FileNotFoundError as exc:
        raise ConfigError(Message("config.env_file_missing", key=key, path=str(path))) from exc
    except PermissionError as exc:
        raise ConfigError(
            Message("config.env_file_denied", key=key, path=str(path), owner=_owner(path))
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(Message("config.unreadable", path=str(path), detail=str(exc))) from exc
    return {name: value for name, value in values.items() if value is not None}


def _owner(path: Path) -> str:
    import pwd

    try:
        uid = path.stat().st_uid
    except OSError:
        return "?"
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


# pydantic's error types, said in the reader's language (the rest keep pydantic's words)
_PROBLEMS = {
    "extra_forbidden": "config.unknown_key",
    "missing": "config.missing_key",
    "int_parsing": "config.not_integer",
    "int_type": "config.not_integer",
    "float_parsing": "config.not_number",
    "bool_parsing": "config.not_boolean",
    "bool_type": "config.not_boolean",
    "string_type": "config.not_text",
    "greater_than_equal": "config.at_least",
    "greater_than": "config.more_than",
    "less_than_equal": "config.at_most",
    "literal_error": "config.one_of",
    "enum": "config.one_of",
    "date_from_datetime_parsing": "config.not_date",
    "date_parsing": "config.not_date",
}


def describe_problem(error: Any) -> str:
    """One validation problem: the key's dotted location and what is wrong with it."""
    location = ".".join(str(part) for part in error["loc"])
    key = _PROBLEMS.get(error["type"])
    context = {name: str(value) for name, value in (error.get("ctx") or {}).items()}
    if key is None:
        return f"{location}: " + t("config.invalid", detail=error["msg"])
    return f"{location}: " + t(key, **context)


def load_config(
    explicit: str | os.PathLike[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> LoadedConfig:
    """Read, substitute and validate the configuration; raise ConfigError naming file and key."""
    environ = os.environ if environ is None else environ
    path, named = config_path(explicit)
    raw: dict[str, Any] = {}
    if path.exists():
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(Message("config.not_toml", path=str(path), detail=str(exc))) from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(
                Message("config.unreadable", path=str(path), detail=str(exc))
            ) from exc
    elif named:
        raise ConfigError(Message("config.not_found", path=str(path)))

    env_file = raw.get("env_file")
    if isinstance(env_file, str) and env_file:
        folder = path.parent
        named_file = Path(env_file) if Path(env_file).is_absolute() else folder / env_file
        environ = {**read_env_file(named_file), **environ}
    effective, masked = substitute_env(raw, environ, source=str(path))
    short = short_secrets(raw, environ)
    if environ.get("SFM_DATABASE_URL"):
        _remember_url_password(environ["SFM_DATABASE_URL"])
        effective.setdefault("database", {})["url"] = environ["SFM_DATABASE_URL"]
        masked.setdefault("database", {})["url"] = mask_secrets(environ["SFM_DATABASE_URL"])
    try:
        settings = Settings.model_validate(effective)
    except ValidationError as exc:
        problems = [describe_problem(error) for error in exc.errors()]
        raise ConfigError(f"{path}: " + "; ".join(problems), details=problems) from exc
    try:
        policies = with_texts(settings.policy, path.parent)
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    settings = settings.model_copy(update={"policy": policies})
    try:
        shown = Settings.model_validate(masked).model_dump(mode="json")
    except ValidationError:
        shown = masked
    return LoadedConfig(
        settings=settings,
        path=path if path.exists() else None,
        masked=shown,
        short_secrets=short,
        environ=environ,
    )


def short_secrets(raw: Any, environ: Mapping[str, str]) -> tuple[str, ...]:
    """The `${NAME}`s a config tree uses whose values are shorter than SHORT_SECRET."""
    return tuple(
        name for name in sorted(_references(raw)) if len(environ.get(name, "")) < SHORT_SECRET
    )


def _references(value: Any) -> set[str]:
    """The `${NAME}`s a config tree uses (comments are not values, so not counted)."""
    if isinstance(value, dict):
        return set().union(*(_references(item) for item in value.values()))
    if isinstance(value, list):
        return set().union(*(_references(item) for item in value))
    return set(_ENV_REFERENCE.findall(value)) if isinstance(value, str) else set()


def _remember_url_password(url: str) -> None:
    found = _URL_PASSWORD.search(url)
    if found:
        password = url[found.end("user") + 1 : found.end() - 1]
        remember_secret(password)
