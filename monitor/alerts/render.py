"""The words of an alert: Jinja2 templates `<language>/<kind>.md.j2`, shipped in the package
(monitor/defaults/templates) and overridable file by file from `[alerts] templates`.

A template's first line is the subject; the rest is Markdown. Email gets the
full text (apprise sends it as HTML with a plain-text part); IM gets the same
template rendered with `compact = true`, cut to the platform's length limit.
Every value a template prints is escaped for its channel (monitor/alerts/escaping.py);
a value built as trusted markup is a `markupsafe.Markup`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateError, pass_context
from jinja2.runtime import Context
from markupsafe import Markup

from monitor.alerts.escaping import ESCAPES
from monitor.defaults import packaged
from monitor.errors import ConfigError


@dataclass(frozen=True)
class Rendered:
    subject: str
    full: str  # Markdown for email
    compact: str  # Markdown for IM, within the length limit


class Renderer:
    def __init__(self, override: Path | None, language: str, im_max_chars: int) -> None:
        folders = [packaged("templates", language)]
        if override is not None:
            if not override.is_dir():
                raise ConfigError(f"{override}: alert templates folder not found")
            folders.insert(0, override / language)
        self.environment = Environment(
            loader=FileSystemLoader(folders),
            undefined=StrictUndefined,
            autoescape=False,  # Markdown, not HTML: escaping is `_escaped`, per channel
            finalize=_escaped,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
        )
        self.im_max_chars = im_max_chars
        self.language = language

    def render(self, kind: str, context: dict[str, Any]) -> Rendered:
        try:
            template = self.environment.get_template(f"{kind}.md.j2")
            plain = template.render(**context, compact=False, channel="subject").strip()
            full = template.render(**context, compact=False, channel="email").strip()
            compact = template.render(**context, compact=True, channel="im").strip()
        except TemplateError as exc:
            raise ConfigError(f"template {self.language}/{kind}.md.j2: {exc}") from exc
        subject = plain.partition("\n")[0]
        _, _, body = full.partition("\n")
        _, _, compact_body = compact.partition("\n")
        return Rendered(subject.strip(), body.strip(), self._fit(compact_body.strip()))

    def _fit(self, text: str) -> str:
        if len(text) <= self.im_max_chars:
            return text
        note = "\n\n……（内容过长已截断）" if self.language == "zh" else "\n\n… (cut to fit)"
        return text[: self.im_max_chars - len(note)].rstrip() + note


@pass_context
def _escaped(context: Context, value: Any) -> Any:
    """What a template prints, escaped for the channel it is being rendered for."""
    if isinstance(value, str) and not isinstance(value, Markup):
        return ESCAPES[context.get("channel", "email")](value)
    return value
