"""The HTTP connector against the simulator on a real loopback port."""

import asyncio
import email.utils
import hashlib
import socket
from datetime import UTC, datetime
from typing import Any

import pytest

from connectors.base import ErrorKind, FetchOutcome
from connectors.http import HttpConnector, parse_retry_after
from connectors.loader import build_connector, plugin_class
from connectors.plugins.signed import SignedTokenConnector, signature
from connectors.settings import ConnectorSettings
from connectors.simulator import RunningSimulator
from tests.conftest import demo_codes, shipped_connector

TYC_REGISTRY: dict[str, Any] = {
    "topic": "registration",
    "record_path": "result",
    "not_found": {"http_status": 404},
    "fields": {
        "credit_code": "creditCode",
        "name": "name",
        "raw_status": "regStatus",
        "registered_address": "regLocation",
        "registration_authority": "regInstitute",
        "former_names": "historyNameList",
        "entity_type": "companyOrgType",
    },
}


def fetch(settings: ConnectorSettings, code: str, **kwargs: Any) -> FetchOutcome:
    async def run() -> FetchOutcome:
        connector = HttpConnector(settings, **kwargs)
        try:
            return await connector.fetch(code)
        finally:
            await connector.aclose()

    return asyncio.run(run())


def fetch_all(settings: ConnectorSettings, codes: list[str]) -> list[FetchOutcome]:
    async def run() -> list[FetchOutcome]:
        connector = HttpConnector(settings)
        try:
            return list(await asyncio.gather(*(connector.fetch(code) for code in codes)))
        finally:
            await connector.aclose()

    return asyncio.run(run())


def tyc_registry(base_url: str, **changes: Any) -> ConnectorSettings:
    return ConnectorSettings.model_validate(
        {
            "name": "registry-tyc",
            "url": base_url + "/tyc/services/open/ic/baseinfo/normal?keyword={credit_code}",
            **TYC_REGISTRY,
            **changes,
        }
    )


def by_name(upstream: dict[str, Any], fragment: str) -> str:
    return next(
        code
        for code, entry in upstream["factories"].items()
        if fragment in entry["registration"]["name"]
        or any(fragment in name for name in entry["registration"]["former_names"])
    )


def test_both_provider_shapes_map_to_the_same_registration(
    simulator: RunningSimulator, upstream: dict[str, Any]
) -> None:
    code = by_name(upstream, "东方明光")  # moved out to Hebei
    qcc = fetch(shipped_connector("registry-qcc", simulator.base_url), code)
    tyc = fetch(tyc_registry(simulator.base_url), code)
    assert qcc.kind == tyc.kind == "found"
    [a], [b] = qcc.records, tyc.records
    keys = [
        "credit_code",
        "name",
        "raw_status",
        "registered_address",
        "registration_authority",
        "entity_type",
        "former_names",
    ]
    assert {k: getattr(a, k) for k in keys} == {k: getattr(b, k) for k in keys}
    assert a.raw_status == "迁出"  # type: ignore[attr-defined]
    assert a.registration_authority == "河北省廊坊市市场监督管理局"  # type: ignore[attr-defined]
    assert a.division_code == "131000"  # type: ignore[attr-defined]
    assert qcc.payload["Result"]["CreditCode"] == code  # the raw answer is kept as evidence


def test_former_names_map_over_a_list(
    simulator: RunningSimulator, upstream: dict[str, Any]
) -> None:
    code = by_name(upstream, "丰泰")
    [record] = fetch(shipped_connector("registry-qcc", simulator.base_url), code).records
    assert record.former_names == ["北京丰泰轨道交通装备有限公司"]  # type: ignore[attr-defined]
    assert record.name == "北京丰泰智能轨道交通装备有限公司"  # type: ignore[attr-defined]


def test_credit_and_safety_shapes(simulator: RunningSimulator, upstream: dict[str, Any]) -> None:
    [penalty] = fetch(
        shipped_connector("credit-qcc", simulator.base_url), by_name(upstream, "燕化")
    ).records
    assert penalty.kind == "administrative_penalty"  # type: ignore[attr-defined]
    assert penalty.fine_cny == 200_000  # type: ignore[attr-defined]
    assert penalty.document_no == "京环罚字〔2026〕311号"  # type: ignore[attr-defined]
    [accident] = fetch(
        shipped_connector("safety-tyc", simulator.base_url), by_name(upstream, "南苑航空")
    ).records
    assert accident.category == "production_safety"  # type: ignore[attr-defined]
    assert str(accident.occurred_on) == "2026-09-14"  # type: ignore[attr-defined]
    assert (accident.deaths, accident.grade) == (10, None)  # type: ignore[attr-defined]
    clean = fetch(shipped_connector("safety-tyc", simulator.base_url), by_name(upstream, "智联"))
    assert clean.kind == "found" and clean.records == ()


