from pathlib import Path

import pytest
import structlog

from monitor.alerts.authorities import Authorities, Authority
from monitor.alerts.routing import recipients


def authorities(*districts: str) -> Authorities:
    keys = ["municipal", "ops", *districts]
    return Authorities(
        {k: Authority(k, k, (f"json://h/{k}",), (f"json://h/{k}",)) for k in keys},
        Path("authorities.toml"),
    )


def route(
    level: str,
    severity: str,
    rule: str = "art12.5-penalty",
    district: str = "110108",
    configured: tuple[str, ...] = ("110108",),
) -> list[str]:
    return recipients(
        authorities(*configured),
        level=level,
        district_code=district,
        severity=severity,
        rule_id=rule,
    )


def test_basic_level_goes_to_its_district() -> None:
    assert route("basic", "review") == ["110108"]


def test_advanced_level_goes_to_the_bureau_and_the_district() -> None:
    assert route("advanced", "review") == ["municipal", "110108"]


def test_revocations_and_renames_always_reach_the_bureau() -> None:
    assert route("basic", "revocation") == ["municipal", "110108"]
    assert route("basic", "action", rule="art12-rename-pending") == ["municipal", "110108"]


def test_a_district_without_authority_falls_back_to_the_bureau_with_a_warning() -> None:
    with structlog.testing.capture_logs() as logs:
        assert route("basic", "review", district="110119", configured=()) == ["municipal"]
    assert any(entry["event"].startswith("district has no authority") for entry in logs)
    assert route("advanced", "revocation", district="110119", configured=()) == ["municipal"]


@pytest.mark.parametrize("level", ["basic", "advanced"])
def test_nobody_is_listed_twice(level: str) -> None:
    keys = route(level, "revocation")
    assert len(keys) == len(set(keys))


@pytest.mark.parametrize("rule", ["art12-rename-pending", "art12-restructure-pending"])
def test_a_rename_or_restructure_reaches_the_bureau_at_every_level(rule: str) -> None:
    """Article 12: the enterprise applies to the bureau, so the bureau hears of it too."""
    assert route("basic", "review", rule=rule) == ["municipal", "110108"]
