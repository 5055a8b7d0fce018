import asyncio
import time

from connectors.ratelimit import SlidingWindowLimiter
from connectors.simulator import max_in_window


async def test_never_more_than_the_limit_in_any_window() -> None:
    limiter = SlidingWindowLimiter(limit=5, period_s=0.2)
    starts: list[float] = []

    async def request() -> None:
        await limiter.acquire()
        starts.append(time.monotonic())

    await asyncio.gather(*(request() for _ in range(23)))
    assert len(starts) == 23
    assert max_in_window(starts, 0.2) == 5


def test_max_in_window_counts_a_sliding_window() -> None:
    assert max_in_window([0.0, 0.5, 0.99, 1.0, 1.2]) == 4  # 0.5 … 1.2
    assert max_in_window([0.0, 1.0, 2.0]) == 1  # a window is one second wide, half-open
    assert max_in_window([]) == 0
