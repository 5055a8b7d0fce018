"""Who is acting: the OS user, or SFM_OPERATOR where config allows an override (demo, tests)."""

from __future__ import annotations

import getpass
import os
from collections.abc import Mapping

from monitor.config import Settings
from monitor.errors import Refused


def acting_user(settings: Settings, environ: Mapping[str, str] | None = None) -> str:
    environ = os.environ if environ is None else environ
    override = environ.get("SFM_OPERATOR", "").strip()
    if override:
        if not settings.allow_operator_override:
            raise Refused(
                "SFM_OPERATOR is set but the config does not set allow_operator_override = true; "
                "unset it to act as the OS user"
            )
        return override
    return getpass.getuser()
