"""Imports point one way: each part of monitor/ imports only from the parts below it.

Read from the bottom: the words, then the rules and storage, alerts, flags, the
register, sweeps, staff decisions and reports, the daemon, the runtime and the API it
serves, and the CLI on top (a client of the API).
Connectors never import monitor. A lazy import inside a function counts too.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
LAYERS = [
    {"vocabulary", "clauses", "clock", "codes", "i18n", "errors", "calendar", "defaults"},
    {"locations"},
    {"rules"},
    {"config", "logs", "storage"},
    {"alerts"},
    {"operators", "flags"},
    {"register"},
    {"sweep"},
    {"decisions", "reports"},
    {"daemon"},
    {"runtime", "api"},
    {"cli"},
]
LAYER_OF = {part: index for index, parts in enumerate(LAYERS) for part in parts}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            if node.module == "monitor":
                found.update(f"monitor.{alias.name}" for alias in node.names)
    return found


def part_of(module: str) -> str | None:
    pieces = module.split(".")
    return pieces[1] if pieces[0] == "monitor" and len(pieces) > 1 else None


MODULES = sorted((ROOT / "monitor").rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_monitor_modules_import_only_from_their_layer_or_below(path: Path) -> None:
    own = path.relative_to(ROOT / "monitor").parts[0].removesuffix(".py")
    if own in ("__init__", "__main__"):
        return
    assert own in LAYER_OF, f"{own} is in no layer: add it to LAYERS"
    above = sorted(
        module
        for module in imported_modules(path)
        if (part := part_of(module)) is not None
        and part in LAYER_OF
        and LAYER_OF[part] > LAYER_OF[own]
    )
    assert above == [], f"{path.relative_to(ROOT)} imports from above its layer: {above}"


def test_connectors_never_import_monitor() -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            m for m in imported_modules(path) if m.startswith("monitor")
        )
        for path in (ROOT / "connectors").rglob("*.py")
    }
    assert {path: mods for path, mods in offenders.items() if mods} == {}


def test_rules_do_no_io() -> None:
    io = (
        "monitor.storage",
        "sqlalchemy",
        "sqlmodel",
        "httpx",
        "aiohttp",
        "apprise",
        "monitor.alerts",
    )
    for path in (ROOT / "monitor" / "rules").rglob("*.py"):
        assert not [m for m in imported_modules(path) if m.startswith(io)], path
