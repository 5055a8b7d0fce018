"""The HTTP connector's logic above I/O, over httpx.MockTransport: what each answer becomes.

The same connector against a real loopback server is tests/integration/connectors.
"""

import asyncio
from collections.abc import Callable
from typing import Any

import httpx

from connectors.base import ErrorKind, FetchOutcome
from connectors.http import HttpConnector
from connectors.plugins.signed import SignedTokenAuth, SignedTokenConnector, signature
from connectors.settings import ConnectorSettings

CODE = "91110108600037341L"
REGISTRY: dict[str, Any] = {
    "name": "registry",
    "topic": "registration",
    "url": "https://provider.example/lookup?keyword={credit_code}",
    "record_path": "Result",
    "not_found": {"path": "Status", "equals": "201"},
    "retries": 2,
    "backoff_initial_s": 0.0,
    "backoff_max_s": 0.01,
    "fields": {"credit_code": "CreditCode", "name": "Name", "raw_status": "Status"},
}
Handler = Callable[[httpx.Request], httpx.Response]


def fetch(
    handler: Handler, connector_class: type[HttpConnector] = HttpConnector, **changes: Any
) -> FetchOutcome:
    settings = ConnectorSettings.model_validate({**REGISTRY, **changes})

    async def run() -> FetchOutcome:
        connector = connector_class(settings, transport=httpx.MockTransport(handler))
        try:
            return await connector.fetch(CODE)
        finally:
            await connector.aclose()

    return asyncio.run(run())


def answer(body: Any, status: int = 200, **headers: str) -> Handler:
    return lambda request: httpx.Response(status, json=body, headers=headers)


def test_an_answer_maps_to_one_record_keeping_the_providers_status_text() -> None:
    outcome = fetch(
        answer({"Status": "200", "Result": {"CreditCode": CODE, "Name": "甲", "Status": "注销"}})
    )
    assert outcome.kind == "found"
    [record] = outcome.records
    assert record.raw_status == "注销"  # type: ignore[attr-defined]
    assert outcome.payload["Result"]["Name"] == "甲"


def test_not_found_by_a_value_at_a_path() -> None:
    outcome = fetch(answer({"Status": "201", "Result": None}))
    assert outcome.kind == "not_found" and outcome.records == ()


def test_an_answer_that_does_not_fit_is_a_schema_error_not_a_fact() -> None:
    outcome = fetch(answer({"Status": "200", "Result": {"Name": "甲"}}))
    assert (outcome.kind, outcome.error_kind) == ("error", ErrorKind.SCHEMA_MISMATCH)
    assert outcome.records == () and "credit_code" in (outcome.error_detail or "")


def test_a_body_that_is_not_json_is_a_bad_json_error() -> None:
    outcome = fetch(lambda request: httpx.Response(200, content=b"<html>busy</html>"))
    assert outcome.error_kind is ErrorKind.BAD_JSON


def test_5xx_is_retried_and_counts_each_attempt() -> None:
    attempts: list[int] = []

    def flaky(request: httpx.Request) -> httpx.Response:
        attempts.append(1)
        if len(attempts) < 3:
            return httpx.Response(503)
        return httpx.Response(
            200,
            json={"Status": "200", "Result": {"CreditCode": CODE, "Name": "甲", "Status": "存续"}},
        )

    assert fetch(flaky).kind == "found"
    assert len(attempts) == 3


def test_retries_spent_give_the_last_status_kind() -> None:
    attempts: list[int] = []

    def busy(request: httpx.Request) -> httpx.Response:
        attempts.append(1)
        return httpx.Response(429)

    outcome = fetch(busy)
    assert outcome.error_kind is ErrorKind.HTTP_429
    assert len(attempts) == 3  # the first attempt and two retries


def test_no_retries_means_one_attempt() -> None:
    attempts: list[int] = []

    def down(request: httpx.Request) -> httpx.Response:
        attempts.append(1)
        return httpx.Response(500)

    assert fetch(down, retries=0).error_kind is ErrorKind.HTTP_5XX
    assert len(attempts) == 1


def test_an_unexpected_status_is_not_retried() -> None:
    attempts: list[int] = []

    def forbidden(request: httpx.Request) -> httpx.Response:
        attempts.append(1)
        return httpx.Response(403, content=b"no key")

    assert fetch(forbidden).error_kind is ErrorKind.HTTP_STATUS
    assert len(attempts) == 1


