"""What `sfm run` checks before it takes the lead: a bad authorities file, template or
connector stops the start (exit 2) with the file and key, instead of every job failing
later with no reason (issue 22)."""

from __future__ import annotations

from pathlib import Path

from monitor.config import LoadedConfig
from monitor.errors import ConfigError, SfmError
from monitor.i18n import Message


def problems(config: LoadedConfig) -> list[str]:
    """Every reason the daemon would fail once started, a line each naming file and key."""
    return [*_authorities(config), *_templates(config), *_connectors(config)]


def require_startable(config: LoadedConfig) -> None:
    found = problems(config)
    if found:
        raise ConfigError(Message("run.preflight", count=len(found)), details=found)


def _authorities(config: LoadedConfig) -> list[str]:
    from monitor.alerts.authorities import load_authorities, unparseable_urls

    try:
        authorities = load_authorities(config)
    except SfmError as exc:
        return [str(exc)]
    return [f"{authorities.path}: {url}" for url in unparseable_urls(authorities)]


def _templates(config: LoadedConfig) -> list[str]:
    """Each template the alerts would use parses (the override folder's and the packaged)."""
    from jinja2 import TemplateSyntaxError

    from monitor.alerts.render import Renderer

    settings = config.settings.alerts
    key = "[alerts] templates"
    try:
        renderer = Renderer(config.template_override, settings.language, settings.im_max_chars)
    except SfmError as exc:
        return [f"{config.path}: {key}: {exc}"]
    found = []
    for name in renderer.environment.list_templates(extensions=["j2"]):
        try:
            renderer.environment.get_template(name)
        except TemplateSyntaxError as exc:
            where = exc.filename or name
            found.append(f"{where}:{exc.lineno}: {exc.message}")
    return found


def _connectors(config: LoadedConfig) -> list[str]:
    from connectors.loader import SIMULATOR_PLACEHOLDER, plugin_class
    from connectors.mapping import RecordMapper

    found = []
    for index, connector in enumerate(config.settings.connectors):
        if not connector.enabled:
            continue
        where = f"{config.path}: connectors[{index}] ({connector.name})"
        try:
            if connector.kind not in ("http", "files", "simulator"):
                plugin_class(connector.kind)
            RecordMapper.for_connector(connector)
        except Exception as exc:  # whatever a plugin or a mapping raises is the reason
            found.append(f"{where}: {exc}")
            continue
        if connector.kind == "files":
            folder = config.resolve(connector.path or "")
            if not Path(folder).is_dir():
                found.append(f"{where}: path: {folder} is not a folder")
        url = connector.url or ""
        if connector.kind == "simulator" and SIMULATOR_PLACEHOLDER not in url:
            found.append(f"{where}: url: a simulator connector's url names {SIMULATOR_PLACEHOLDER}")
    return found
