"""The measures in force, as configuration: thresholds, status maps, windows, rule switches.

Keyed by the measures' name (`[policy."2025"]`), each with its effective dates,
so the successor to the 2025 measures is a config block, not a code change.
When the last configured measures have expired and none follows, sfm keeps
applying them and says so (`PolicyChoice.expired`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from pydantic import BaseModel, ConfigDict, Field, model_validator

from connectors.base import RegistrationStatus


class Thresholds(BaseModel):
    """One grade's lower bounds; any one reached is enough ("以上" includes the bound)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    deaths: int | None = None
    serious_injuries: int | None = None
    evacuated: int | None = None
    direct_loss_cny: float | None = None


class Grading(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    especially_major: Thresholds = Thresholds()
    major: Thresholds = Thresholds()
    large: Thresholds = Thresholds()


# State Council Decree 493, art. 3 (production safety accidents).
PRODUCTION_SAFETY = Grading(
    especially_major=Thresholds(deaths=30, serious_injuries=100, direct_loss_cny=100_000_000),
    major=Thresholds(deaths=10, serious_injuries=50, direct_loss_cny=50_000_000),
    large=Thresholds(deaths=3, serious_injuries=10, direct_loss_cny=10_000_000),
)
# National emergency plan for environmental incidents (2014), annex 1.
ENVIRONMENTAL = Grading(
    especially_major=Thresholds(
        deaths=30, serious_injuries=100, evacuated=50_000, direct_loss_cny=100_000_000
    ),
    major=Thresholds(deaths=10, serious_injuries=50, evacuated=10_000, direct_loss_cny=20_000_000),
    large=Thresholds(deaths=3, serious_injuries=10, evacuated=5_000, direct_loss_cny=5_000_000),
)

RULE_IDS = (
    "art12.1-false-information",
    "art12.2-terminated",
    "art12.2-not-operating",
    "art12.3-major-accident",
    "art12.3-large-accident",
    "art12.4-relocated",
    "art12.5-penalty",
    "art12-rename-pending",
    "art12-restructure-pending",
    "data-unknown-status",
    "data-not-found",
)


class Policy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str
    effective_from: date
    expires_on: date | None = None  # Article 14 of the 2025 measures: 2026-12-31
    large_accident_window_years: int = Field(default=3, ge=0)
    # Administrative penalties at or above this fine raise a review; 0 means any penalty.
    penalty_fine_threshold_cny: float = Field(default=0, ge=0)
    status_map: dict[str, RegistrationStatus] = Field(default_factory=dict)
    rules: dict[str, bool] = Field(default_factory=dict)  # rule id → enabled (default on)
    production_safety: Grading = PRODUCTION_SAFETY
    environmental: Grading = ENVIRONMENTAL
    quality: Grading = Grading()  # no statutory casualty grading: the provider's grade only

    @model_validator(mode="after")
    def _known_rules(self) -> Policy:
        unknown = sorted(set(self.rules) - set(RULE_IDS))
        if unknown:
            raise ValueError(f"unknown rule ids {', '.join(unknown)}")
        return self

    def enabled(self, rule_id: str) -> bool:
        return self.rules.get(rule_id, True)

    def grading(self, category: str) -> Grading:
        return {
            "production_safety": self.production_safety,
            "environmental": self.environmental,
            "quality": self.quality,
        }[category]


DEFAULT_POLICIES: dict[str, Policy] = {
    "2025": Policy(
        title="北京市智能工厂认定管理办法（京经信发〔2025〕22号）",
        effective_from=date(2025, 1, 1),
        expires_on=date(2026, 12, 31),
    )
}


@dataclass(frozen=True)
class PolicyChoice:
    key: str
    policy: Policy
    expired: bool  # the last measures have expired and no successor is configured


def policy_in_force(policies: dict[str, Policy], on: date) -> PolicyChoice:
    """The measures in force on a day: the latest to have taken effect by then."""
    if not policies:
        policies = DEFAULT_POLICIES
    started = [(p.effective_from, key) for key, p in policies.items() if p.effective_from <= on]
    if not started:
        key = min(policies, key=lambda k: policies[k].effective_from)
    else:
        key = max(started)[1]
    policy = policies[key]
    latest = max(policies.values(), key=lambda p: p.effective_from)
    expired = policy is latest and policy.expires_on is not None and on > policy.expires_on
    return PolicyChoice(key, policy, expired)
