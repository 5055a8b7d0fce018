"""Text shown to officials and staff: Simplified Chinese by default, English with SFM_LANG=en.

The texts are data, one file per language (monitor/defaults/texts/zh.json, en.json),
read once; official notices are templates (monitor/defaults/templates/). Messages are
looked up by key so that errors can be raised as data (key and parameters) and
rendered in the reader's language only when shown.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from importlib.resources import files
from typing import Any

from monitor.vocabulary import RULES

SUPPORTED = ("zh", "en")


def _load_catalog() -> dict[str, dict[str, str]]:
    """The texts, one file per language in the package (monitor/defaults/texts/), read once:
    key → language → text. Chinese is the reference: every key has it."""
    texts = files("monitor.defaults").joinpath("texts")
    by_language = {
        language: json.loads(texts.joinpath(f"{language}.json").read_text(encoding="utf-8"))
        for language in SUPPORTED
    }
    return {
        key: {
            language: by_language[language][key]
            for language in SUPPORTED
            if key in by_language[language]
        }
        for key in by_language["zh"]
    }


CATALOG: dict[str, dict[str, str]] = _load_catalog()
# each rule's name comes from the rule catalogue (monitor/vocabulary.RULES)
CATALOG.update({f"rule.{spec.id}": {"zh": spec.zh, "en": spec.en} for spec in RULES.values()})


_FORCED: ContextVar[str | None] = ContextVar("sfm_language", default=None)


@contextmanager
def using_language(lang: str) -> Iterator[None]:
    """Render in `lang` whatever SFM_LANG says (alerts follow [alerts] language)."""
    token = _FORCED.set(lang)
    try:
        yield
    finally:
        _FORCED.reset(token)


def language() -> str:
    """The reader's language: SFM_LANG if it names a supported one, else Chinese."""
    lang = (_FORCED.get() or os.environ.get("SFM_LANG", "zh")).strip().lower()
    for supported in SUPPORTED:
        if lang.startswith(supported):
            return supported
    return "zh"


def t(key: str, /, **params: Any) -> str:
    """Render message `key` in the reader's language."""
    entry = CATALOG[key]
    return entry.get(language(), entry["zh"]).format(**params)


class Message:
    """A message kept as data (key and parameters) until shown."""

    def __init__(self, key: str, /, **params: Any) -> None:
        if key not in CATALOG:
            raise KeyError(key)
        self.key = key
        self.params = params

    def __str__(self) -> str:
        # a flag's states are recorded as words of the vocabulary; readers get the catalogue's
        shown = {
            name: t(f"state.{value}")
            if name.endswith("_state") and f"state.{value}" in CATALOG
            else value
            for name, value in self.params.items()
        }
        return t(self.key, **shown)

    def __repr__(self) -> str:
        return f"Message({self.key!r}, **{self.params!r})"


def flag_summary(key: str, params: dict[str, Any]) -> str:
    """A flag's summary in the reader's language, its coded values spelled out."""
    shown = {
        name: t(f"{name}.{value}") if f"{name}.{value}" in CATALOG else value
        for name, value in params.items()
    }
    try:
        return str(Message(key, **shown))
    except (KeyError, IndexError):  # a message whose parameters changed since it was stored
        return key


def word_of(prefix: str, text: str | None) -> str | None:
    """The recorded word a filter names, in either language: `word_of("state", "待处理")` is
    "open". The word itself passes through; anything else is returned as given, for the
    caller's own check to refuse."""
    if text is None:
        return None
    wanted = text.strip()
    for key, texts in CATALOG.items():
        if key.startswith(prefix + ".") and wanted in (texts.get("zh"), texts.get("en")):
            return key.removeprefix(prefix + ".")
    return wanted


def audit_reason(text: str) -> str:
    """An audit reason as readers see it: the system's own are words of the catalogue
    (audit.reason.*), staff's are shown as written."""
    key = f"audit.reason.{text}"
    return t(key) if key in CATALOG else text
