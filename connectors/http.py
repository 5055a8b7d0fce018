"""The config-driven HTTP JSON connector (DESIGN §9).

An `httpx.AsyncClient` over httpx-aiohttp's transport: aiohttp's connection
pool costs less CPU per request than httpcore's, and a sweep's event loop is
what bounds it when no quota does.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import random
import time
from contextlib import AbstractAsyncContextManager, nullcontext
from datetime import UTC, datetime

import httpx
import structlog
from httpx_aiohttp import AiohttpTransport
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
)

from connectors.base import ErrorKind, FetchOutcome, Topic
from connectors.binding import bind_to_code
from connectors.bounds import parse_json
from connectors.errors import MappingError, OverLimit, RetryableStatus
from connectors.mapping import RecordMapper, extract
from connectors.ratelimit import SlidingWindowLimiter
from connectors.settings import ConnectorSettings

log = structlog.get_logger("sfm.connectors.http")


_RETRYABLE = (RetryableStatus, httpx.TimeoutException, httpx.TransportError, TimeoutError)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Retry-After as seconds: either delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, moment.timestamp() - (time.time() if now is None else now))


def _refused(error: BaseException) -> bool:
    """httpx-aiohttp reports a refused connection as ConnectTimeout; tell the two apart."""
    import aiohttp

    cause = error.__cause__
    return isinstance(cause, aiohttp.ClientConnectionError) and not isinstance(cause, TimeoutError)


_READ = httpx.ByteStream(b"")


def _unbind(response: httpx.Response) -> None:
    """Let the closed exchange go by reference counting.

    httpx binds each response's stream to the response (`BoundAsyncStream`): a cycle
    of about 40 objects per request (the aiohttp response, headers, URLs) that only
    the cyclic collector frees. A sweep makes over a thousand a second, and the full
    collections they bring walk the daemon's whole heap.
    """
    response.stream = _READ


class HttpConnector:
    """Asks one HTTP provider about one factory at a time, within its quota.

    Plugins that must sign or otherwise change each request override `auth`.
    """

    def __init__(
        self,
        settings: ConnectorSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        url: str | None = None,
    ) -> None:
        self.settings = settings
        self.name = settings.name
        self.topic: Topic = settings.topic
        self.url_template = url or settings.url or ""
        self.mapper = RecordMapper.for_connector(settings)
        limits = httpx.Limits(
            max_connections=settings.concurrency, max_keepalive_connections=settings.concurrency
        )
        self.client = httpx.AsyncClient(
            transport=transport or AiohttpTransport(verify=settings.verify_tls, limits=limits),
            timeout=httpx.Timeout(settings.timeout_s),
            headers={"Accept": "application/json", **settings.headers},
            auth=self.auth(),
            follow_redirects=False,
        )
        self._slots = asyncio.Semaphore(settings.concurrency)
        self._limiter = (
            SlidingWindowLimiter(settings.rate_limit_per_s) if settings.rate_limit_per_s else None
        )

    def auth(self) -> httpx.Auth | None:
        """How requests are authenticated beyond the configured headers; plugins override."""
        return None

    # ------------------------------------------------------------ the fetch

    async def fetch(self, credit_code: str) -> FetchOutcome:
        """The outcome of asking about one factory, after retries; never raises for I/O."""
        fetched_at = datetime.now(UTC)
        try:
            status, body = await self._get_with_retries(credit_code)
        except RetryableStatus as exc:
            kind = ErrorKind.HTTP_429 if exc.status == 429 else ErrorKind.HTTP_5XX
            return self._error(credit_code, kind, f"HTTP {exc.status} after retries", fetched_at)
        except (httpx.TimeoutException, TimeoutError) as exc:
            if _refused(exc):
                return self._error(
                    credit_code,
                    ErrorKind.CONNECTION,
                    f"connection failed: {exc.__cause__}",
                    fetched_at,
                )
            return self._error(
                credit_code,
                ErrorKind.TIMEOUT,
                f"no answer within {self.settings.timeout_s}s after retries",
                fetched_at,
            )
        except httpx.TransportError as exc:
            return self._error(
                credit_code, ErrorKind.CONNECTION, f"{type(exc).__name__}: {exc}", fetched_at
            )
        except OverLimit as exc:
            return self._error(credit_code, ErrorKind.TOO_LARGE, str(exc), fetched_at)
        return self.interpret(credit_code, status, body, fetched_at)

    def interpret(
        self, credit_code: str, status: int, body: bytes, fetched_at: datetime
    ) -> FetchOutcome:
        """Turn one final HTTP answer into the fetch's outcome."""
        rule = self.settings.not_found
        if rule is not None and rule.http_status == status:
            return FetchOutcome.not_found(
                self.name, credit_code, {"http_status": status}, fetched_at
            )
        if not 200 <= status < 300:
            return self._error(
                credit_code, ErrorKind.HTTP_STATUS, f"HTTP {status}: {body[:200]!r}", fetched_at
            )
        try:
            payload = parse_json(
                body,
                max_depth=self.settings.max_json_depth,
                max_chars=self.settings.max_field_chars,
            )
        except OverLimit as exc:
            return self._error(credit_code, ErrorKind.TOO_LARGE, str(exc), fetched_at)
        except (ValueError, UnicodeDecodeError) as exc:
            return self._error(
                credit_code, ErrorKind.BAD_JSON, f"{exc}; body starts {body[:120]!r}", fetched_at
            )
        if (
            rule is not None
            and rule.path is not None
            and str(extract(payload, rule.path)) == str(rule.equals)
        ):
            return FetchOutcome.not_found(self.name, credit_code, payload, fetched_at)
        if self.settings.empty is not None and self.settings.empty.matches(payload):
            # an answer: the provider lists nothing, so listings that were removed can clear
            return FetchOutcome.found(self.name, credit_code, [], payload, fetched_at)
        try:
            records = self.mapper.map_payload(payload, self.settings.record_path, fetched_at)
        except MappingError as exc:
            return self._error(credit_code, ErrorKind.SCHEMA_MISMATCH, str(exc), fetched_at)
        found = FetchOutcome.found(self.name, credit_code, records, payload, fetched_at)
        return bind_to_code(found, credit_code, self.settings.record_path)

    def _error(
        self, credit_code: str, kind: ErrorKind, detail: str, fetched_at: datetime
    ) -> FetchOutcome:
        log.warning(
            "fetch failed",
            connector=self.name,
            credit_code=credit_code,
            error_kind=kind.value,
            detail=detail[:300],
        )
        return FetchOutcome.error(self.name, credit_code, kind, detail, fetched_at)

    def _delay(self, error: BaseException | None, failures: int) -> float:
        """Exponential backoff with jitter, or the provider's Retry-After if it said more."""
        backoff = min(
            self.settings.backoff_max_s, self.settings.backoff_initial_s * 2 ** (failures - 1)
        ) + random.uniform(0, self.settings.backoff_initial_s)
        if isinstance(error, RetryableStatus) and error.retry_after_s is not None:
            return min(max(error.retry_after_s, backoff), self.settings.max_retry_after_s)
        return backoff

    def _wait_after_first(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        return self._delay(error, state.attempt_number + 1)

    async def _get_with_retries(self, credit_code: str) -> tuple[int, bytes]:
        # Nearly every answer comes at the first try: tenacity's loop (a third of a sweep's
        # own CPU beside the HTTP exchange, built for every request) is made for a retry.
        try:
            return await self._get_once(credit_code, 1)
        except _RETRYABLE as error:
            if self.settings.retries < 1:
                raise
            await asyncio.sleep(self._delay(error, 1))
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.settings.retries),
            wait=self._wait_after_first,
            retry=retry_if_exception_type(_RETRYABLE),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await self._get_once(credit_code, attempt.retry_state.attempt_number + 1)
        raise AssertionError("unreachable: tenacity reraises the last error")

    async def _get_once(self, credit_code: str, attempt: int) -> tuple[int, bytes]:
        # The connection slot is taken before the quota so that no request holds a
        # place in the quota while it waits for a connection; retries count in both.
        async with self._slots, self._quota():
            url = self.url_template.replace("{credit_code}", credit_code)
            # asyncio.timeout bounds the whole exchange; httpx's Timeout bounds each phase.
            async with asyncio.timeout(self.settings.timeout_s):
                status, headers, content = await self._read_bounded(url)
        if status == 429 or status >= 500:
            if attempt <= self.settings.retries:
                log.info(
                    "retrying",
                    connector=self.name,
                    credit_code=credit_code,
                    status=status,
                    attempt=attempt,
                )
            raise RetryableStatus(status, parse_retry_after(headers.get("Retry-After")), content)
        if self.settings.rate_limited is not None and self._says_too_fast(content):
            log.info("provider says too fast", connector=self.name, credit_code=credit_code)
            raise RetryableStatus(429, None, content)
        return status, content

    async def _read_bounded(self, url: str) -> tuple[int, httpx.Headers, bytes]:
        """The answer, read no further than `max_body_bytes` (OverLimit beyond)."""
        limit = self.settings.max_body_bytes
        response: httpx.Response | None = None
        try:
            async with self.client.stream("GET", url) as response:
                declared = response.headers.get("Content-Length", "")
                if declared.isdigit() and int(declared) > limit:
                    raise OverLimit(f"a body of {int(declared)} bytes (limit {limit})")
                chunks, size = [], 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > limit:
                        raise OverLimit(f"a body over {limit} bytes")
                    chunks.append(chunk)
        finally:
            if response is not None:  # closed by now, its connection back in the pool
                _unbind(response)
        return response.status_code, response.headers, b"".join(chunks)

    def _says_too_fast(self, body: bytes) -> bool:
        assert self.settings.rate_limited is not None
        try:
            return self.settings.rate_limited.matches(json.loads(body))
        except (ValueError, RecursionError):
            return False  # not JSON: interpret() reports it

    def _quota(self) -> AbstractAsyncContextManager[None]:
        return self._limiter.slot() if self._limiter is not None else nullcontext()

    async def aclose(self) -> None:
        await self.client.aclose()
