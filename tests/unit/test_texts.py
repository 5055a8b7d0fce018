"""The catalogue of texts is data, one file per language: every key in both, with the same
placeholders, so no reader ever meets a missing text or a {name} left unfilled."""

import json
import string
from importlib.resources import files

import pytest

from monitor.i18n import CATALOG, SUPPORTED

TEXTS = {
    language: json.loads(
        files("monitor.defaults").joinpath("texts", f"{language}.json").read_text("utf-8")
    )
    for language in SUPPORTED
}


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_text_exists_in_every_language() -> None:
    assert set(TEXTS["zh"]) == set(TEXTS["en"])
    assert set(TEXTS["zh"]) <= set(CATALOG)


@pytest.mark.parametrize("key", sorted(TEXTS["zh"]))
def test_each_language_fills_the_same_placeholders(key: str) -> None:
    assert placeholders(TEXTS["zh"][key]) == placeholders(TEXTS["en"][key]), key
