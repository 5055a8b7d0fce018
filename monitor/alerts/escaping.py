"""Provider text is data, never markup (DESIGN §5): every value a template prints is
escaped for the channel it goes to.

Email: apprise turns the Markdown into HTML (python-markdown, which passes raw HTML
through), so HTML's `<`, `>` and `&` become entities and Markdown's inline marks
are escaped with a backslash, as are the marks that start a block at a line's start.
IM (WeCom, DingTalk, Feishu Markdown) knows no backslash escapes and reads some
HTML: its marks become their full-width forms, which read the same to an official
and mean nothing to the platform. Line breaks stay.
"""

from __future__ import annotations

import html
import re

_INLINE = re.compile(r"([\\`*_\[\]|~])")
_BLOCK_START = re.compile(r"^(\s*)([#>+\-=]|\d+[.)])", re.MULTILINE)
_IM_LOOKALIKES = str.maketrans(
    {
        "<": "＜",
        ">": "＞",
        "&": "＆",
        "[": "［",
        "]": "］",
        "`": "｀",
        "*": "＊",
        "_": "＿",
        "#": "＃",
        "|": "｜",
        "~": "～",
        "@": "＠",
        "\\": "＼",
    }
)


def for_email(text: str) -> str:
    escaped = _INLINE.sub(r"\\\1", html.escape(text, quote=False))
    return _BLOCK_START.sub(lambda m: m.group(1) + "\\" + m.group(2), escaped)


_IM_BLOCK_START = re.compile(r"^(\s*)([+\-=])", re.MULTILINE)


def for_im(text: str) -> str:
    text = _IM_BLOCK_START.sub(lambda m: m.group(1) + chr(ord(m.group(2)) + 0xFEE0), text)
    return text.translate(_IM_LOOKALIKES)


def for_subject(text: str) -> str:
    """A subject line is plain text: one line, whatever the value held."""
    return " ".join(text.split())


ESCAPES = {"email": for_email, "im": for_im, "subject": for_subject}
