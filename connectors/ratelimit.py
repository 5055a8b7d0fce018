"""A provider's quota as a contract: never more than `limit` requests in any window.

A leaky or token bucket (aiolimiter, for instance) lets a full bucket burst and
then refill within the same second, so a sliding one-second window can see up
to twice the rate; providers that count requests per second bill or ban on
exactly that. And a request's start on our side is not its arrival on theirs:
the event loop, the GIL or the network can hold one back while a later one
goes straight through, so a window counted from our starts can hold one
request too many on theirs.

So this limiter counts a request from the moment it is let through until one
period after it *finished*: the provider saw it before it answered, and the
request that takes its place is sent after that, so any window on the
provider's side holds at most `limit` of them.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress


class SlidingWindowLimiter:
    def __init__(self, limit: int, period_s: float = 1.0) -> None:
        if limit < 1 or period_s <= 0:
            raise ValueError("a rate limit needs limit >= 1 and a positive period")
        self.limit = limit
        self.period_s = period_s
        self._finished: deque[float] = deque()
        self._in_flight = 0
        self._changed = asyncio.Condition()  # FIFO: waiters go in the order they asked

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one of the quota's places for the duration of one request."""
        await self._acquire()
        try:
            yield
        finally:
            await self._release()

    async def _acquire(self) -> None:
        async with self._changed:
            while True:
                now = time.monotonic()
                while self._finished and now - self._finished[0] >= self.period_s:
                    self._finished.popleft()
                if self._in_flight + len(self._finished) < self.limit:
                    self._in_flight += 1
                    return
                # Wake when the oldest finished request leaves the window, or sooner
                # if an in-flight one finishes (it then starts its own period).
                timeout = self._finished[0] + self.period_s - now if self._finished else None
                with suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), timeout)

    async def _release(self) -> None:
        async with self._changed:
            self._in_flight -= 1
            self._finished.append(time.monotonic())
            self._changed.notify()
