"""Build connectors from their settings: built-in kinds, or plugins under `sfm.connectors`."""

from __future__ import annotations

from collections.abc import Iterable
from importlib.metadata import entry_points
from pathlib import Path

from connectors.base import Connector, DropConnector
from connectors.errors import ConnectorSetupError
from connectors.files import FilesConnector
from connectors.http import HttpConnector
from connectors.settings import ConnectorSettings

ENTRY_POINT_GROUP = "sfm.connectors"
SIMULATOR_PLACEHOLDER = "{simulator}"


def plugin_class(kind: str) -> type[HttpConnector]:
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        if entry.name == kind:
            loaded = entry.load()
            if not (isinstance(loaded, type) and hasattr(loaded, "fetch")):
                raise ConnectorSetupError(
                    f"plugin {kind!r} ({entry.value}) is not a connector class"
                )
            return loaded
    known = sorted(entry.name for entry in entry_points(group=ENTRY_POINT_GROUP))
    raise ConnectorSetupError(
        f"unknown connector kind {kind!r}: not http, files or simulator, and no plugin of "
        f"that name is installed (plugins: {', '.join(known) or 'none'})"
    )


def build_connector(
    settings: ConnectorSettings,
    *,
    base_dir: Path = Path("."),
    simulator_url: str | None = None,
    accept_codes: Iterable[str] = (),
) -> Connector | DropConnector:
    """The connector `settings` describe; `accept_codes` are the credit codes a dropped
    row may carry despite a bad check character."""
    if settings.kind == "files":
        folder = Path(settings.path or "")
        return FilesConnector(
            settings,
            folder=folder if folder.is_absolute() else base_dir / folder,
            accept_codes=accept_codes,
        )
    url = settings.url or ""
    if SIMULATOR_PLACEHOLDER in url:
        if simulator_url is None:
            raise ConnectorSetupError(
                f"connector {settings.name}: no simulator is running for {url}"
            )
        url = url.replace(SIMULATOR_PLACEHOLDER, simulator_url)
    if settings.kind in ("http", "simulator"):
        return HttpConnector(settings, url=url)
    return plugin_class(settings.kind)(settings, url=url)
