"""A client's process collects cyclic garbage seldom and leaves its objects to the exit (its
start-up's objects live as long as it does); the daemon and the local commands keep Python's
collector as it is."""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Iterator

import pytest

import monitor.cli

DEFAULT_THRESHOLDS = gc.get_threshold()


@pytest.fixture(autouse=True)
def collector() -> Iterator[None]:
    umask = os.umask(0o077)
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*DEFAULT_THRESHOLDS)
        os.umask(umask)


def main_of(monkeypatch: pytest.MonkeyPatch, *words: str) -> tuple[tuple[int, ...], int]:
    """main() on these words, the command itself left out: the collector's thresholds while
    the command ran, and how many objects were frozen once it returned."""
    seen: list[tuple[int, ...]] = []

    def command() -> int:
        seen.append(gc.get_threshold())
        return 0

    monkeypatch.setattr(sys, "argv", ["sfm", "--config", "sfm.toml", *words])
    monkeypatch.setattr(monitor.cli, "run", command)
    with pytest.raises(SystemExit):
        monitor.cli.main()
    return seen[0], gc.get_freeze_count()


def test_a_client_collects_every_50000_objects_and_leaves_the_rest_to_the_exit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    threshold, frozen = main_of(monkeypatch, "flags", "list")
    assert threshold == (50_000, *DEFAULT_THRESHOLDS[1:]) and frozen > 0


@pytest.mark.parametrize("word", sorted(monitor.cli.LOCAL_COMMANDS))
def test_the_local_commands_keep_the_collector(monkeypatch: pytest.MonkeyPatch, word: str) -> None:
    assert main_of(monkeypatch, word) == (DEFAULT_THRESHOLDS, 0)