def test_configured_headers_and_the_credit_code_reach_the_provider() -> None:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"Status": "201"})

    fetch(record, headers={"Authorization": "APPCODE abc"})
    [request] = seen
    assert request.url.params["keyword"] == CODE
    assert request.headers["Authorization"] == "APPCODE abc"
    assert request.headers["Accept"] == "application/json"


def test_the_signed_plugin_signs_every_attempt_through_its_auth() -> None:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(503 if len(seen) == 1 else 200, json={"Status": "201"})

    outcome = fetch(
        record, SignedTokenConnector, kind="md5-signed", options={"key": "k", "secret": "s"}
    )
    assert outcome.kind == "not_found"
    assert len(seen) == 2
    for request in seen:
        timestamp = request.headers["Timespan"]
        assert request.url.params["key"] == "k"
        assert request.headers["Token"] == signature("k", timestamp, "s")


def test_the_signing_auth_uses_its_clock() -> None:
    from connectors.plugins.signed import SignedOptions

    auth = SignedTokenAuth(SignedOptions(key="k", secret="s"), clock=lambda: 1700000000.9)
    request = next(auth.auth_flow(httpx.Request("GET", "https://provider.example/x")))
    assert request.headers["Timespan"] == "1700000000"
    assert request.headers["Token"] == signature("k", "1700000000", "s")
    assert dict(request.url.params) == {"key": "k"}


def test_no_records_declared_by_the_body_is_an_answer_with_none() -> None:
    empty = answer({"error_code": 300000, "reason": "经查无结果", "result": None})
    outcome = fetch(empty, empty={"path": "error_code", "equals": 300000})
    assert (outcome.kind, outcome.records, outcome.error_kind) == ("found", (), None)
    # without the declaration the same body is an answer that does not fit: an error
    assert fetch(empty).error_kind is ErrorKind.SCHEMA_MISMATCH


def test_too_fast_under_http_200_is_retried_like_a_429_never_mapped() -> None:
    attempts: list[int] = []

    def busy_then_fine(request: httpx.Request) -> httpx.Response:
        attempts.append(1)
        if len(attempts) < 3:
            return httpx.Response(200, json={"error_code": 300004, "reason": "访问频率过快"})
        return httpx.Response(
            200,
            json={"Status": "200", "Result": {"CreditCode": CODE, "Name": "甲", "Status": "存续"}},
        )

    rule = {"path": "error_code", "equals": 300004}
    assert fetch(busy_then_fine, rate_limited=rule).kind == "found"
    assert len(attempts) == 3
    attempts.clear()
    always = fetch(answer({"error_code": 300004}), rate_limited=rule)
    assert always.error_kind is ErrorKind.HTTP_429


def raw(body: bytes, **headers: str) -> Handler:
    return lambda request: httpx.Response(200, content=body, headers=headers)


def streamed(chunks: int, chunk: bytes) -> Handler:
    """A body sent in pieces with no Content-Length: read only as far as the limit."""
    sent: list[int] = []

    async def body() -> Any:
        for _ in range(chunks):
            sent.append(len(chunk))
            yield chunk

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body())

    handler.sent = sent  # type: ignore[attr-defined]
    return handler


def test_answers_over_the_bounds_are_an_error_for_that_factory_only() -> None:
    ok = {"Status": "200", "Result": {"CreditCode": CODE, "Name": "甲", "Status": "存续"}}
    cases = {
        "declared too large": raw(b"{}", **{"Content-Length": str(11 * 1024 * 1024)}),
        "deeply nested": raw(b"[" * 200_000 + b"]" * 200_000),
        "nested past the depth": answer(
            {
                "Status": "200",
                "Result": {"CreditCode": CODE, "Name": "甲", "x": [[[[[[[[[[]]]]]]]]]]},
            }
        ),
        "a huge name": answer({**ok, "Result": {**ok["Result"], "Name": "甲" * 50_000}}),
        "a huge key": answer({**ok, "k" * 20_000: 1}),
    }
    for what, handler in cases.items():
        outcome = fetch(handler, max_json_depth=8)
        assert outcome.kind == "error", what
        assert outcome.error_kind == ErrorKind.TOO_LARGE, what
    assert fetch(answer(ok), max_json_depth=8).kind == "found"


def test_a_body_without_a_length_is_read_no_further_than_the_limit() -> None:
    handler = streamed(400, b" " * (64 * 1024))  # 25 MB of spaces if read whole
    outcome = fetch(handler, max_body_bytes=1024 * 1024)
    assert outcome.error_kind == ErrorKind.TOO_LARGE
    assert sum(handler.sent) <= 2 * 1024 * 1024  # type: ignore[attr-defined]
