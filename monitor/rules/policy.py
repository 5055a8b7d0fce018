"""The measures in force, as configuration: thresholds, status maps, windows, rule switches.

Keyed by the measures' name (`[policy."2025"]`), each with its effective dates,
so the successor to the 2025 measures is a config block, not a code change.
When the last configured measures have expired and none follows, sfm keeps
applying them and says so (`PolicyChoice.expired`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field, model_validator

from monitor.vocabulary import RULE_IDS, RegistrationStatus


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

DEFAULT_STATUS_MAP: dict[str, RegistrationStatus] = {
    "存续": RegistrationStatus.ACTIVE,
    "在业": RegistrationStatus.ACTIVE,
    "在营": RegistrationStatus.ACTIVE,
    "开业": RegistrationStatus.ACTIVE,
    "在册": RegistrationStatus.ACTIVE,
    "存续(在营、开业、在册)": RegistrationStatus.ACTIVE,
    "迁入": RegistrationStatus.ACTIVE,
    "迁出": RegistrationStatus.MOVED_OUT,
    "注销": RegistrationStatus.DEREGISTERED,
    "吊销,已注销": RegistrationStatus.DEREGISTERED,
    "吊销": RegistrationStatus.LICENSE_REVOKED,
    "吊销,未注销": RegistrationStatus.LICENSE_REVOKED,
    "撤销": RegistrationStatus.CANCELLED,
    "停业": RegistrationStatus.SUSPENDED,
    "歇业": RegistrationStatus.SUSPENDED,
    "清算": RegistrationStatus.LIQUIDATING,
    "清算中": RegistrationStatus.LIQUIDATING,
    "破产": RegistrationStatus.LIQUIDATING,
}


def status_key(raw: str) -> str:
    """Providers mix full- and half-width punctuation and spaces: compare without them."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", raw)).replace("，", ",")


@lru_cache(maxsize=64)
def _status_table(overrides: tuple[tuple[str, str], ...]) -> dict[str, RegistrationStatus]:
    table = {status_key(k): v for k, v in DEFAULT_STATUS_MAP.items()}
    table.update({status_key(k): RegistrationStatus(v) for k, v in overrides})
    return table


def map_status(raw: str, overrides: Mapping[str, str]) -> RegistrationStatus:
    """What a provider's status text means: the measures' own map over the defaults;
    `unknown` for anything neither maps."""
    return _status_table(tuple(sorted(overrides.items()))).get(
        status_key(raw), RegistrationStatus.UNKNOWN
    )


class Policy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str
    effective_from: date
    expires_on: date | None = None  # Article 14 of the 2025 measures: 2026-12-31
    # Article 5(3): accidents this many years before the designation date bear on whether
    # the conditions were met (art5.3-prior-accident); older ones bear on nothing
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
        effective_from=date(2025, 4, 29),  # Article 14: in force from issue, 2025-04-29
        expires_on=date(2026, 12, 31),
    )
}


@dataclass(frozen=True)
class PolicyChoice:
    key: str
    policy: Policy
    expired: bool  # the last measures have expired and no successor is configured


def measures_in_force(policies: Mapping[str, Policy], on: date) -> PolicyChoice:
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
