"""A local upstream over real HTTP: demo data in two providers' shapes, with their failures.

`config/demo/upstream.json` holds one provider-neutral description per
factory; the simulator serves it the way two kinds of commercial registry do
(a "qcc" shape: Status codes in the body, PascalCase; a "tyc" shape: snake and
camel case, epoch-millisecond dates, HTTP 404 for unknown codes), so that the
demo and the tests go through the real HTTP path and the real mapping.

It can add latency, fail a share of requests (5xx, 429, hang, bad JSON,
unexpected shape), fail chosen credit codes, enforce a rate limit with 429
and Retry-After, and check a signed-token header. It counts every request it
receives: those counts, not the client, are the judge of whether a quota held.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import re
import threading
import time
import unicodedata
from collections import Counter, deque
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from connectors.base import BEIJING


@dataclass
class Behaviour:
    latency_ms: float = 0.0
    error_rate: float = 0.0
    # each one of: "500", "502", "503", "429", "timeout", "bad_json", "schema",
    # "truncated", "oversize" (oversize_bytes of JSON), "deep" (nested 100,000 levels)
    error_kinds: list[str] = field(default_factory=lambda: ["503"])
    oversize_bytes: int = 11 * 1024 * 1024
    rate_limit_per_s: int | None = None
    retry_after_s: int = 1
    hang_s: float = 30.0
    fail_codes: dict[str, str] = field(default_factory=dict)  # credit code → error kind
    fail_first: int = 0  # the next N requests fail with error_kinds[0], then behave
    synthesize: bool = False  # unknown codes get an ordinary active company
    # what a fuzzy-matching aggregator does: asked code → the code of the company it answers
    # with instead (that company's data, its own code; a full-width code is the asked one's
    # data under that look-alike code)
    answer_as: dict[str, str] = field(default_factory=dict)
    # asked code → another code whose listings (credit, safety) join the answer, each
    # carrying its own company's code
    mix_lists: dict[str, str] = field(default_factory=dict)
    signature: tuple[str, str] | None = None  # (key, secret) the qcc shape requires
    seed: int | None = None


@dataclass
class LoggedRequest:
    at: float  # time.monotonic() on arrival
    path: str
    credit_code: str
    status: int | None = None  # None while being answered, or if the client gave up


# The newest requests kept one by one (`Simulator.log`, for tests that look at each): a
# simulator serving sweeps for hours must not keep them all (issue 22: 6,000 a minute grew
# the demo daemon, which runs the simulator in its own process, by 1.5 MB a minute). The
# counts in `stats()` cover every request.
LOG_KEPT = 10_000


def max_in_window(times: list[float], window_s: float = 1.0) -> int:
    """The most arrivals within any interval of `window_s` seconds."""
    ordered = sorted(times)
    best, start = 0, 0
    for end, moment in enumerate(ordered):
        while moment - ordered[start] >= window_s:
            start += 1
        best = max(best, end - start + 1)
    return best


def _json(data: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    # UTF-8 as the providers send it, not \u escapes: half the bytes to send and parse;
    # text UTF-8 cannot carry (a lone surrogate) goes as the escape a provider would send.
    try:
        body = json.dumps(data, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        body = json.dumps(data).encode()
    return web.Response(
        body=body,
        status=status,
        headers=headers,
        content_type="application/json",
        charset="utf-8",
    )


def load_upstream(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text(encoding="utf-8")))


def _epoch_ms(text: str | int | None) -> int | None:
    """A date as Tianyancha-style feeds give it: epoch milliseconds of Beijing midnight."""
    if not text:
        return None
    if isinstance(text, int):
        return text
    moment = datetime.combine(date.fromisoformat(text), datetime.min.time(), BEIJING)
    return int(moment.timestamp() * 1000)


class Simulator:
    def __init__(self, data: dict[str, Any], behaviour: Behaviour | None = None) -> None:
        self.factories: dict[str, Any] = data.get("factories", {})
        self.absent: set[str] = set(data.get("absent", []))
        self.behaviour = behaviour or Behaviour()
        self.log: deque[LoggedRequest] = deque(maxlen=LOG_KEPT)
        self._recent: deque[float] = deque()
        self._requests = 0
        self._by_status: Counter[str] = Counter()  # by HTTP status
        self._last_second: deque[float] = deque()  # arrivals within the newest second
        self._most_in_a_second = 0
        self._random = random.Random(self.behaviour.seed)
        self._lock = threading.Lock()
        self.faults: Counter[str] = Counter()  # what was injected, by kind

    # ------------------------------------------------------------ the web app

    def app(self) -> web.Application:
        app = web.Application()
        routes = [
            ("/qcc/ECIV4/GetBasicDetailsByName", self._qcc_registration),
            ("/qcc/CreditInfo/GetList", self._qcc_credit),
            ("/tyc/services/open/ic/baseinfo/normal", self._tyc_registration),
            ("/tyc/services/open/safety/accidents", self._tyc_safety),
        ]
        for path, render in routes:
            app.router.add_get(path, self._serving(path, render))
        app.router.add_get("/_sim/stats", self._stats)
        app.router.add_post("/_sim/behaviour", self._set_behaviour)
        app.router.add_post("/_sim/reset", self._reset)
        return app

    def _serving(self, path: str, render: Any) -> Any:
        async def handle(request: web.Request) -> web.StreamResponse:
            arrived = time.monotonic()
            code = request.query.get("keyword", "").strip().upper()
            entry = LoggedRequest(arrived, path, code)
            with self._lock:
                self.log.append(entry)  # on arrival: a request the client abandons still counts
                self._requests += 1
                window = self._last_second
                window.append(arrived)
                while arrived - window[0] >= 1.0:
                    window.popleft()
                self._most_in_a_second = max(self._most_in_a_second, len(window))
            response = await self._answer(request, code, arrived, render)
            entry.status = response.status
            with self._lock:
                self._by_status[str(response.status)] += 1
            return response

        return handle

    async def _answer(
        self, request: web.Request, code: str, arrived: float, render: Any
    ) -> web.StreamResponse:
        behaviour = self.behaviour
        if behaviour.rate_limit_per_s is not None and self._over_quota(arrived):
            return _json(
                {"Status": "429", "Message": "请求过于频繁"},
                status=429,
                headers={"Retry-After": str(behaviour.retry_after_s)},
            )
        if behaviour.signature and "/qcc/" in request.path and not self._signed(request):
            return _json({"Status": "101", "Message": "签名错误"}, status=401)
        if behaviour.latency_ms:
            await asyncio.sleep(behaviour.latency_ms / 1000)
        failure = self._failure_for(code)
        if failure is not None:
            return await self._fail(failure)
        return render(code)

    def _over_quota(self, arrived: float) -> bool:
        limit = self.behaviour.rate_limit_per_s or 0
        with self._lock:
            while self._recent and arrived - self._recent[0] >= 1.0:
                self._recent.popleft()
            if len(self._recent) >= limit:
                return True
            self._recent.append(arrived)
            return False

    def _signed(self, request: web.Request) -> bool:
        assert self.behaviour.signature is not None
        key, secret = self.behaviour.signature
        stamp = request.headers.get("Timespan", "")
        if not stamp.isdigit() or abs(int(stamp) - time.time()) > 300:
            return False
        if request.query.get("key") != key:
            return False
        expected = hashlib.md5(f"{key}{stamp}{secret}".encode()).hexdigest().upper()
        return request.headers.get("Token", "") == expected

    def _failure_for(self, code: str) -> str | None:
        behaviour = self.behaviour
        with self._lock:
            kind = None
            if behaviour.fail_first > 0:
                behaviour.fail_first -= 1
                kind = behaviour.error_kinds[0]
            elif code in behaviour.fail_codes:
                kind = behaviour.fail_codes[code]
            elif behaviour.error_rate and self._random.random() < behaviour.error_rate:
                kind = self._random.choice(behaviour.error_kinds)
            if kind is not None:
                self.faults[kind] += 1
            return kind

    async def _fail(self, kind: str) -> web.StreamResponse:
        if kind == "timeout":
            await asyncio.sleep(self.behaviour.hang_s)
            return _json({}, status=504)
        if kind == "bad_json":
            return web.Response(text="<html>网关错误</html>", content_type="application/json")
        if kind == "schema":
            return _json({"Status": "200", "Result": {"Unexpected": True}})
        if kind == "truncated":
            return web.Response(
                body=b'{"Status": "200", "Result": {"Name": "\xe5\x8c\x97\xe4\xba',
                content_type="application/json",
            )
        if kind == "oversize":
            filler = b" " * self.behaviour.oversize_bytes
            return web.Response(
                body=b'{"Status": "200",' + filler + b"}", content_type="application/json"
            )
        if kind == "deep":
            return web.Response(
                body=b"[" * 100_000 + b"]" * 100_000, content_type="application/json"
            )
        status = int(kind)
        headers = {"Retry-After": str(self.behaviour.retry_after_s)} if status == 429 else {}
        return _json({"Status": kind}, status=status, headers=headers)

    # ------------------------------------------------------------ the data

    def _factory(self, code: str) -> dict[str, Any] | None:
        if code in self.absent:
            return None
        entry = self.factories.get(code)
        if entry is None and self.behaviour.synthesize and len(code) == 18:
            entry = {
                "registration": {
                    "name": f"模拟企业{code[-6:]}有限公司",
                    "status": "存续（在营、开业、在册）",
                    "address": "北京市海淀区模拟路1号",
                    "authority": "北京市海淀区市场监督管理局",
                    "division_code": "110108",
                    "entity_type": "有限责任公司",
                    "former_names": [],
                },
                "credit": [],
                "safety": [],
            }
        return entry

    def _answered(self, code: str) -> tuple[str, dict[str, Any] | None]:
        """The code the answer carries, and the data it gives (see `answer_as`)."""
        written = self.behaviour.answer_as.get(code, code)
        folded = re.sub(r"[^0-9A-Z]", "", unicodedata.normalize("NFKC", written).upper())
        return written, self._factory(folded)

    def _listings(self, code: str, topic: str) -> list[tuple[str, dict[str, Any]]]:
        """(owner's code, listing) for the answer about `code`, with any mixed-in listings."""
        written, entry = self._answered(code)
        items = [(written, item) for item in (entry or {}).get(topic, [])]
        other = self.behaviour.mix_lists.get(code)
        if other is not None:
            items += [(other, item) for item in (self._factory(other) or {}).get(topic, [])]
        return items

    def _qcc_registration(self, code: str) -> web.Response:
        code, entry = self._answered(code)
        if entry is None:
            return _json({"Status": "201", "Message": "查询无结果", "Result": None})
        reg = entry["registration"]
        return _json(
            {
                "Status": "200",
                "Message": "查询成功",
                "Result": {
                    "KeyNo": hashlib.md5(code.encode()).hexdigest(),
                    "Name": reg["name"],
                    "CreditCode": code,
                    "Status": reg["status"],
                    "Address": reg.get("address"),
                    "BelongOrg": reg.get("authority"),
                    "AreaCode": reg.get("division_code"),
                    "EconKind": reg.get("entity_type"),
                    "OriginalName": [
                        {"Name": name, "ChangeDate": None} for name in reg.get("former_names", [])
                    ],
                },
            }
        )

    def _qcc_credit(self, code: str) -> web.Response:
        if self._answered(code)[1] is None:
            return _json({"Status": "201", "Message": "查询无结果", "Result": None})
        items = [
            {
                "CreditCode": owner,
                "Id": item["id"],
                "Type": item["type"],
                "DecideDate": item.get("decided_on"),
                "Org": item.get("authority"),
                "DocNo": item.get("document_no"),
                "Amount": item.get("fine"),
                "Reason": item.get("reason"),
                "RemoveDate": item.get("removed_on"),
            }
            for owner, item in self._listings(code, "credit")
        ]
        return _json({"Status": "200", "Result": {"Data": items}})

    def _tyc_registration(self, code: str) -> web.Response:
        code, entry = self._answered(code)
        if entry is None:
            return _json({"error_code": 300000, "reason": "无数据"}, status=404)
        reg = entry["registration"]
        return _json(
            {
                "error_code": 0,
                "reason": "ok",
                "result": {
                    "name": reg["name"],
                    "creditCode": code,
                    "regStatus": reg["status"],
                    "regLocation": reg.get("address"),
                    "regInstitute": reg.get("authority"),
                    "companyOrgType": reg.get("entity_type"),
                    "historyNameList": reg.get("former_names", []),
                },
            }
        )

    def _tyc_safety(self, code: str) -> web.Response:
        if self._answered(code)[1] is None:
            return _json({"error_code": 300000, "reason": "无数据"}, status=404)
        items = [
            {
                "creditCode": owner,
                "id": item["id"],
                "type": item["category"],
                "date": _epoch_ms(item.get("occurred_on")),
                "level": item.get("grade"),
                "death": item.get("deaths"),
                "seriousInjury": item.get("serious_injuries"),
                "evacuated": item.get("evacuated"),
                "loss": item.get("direct_loss"),
                "desc": item.get("summary"),
            }
            for owner, item in self._listings(code, "safety")
        ]
        return _json(
            {"error_code": 0, "reason": "ok", "result": {"total": len(items), "items": items}}
        )

    # ------------------------------------------------------------ control

    def stats(self) -> dict[str, Any]:
        """Every request since the start (or the last reset): how many, by status (None: not
        answered, or the client gave up), and the most that arrived within one second."""
        with self._lock:
            by_status = dict(self._by_status)
            unanswered = self._requests - sum(self._by_status.values())
            if unanswered:
                by_status["None"] = unanswered
            return {
                "requests": self._requests,
                "by_status": by_status,
                "max_in_any_second": self._most_in_a_second,
            }

    def reset(self) -> None:
        with self._lock:
            self.log.clear()
            self._recent.clear()
            self._requests = 0
            self._by_status.clear()
            self._last_second.clear()
            self._most_in_a_second = 0

    async def _stats(self, _request: web.Request) -> web.Response:
        return _json(self.stats())

    async def _set_behaviour(self, request: web.Request) -> web.Response:
        changes = await request.json()
        unknown = set(changes) - set(asdict(self.behaviour))
        if unknown:
            return _json({"error": f"unknown settings {sorted(unknown)}"}, status=400)
        for name, value in changes.items():
            setattr(self.behaviour, name, tuple(value) if name == "signature" and value else value)
        return _json(asdict(self.behaviour))

    async def _reset(self, _request: web.Request) -> web.Response:
        self.reset()
        return _json({"ok": True})


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop where it is installed (the `simulator` extra): on the stock loop the
    simulator's own work queues behind its timers, so the latency it plays would
    be longer than the one configured."""
    try:
        import uvloop
    except ImportError:  # without the extra: the stock loop, a little slower
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def serve(simulator: Simulator, host: str, port: int) -> None:
    """Serve until interrupted (`sfm simulator`)."""
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        runner.run(serve_forever(simulator, host, port))


class RunningSimulator:
    """The simulator served from a background thread with its own event loop."""

    def __init__(self, simulator: Simulator, host: str = "127.0.0.1", port: int = 0) -> None:
        self.simulator = simulator
        self.host = host
        self.port = port
        self._loop = new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(
            target=self._loop.run_forever, daemon=True, name="sfm-simulator"
        )

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def _start(self) -> None:
        self._runner = web.AppRunner(
            self.simulator.app(), access_log=None, handler_cancellation=True
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, backlog=1024)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None)
        assert sockets, "the simulator did not bind"
        self.port = sockets[0].getsockname()[1]

    def start(self) -> RunningSimulator:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)
        return self

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def __enter__(self) -> RunningSimulator:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


async def serve_forever(simulator: Simulator, host: str, port: int) -> None:
    """Serve until cancelled (`sfm simulator`)."""
    runner = web.AppRunner(simulator.app(), access_log=None, handler_cancellation=True)
    await runner.setup()
    await web.TCPSite(runner, host, port, backlog=1024).start()
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