def test_not_found_by_path_and_by_status(
    simulator: RunningSimulator, upstream: dict[str, Any]
) -> None:
    [absent] = upstream["absent"]
    by_path = fetch(shipped_connector("registry-qcc", simulator.base_url), absent)
    by_status = fetch(tyc_registry(simulator.base_url), absent)
    assert by_path.kind == by_status.kind == "not_found"
    assert by_path.records == by_status.records == ()


FAST_RETRIES = {"retries": 2, "backoff_initial_s": 0.01, "backoff_max_s": 0.05}


@pytest.mark.parametrize(
    ("failure", "kind"),
    [
        ("500", ErrorKind.HTTP_5XX),
        ("502", ErrorKind.HTTP_5XX),
        ("503", ErrorKind.HTTP_5XX),
        ("429", ErrorKind.HTTP_429),
        ("timeout", ErrorKind.TIMEOUT),
        ("bad_json", ErrorKind.BAD_JSON),
        ("schema", ErrorKind.SCHEMA_MISMATCH),
    ],
)
def test_every_failure_is_an_error_outcome_with_no_records(
    simulator: RunningSimulator, upstream: dict[str, Any], failure: str, kind: ErrorKind
) -> None:
    code = demo_codes(upstream)[0]
    simulator.simulator.behaviour.fail_codes = {code: failure}
    simulator.simulator.behaviour.retry_after_s = 0
    simulator.simulator.behaviour.hang_s = 3
    settings = shipped_connector("registry-qcc", simulator.base_url, timeout_s=0.3, **FAST_RETRIES)
    outcome = fetch(settings, code)
    assert (outcome.kind, outcome.error_kind) == ("error", kind)
    assert outcome.records == () and outcome.payload is None
    retried = kind in (ErrorKind.HTTP_5XX, ErrorKind.HTTP_429, ErrorKind.TIMEOUT)
    assert simulator.simulator.stats()["requests"] == (3 if retried else 1)


def test_connection_refused_is_a_connection_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again before the request
    settings = tyc_registry(f"http://127.0.0.1:{port}", **FAST_RETRIES)
    outcome = fetch(settings, "91110000600037341L")
    assert (outcome.kind, outcome.error_kind) == ("error", ErrorKind.CONNECTION)


def test_unexpected_status_is_an_error(
    simulator: RunningSimulator, upstream: dict[str, Any]
) -> None:
    simulator.simulator.behaviour.signature = ("k", "s")  # requests are unsigned: 401
    outcome = fetch(shipped_connector("registry-qcc", simulator.base_url), demo_codes(upstream)[0])
    assert (outcome.kind, outcome.error_kind) == ("error", ErrorKind.HTTP_STATUS)


def test_transient_5xx_is_retried_then_found(
    simulator: RunningSimulator, upstream: dict[str, Any]
) -> None:
    behaviour = simulator.simulator.behaviour
    behaviour.error_kinds, behaviour.fail_first = ["503"], 2
    outcome = fetch(
        shipped_connector("registry-qcc", simulator.base_url, **FAST_RETRIES),
        demo_codes(upstream)[0],
    )
    assert outcome.kind == "found"
    assert [entry.status for entry in simulator.simulator.log] == [503, 503, 200]


def test_429_waits_as_long_as_retry_after_says(
    simulator: RunningSimulator, upstream: dict[str, Any]
) -> None:
    behaviour = simulator.simulator.behaviour
    behaviour.error_kinds, behaviour.fail_first, behaviour.retry_after_s = ["429"], 1, 1
    outcome = fetch(
        shipped_connector(
            "registry-qcc", simulator.base_url, backoff_initial_s=0.01, backoff_max_s=0.02
        ),
        demo_codes(upstream)[0],
    )
    assert outcome.kind == "found"
    first, second = simulator.simulator.log
    assert (first.status, second.status) == (429, 200)
    assert second.at - first.at >= 1.0  # the provider's Retry-After, not our 10 ms backoff


def test_retry_after_as_seconds_or_http_date() -> None:
    assert parse_retry_after("7") == 7.0
    moment = datetime(2026, 11, 25, 2, 0, 10, tzinfo=UTC)
    http_date = email.utils.format_datetime(moment, usegmt=True)
    assert parse_retry_after(http_date, now=moment.timestamp() - 10) == 10.0
    assert parse_retry_after("soon") is None


