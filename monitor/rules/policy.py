"""The measures over time, as configuration: thresholds, status maps, windows, rule switches,
the text to quote.

Keyed by the measures' name (`[policy."2025"]`), each with its effective dates,
so the successor to the 2025 measures is a config block, not a code change.
A grading table in a block overrides only the keys it names: the rest keeps the
statute's figures (Decree 493; the 2014 environmental plan). On a day no block is
in force (after the last expiry, or in a gap before a successor starts), sfm keeps
applying the most recently expired measures and says so (`PolicyChoice.expired`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator

from monitor.clauses import Clause, MeasuresTextError, catalogue
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

# What each category's grading is when a block says nothing of it.
STATUTE: dict[str, Grading] = {
    "production_safety": PRODUCTION_SAFETY,
    "environmental": ENVIRONMENTAL,
    "quality": Grading(),  # no statutory casualty grading: the provider's grade only
}
GRADES = ("especially_major", "major", "large")


def _over_statute(category: str, given: Any) -> Any:
    """A block's grading table laid over the statute's, key by key."""
    if isinstance(given, Grading):
        given = given.model_dump(exclude_unset=True)
    if not isinstance(given, dict):
        return given  # pydantic says what is wrong with it
    merged = STATUTE[category].model_dump()
    for grade, bounds in given.items():
        if isinstance(bounds, Thresholds):
            bounds = bounds.model_dump(exclude_unset=True)
        if grade in merged and isinstance(bounds, dict):
            merged[grade] = {**merged[grade], **bounds}
        else:
            merged[grade] = bounds
    return merged


_ACTIVE, _MOVED_OUT = RegistrationStatus.ACTIVE, RegistrationStatus.MOVED_OUT
_DEREGISTERED, _REVOKED = RegistrationStatus.DEREGISTERED, RegistrationStatus.LICENSE_REVOKED
_CANCELLED, _SUSPENDED = RegistrationStatus.CANCELLED, RegistrationStatus.SUSPENDED
_LIQUIDATING = RegistrationStatus.LIQUIDATING

# The wordings of the national enterprise credit information system (current and older),
# of the aggregators (Qichacha, Tianyancha) and of bureaus' own feeds, as read after
# `status_key` (so "存续（在营、开业、在册）" and "在营（开业）企业" need no entry of their own
# for each width and suffix). A text not here is `unknown`: a person reads it.
DEFAULT_STATUS_MAP: dict[str, RegistrationStatus] = {
    "存续": _ACTIVE,
    "在业": _ACTIVE,
    "在营": _ACTIVE,
    "开业": _ACTIVE,
    "在册": _ACTIVE,
    "存续(在营、开业、在册)": _ACTIVE,
    "在营(开业)": _ACTIVE,
    "正常": _ACTIVE,
    "登记成立": _ACTIVE,
    "确立": _ACTIVE,
    "迁入": _ACTIVE,
    "迁出": _MOVED_OUT,
    "已迁出": _MOVED_OUT,
    "注销": _DEREGISTERED,
    "已注销": _DEREGISTERED,
    "吊销,已注销": _DEREGISTERED,
    "吊销已注销": _DEREGISTERED,
    "吊销后注销": _DEREGISTERED,
    "吊销": _REVOKED,
    "已吊销": _REVOKED,
    "吊销,未注销": _REVOKED,
    "吊销未注销": _REVOKED,
    "撤销": _CANCELLED,
    "已撤销": _CANCELLED,
    "撤销登记": _CANCELLED,
    "停业": _SUSPENDED,
    "歇业": _SUSPENDED,
    "责令关闭": _SUSPENDED,
    "清算": _LIQUIDATING,
    "清算中": _LIQUIDATING,
    "破产": _LIQUIDATING,
    "破产清算": _LIQUIDATING,
    "强制清算": _LIQUIDATING,
}

_STATUS_SUFFIXES = ("状态", "企业")


def status_key(raw: str) -> str:
    """One normalisation before any comparison: NFKC (widths), no spaces, one comma, and
    without the suffixes 企业 and 状态. Never a substring: "拟注销" is not 注销."""
    text = re.sub(r"\s+", "", unicodedata.normalize("NFKC", raw)).replace("，", ",")
    for _ in range(2):  # "注销企业状态"
        for suffix in _STATUS_SUFFIXES:
            if text.endswith(suffix) and len(text) > len(suffix):
                text = text.removesuffix(suffix)
    return text


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
    # Article 5(3) ("近三年"): accidents, penalties and listings this many years before the
    # designation date bear on whether the conditions were met (art5.3-prior-*); older ones
    # bear on nothing. `large_accident_window_years`, its former name, still works.
    prior_window_years: int = Field(
        default=3,
        ge=0,
        validation_alias=AliasChoices("prior_window_years", "large_accident_window_years"),
    )
    # Administrative penalties at or above this fine raise a review; 0 means any penalty.
    penalty_fine_threshold_cny: float = Field(default=0, ge=0)
    status_map: dict[str, RegistrationStatus] = Field(default_factory=dict)
    rules: dict[str, bool] = Field(default_factory=dict)  # rule id → enabled (default on)
    production_safety: Grading = PRODUCTION_SAFETY
    environmental: Grading = ENVIRONMENTAL
    quality: Grading = Grading()  # no statutory casualty grading: the provider's grade only
    # The measures' text (Markdown, as monitor/defaults/measures-2025.md), relative to the
    # config file; "" is the packaged 2025 text. Alerts quote the clauses from it.
    text: str = ""
    # Where this text puts each ground sfm knows, when it renumbers: {"12(3)" = "13(3)"}.
    clause_numbers: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _grading_over_statute(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = dict(data)
            for category in STATUTE:
                if category in data:
                    data[category] = _over_statute(category, data[category])
        return data

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

    def clauses(self) -> dict[str, Clause]:
        """The clauses as this block's text words and numbers them."""
        return catalogue(self.text or None, self.clause_numbers)

    def in_force_on(self, day: date) -> bool:
        return self.effective_from <= day and (self.expires_on is None or day <= self.expires_on)


