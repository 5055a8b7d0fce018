"""Which schema revision this code needs, and the one check every command makes against it.

The revisions are read from the migration files themselves (their `revision`
and `down_revision` lines), not through alembic: `sfm flags list` checks the
schema too, and must start without importing the database layer.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from monitor.errors import Refused
from monitor.i18n import Message

VERSIONS = Path(__file__).parent / "migrations" / "versions"
_ASSIGNMENT = re.compile(r'^(revision|down_revision)\s*(?::[^=]*)?=\s*["\']([^"\']+)["\']', re.M)


@cache
def revisions() -> dict[str, str | None]:
    """Every known revision → the one it follows (None for the first)."""
    known: dict[str, str | None] = {}
    for path in sorted(VERSIONS.glob("*.py")):
        found = dict(_ASSIGNMENT.findall(path.read_text(encoding="utf-8")))
        if "revision" in found:
            known[found["revision"]] = found.get("down_revision")
    return known


def schema_head() -> str:
    """The newest revision: the one no other revision follows."""
    known = revisions()
    heads = set(known) - {parent for parent in known.values() if parent}
    if len(heads) != 1:
        raise RuntimeError(f"the migrations have {len(heads)} heads: {sorted(heads)}")
    return heads.pop()


def check_versions(versions: list[str]) -> None:
    """Refuse a database whose recorded revision is not this code's head."""
    head = schema_head()
    if versions == [head]:
        return
    current = ", ".join(versions)
    if versions and not set(versions) <= set(revisions()):
        raise Refused(Message("db.ahead", current=current, head=head))
    raise Refused(Message("db.behind", current=current or "(empty)", head=head))