def test_quota_holds_by_the_providers_own_count(
    simulator: RunningSimulator, upstream: dict[str, Any]
) -> None:
    """The simulator answers 429 past 20 requests in any second; the connector never gets one."""
    simulator.simulator.behaviour.rate_limit_per_s = 20
    simulator.simulator.behaviour.synthesize = True
    settings = shipped_connector(
        "registry-qcc", simulator.base_url, rate_limit_per_s=20, concurrency=16, retries=0
    )
    codes = [f"9111010800000{index:04d}X" for index in range(60)]
    outcomes = fetch_all(settings, codes)
    stats = simulator.simulator.stats()
    assert stats["requests"] == 60 and stats["by_status"] == {"200": 60}, stats
    assert stats["max_in_any_second"] <= 20
    assert all(outcome.kind == "found" for outcome in outcomes)


def test_signed_plugin_is_loaded_by_entry_point_and_signs(
    simulator: RunningSimulator, upstream: dict[str, Any]
) -> None:
    assert plugin_class("md5-signed") is SignedTokenConnector
    simulator.simulator.behaviour.signature = ("demo-key", "demo-secret")
    settings = shipped_connector(
        "registry-qcc",
        simulator.base_url,
        kind="md5-signed",
        options={"key": "demo-key", "secret": "demo-secret"},
    )

    async def run(settings: ConnectorSettings) -> FetchOutcome:
        connector = build_connector(settings)
        assert isinstance(connector, SignedTokenConnector)
        try:
            return await connector.fetch(demo_codes(upstream)[0])
        finally:
            await connector.aclose()

    assert asyncio.run(run(settings)).kind == "found"
    wrong = settings.model_copy(update={"options": {"key": "demo-key", "secret": "guess"}})
    assert asyncio.run(run(wrong)).error_kind is ErrorKind.HTTP_STATUS
    assert signature("k", "1700000000", "s") == hashlib.md5(b"k1700000000s").hexdigest().upper()


def test_unknown_kind_names_the_installed_plugins() -> None:
    with pytest.raises(Exception, match="md5-signed"):
        plugin_class("nope")


def test_the_simulator_keeps_only_its_newest_requests_and_counts_them_all(
    upstream: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Hours of sweeps against the simulator do not grow it (issue 22's soak): it keeps the
    newest requests one by one, and counts every one."""
    import connectors.simulator as simulator_module
    from connectors.simulator import RunningSimulator, Simulator

    monkeypatch.setattr(simulator_module, "LOG_KEPT", 10)
    with RunningSimulator(Simulator(upstream)) as running:
        running.simulator.behaviour.synthesize = True
        settings = shipped_connector("registry-qcc", running.base_url, rate_limit_per_s=20)
        codes = [f"9111010800000{index:04d}X" for index in range(45)]
        assert all(o.kind == "found" for o in fetch_all(settings, codes))
        stats = running.simulator.stats()
        assert stats["requests"] == 45 and stats["by_status"] == {"200": 45}, stats
        assert 1 <= stats["max_in_any_second"] <= 20
        kept = list(running.simulator.log)
        assert len(kept) == 10 and [e.credit_code for e in kept] != codes[:10]
        running.simulator.reset()
        assert running.simulator.stats() == {"requests": 0, "by_status": {}, "max_in_any_second": 0}


def test_an_answered_exchange_is_freed_without_the_cyclic_collector(
    simulator: RunningSimulator, upstream: dict[str, Any]
) -> None:
    """httpx ties each response and its stream in a cycle; a sweep at a raised collector
    threshold would hold thousands of them (issue 20, bench_sweep (b))."""
    import gc

    import httpx

    settings = shipped_connector("registry-qcc", simulator.base_url)
    codes = demo_codes(upstream)[:10]

    async def run() -> list[object]:
        connector = HttpConnector(settings)
        try:
            await connector.fetch(codes[0])  # the pool's connection and first-use caches
            gc.collect()
            gc.disable()
            gc.set_debug(gc.DEBUG_SAVEALL)  # what the collector frees is kept to be seen
            try:
                outcomes = [await connector.fetch(code) for code in codes]
                assert all(outcome.kind in ("found", "not_found") for outcome in outcomes)
                del outcomes
                gc.collect()
                return [item for item in gc.garbage if isinstance(item, httpx.Response)]
            finally:
                gc.set_debug(0)
                gc.garbage.clear()
                gc.enable()
        finally:
            await connector.aclose()

    assert asyncio.run(run()) == []