def effective_grading(policy: Policy) -> dict[str, dict[str, dict[str, float | None]]]:
    """What a block's grading means once merged with the statute: category → grade →
    the lower bound of each figure (None: that figure does not grade)."""
    return {
        category: {grade: getattr(policy.grading(category), grade).model_dump() for grade in GRADES}
        for category in STATUTE
    }


def with_texts(policies: Mapping[str, Policy], directory: Path) -> dict[str, Policy]:
    """Each block with its text's path resolved against the config's folder, and its clauses
    read from it; ValueError naming the block's key when a text is missing or lacks a clause."""
    resolved = {}
    for key, policy in policies.items():
        if policy.text and not Path(policy.text).is_absolute():
            policy = policy.model_copy(update={"text": str(directory / policy.text)})
        try:
            policy.clauses()
        except (OSError, UnicodeDecodeError, MeasuresTextError) as exc:
            shown = policy.text or "measures-2025.md"
            raise ValueError(f"policy.{key}.text ({shown}): {exc}") from exc
        resolved[key] = policy
    return resolved


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
    # No block is in force on the day (the last has expired, or a successor has not yet
    # started): `policy` is the most recently expired, applied and said to be so.
    expired: bool
    day: date | None = None
    # every configured block, so that a flag is quoted from the block that judged it
    blocks: Mapping[str, Policy] = field(default_factory=dict, compare=False, repr=False)

    @property
    def successor(self) -> Policy | None:
        """The next block to take effect after the day, if one is configured."""
        later = [p for p in self.blocks.values() if self.day and p.effective_from > self.day]
        return min(later, key=lambda p: p.effective_from) if later else None

    def judge_of(self, key: str | None) -> Policy:
        """The block a flag's evidence names as its judge (today's when it names none)."""
        return self.blocks.get(key or "", self.policy)

    @property
    def days_left(self) -> int | None:
        """Days until the measures expire (0 on their last day), None if they never do or
        already have."""
        if self.policy.expires_on is None or self.day is None or self.expired:
            return None
        return (self.policy.expires_on - self.day).days


def measures_in_force(policies: Mapping[str, Policy], on: date) -> PolicyChoice:
    """The measures that judge a day: the latest block in force then; on a day none is
    (a gap, or after the last expiry), the most recently expired, marked expired."""
    if not policies:
        policies = DEFAULT_POLICIES
    started = [key for key, p in policies.items() if p.effective_from <= on]
    if not started:  # before any measures: the earliest, as the designation's own
        key = min(policies, key=lambda k: policies[k].effective_from)
        return PolicyChoice(key, policies[key], False, on, policies)
    in_force = [key for key in started if policies[key].in_force_on(on)]
    if in_force:
        key = max(in_force, key=lambda k: policies[k].effective_from)
        return PolicyChoice(key, policies[key], False, on, policies)
    key = max(started, key=lambda k: (policies[k].expires_on or on, policies[k].effective_from))
    return PolicyChoice(key, policies[key], True, on, policies)


@dataclass(frozen=True)
class Measures:
    """Every configured block of measures, and the day it is: which block judges what.

    An event (an accident, a penalty decision) is judged by the measures in force on the
    day it happened; a continuing state by those in force today.
    """

    policies: Mapping[str, Policy]
    today: date

    @classmethod
    def only(cls, policy: Policy, today: date) -> Measures:
        return cls({"only": policy}, today)

    @cached_property
    def now(self) -> PolicyChoice:
        return measures_in_force(self.policies, self.today)

    def on(self, day: date | None) -> PolicyChoice:
        """The measures an event of `day` is judged by (today's when the day is unknown or
        still to come)."""
        if day is None or day > self.today:
            return self.now
        return measures_in_force(self.policies, day)
