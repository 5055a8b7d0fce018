"""What the client and the daemon agree on, kept light (the client imports it)."""

from __future__ import annotations

PREFIX = "/api/v1"

# who may act for the account that owns the database (demo, tests): honoured only where
# the config sets allow_operator_override, and only for that account (DESIGN §7)
OPERATOR_HEADER = "Sfm-Operator"
# an export's outcome (how many rows), beside the file it downloads
RESULT_HEADER = "Sfm-Result"

# An error's stable code: its HTTP status and the CLI's exit code (DESIGN §7).
ERRORS: dict[str, tuple[int, int]] = {
    "bad_input": (400, 2),
    "too_large": (413, 2),
    "refused": (409, 3),
    "busy": (503, 3),
    "not_found": (404, 4),
    "incomplete": (422, 5),
    "unexpected": (500, 1),
}


def exit_code_of(code: str) -> int:
    return ERRORS.get(code, (500, 1))[1]


def language_of(accept_language: str | None) -> str:
    """The caller's language from its Accept-Language header: English when it asks for it
    first, else Chinese (the default of every text shown to officials)."""
    wanted = (accept_language or "zh").split(",")[0].strip().lower()
    return "en" if wanted.startswith("en") else "zh"
