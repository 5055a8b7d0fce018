"""A provider's quota as a contract: never more than `limit` request starts in any window.

A leaky or token bucket (aiolimiter, for instance) lets a full bucket burst and
then refill within the same second, so a sliding one-second window can see up
to twice the rate; providers that count requests per second bill or ban on
exactly that. This limiter keeps the start times of the last `limit` requests
and waits until the oldest leaves the window.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque


class SlidingWindowLimiter:
    def __init__(self, limit: int, period_s: float = 1.0) -> None:
        if limit < 1 or period_s <= 0:
            raise ValueError("a rate limit needs limit >= 1 and a positive period")
        self.limit = limit
        self.period_s = period_s
        self._starts: deque[float] = deque()
        self._lock = asyncio.Lock()  # FIFO: waiters start in the order they asked

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                now = time.monotonic()
                while self._starts and now - self._starts[0] >= self.period_s:
                    self._starts.popleft()
                if len(self._starts) < self.limit:
                    self._starts.append(now)
                    return
                await asyncio.sleep(self._starts[0] + self.period_s - now)
