"""How a connector is configured (`[[connectors]]` in sfm.toml, DESIGN §9)."""

from __future__ import annotations

import re
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from connectors.base import Topic
from connectors.mapping import canonical_fields, required_fields


class NotFoundRule(BaseModel):
    """How a provider says "no such credit code": an HTTP status, or a value at a path."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    http_status: int | None = None
    path: str | None = None
    equals: Any = None

    @model_validator(mode="after")
    def _one_way(self) -> Self:
        if (self.http_status is None) == (self.path is None):
            raise ValueError("give either http_status, or path with equals")
        if self.path is not None and self.equals is None:
            raise ValueError("path needs equals")
        return self


class BodySays(BaseModel):
    """A value at a path of a 200 answer that means something other than records."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    path: str
    equals: Any

    def matches(self, payload: Any) -> bool:
        from connectors.mapping import extract

        return str(extract(payload, self.path)) == str(self.equals)


class ConnectorSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    kind: str = "http"  # http | files | simulator | a plugin's entry-point name
    topic: Topic
    enabled: bool = True
    # what officials read for this source ("企查查"); the name stays the operators' word
    display_name: str = Field(default="", max_length=50)
    # http, simulator and plugins
    url: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    timeout_s: float = Field(default=10.0, gt=0)
    concurrency: int = Field(default=8, ge=1, le=512)
    rate_limit_per_s: int | None = Field(default=None, ge=1)
    retries: int = Field(default=3, ge=0, le=10)
    backoff_initial_s: float = Field(default=0.5, ge=0)
    backoff_max_s: float = Field(default=30.0, gt=0)
    max_retry_after_s: float = Field(default=120.0, gt=0)
    verify_tls: bool = True
    # what one answer may be: a body over either bound is an error for that factory
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    max_field_chars: int = Field(default=10_000, ge=100)
    max_json_depth: int = Field(default=32, ge=4, le=200)
    record_path: str | None = None
    not_found: NotFoundRule | None = None
    # "no records" as an answer (Tianyancha: error_code 300000, 经查无结果): found, none listed
    empty: BodySays | None = None
    # "too fast" under HTTP 200 (Tianyancha: error_code 300004): retried like a 429
    rate_limited: BodySays | None = None
    # files: a file over either bound is refused whole (and reported), never half-read
    path: str | None = None
    max_file_bytes: int = Field(default=50 * 1024 * 1024, ge=1024)
    max_file_rows: int = Field(default=100_000, ge=1)
    # mapping
    fields: dict[str, str] = Field(default_factory=dict)
    values: dict[str, dict[str, str]] = Field(default_factory=dict)
    constants: dict[str, Any] = Field(default_factory=dict)
    # when ops is told the source is down: after this many sweeps with nothing but
    # errors, or when its newest answer is older than this many hours
    down_after_runs: int = Field(default=3, ge=1)
    stale_after_hours: float = Field(default=48.0, gt=0)
    # what a plugin needs beyond the above (keys, secrets), checked by the plugin
    options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        known = canonical_fields(self.topic)
        unknown = sorted((set(self.fields) | set(self.constants) | set(self.values)) - known)
        if unknown:
            raise ValueError(
                f"{', '.join(unknown)} not a field of {self.topic.value} records "
                f"(fields: {', '.join(sorted(known))})"
            )
        missing = sorted(required_fields(self.topic) - set(self.fields) - set(self.constants))
        if missing:
            raise ValueError(f"fields must map {', '.join(missing)}")
        if self.kind == "files":
            if not self.path:
                raise ValueError("a files connector needs path")
            if "credit_code" not in self.fields:
                raise ValueError("a files connector must map credit_code")
        elif self.kind in ("http", "simulator"):
            if not self.url or "{credit_code}" not in self.url:
                raise ValueError("url must contain {credit_code}")
            if self.kind == "http" and not re.match(r"^https?://", self.url):
                raise ValueError("url must start with http:// or https://")
        return self
