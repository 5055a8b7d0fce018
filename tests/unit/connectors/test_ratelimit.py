import asyncio
import time

from connectors.ratelimit import SlidingWindowLimiter
from connectors.simulator import max_in_window


async def test_never_more_than_the_limit_in_any_window() -> None:
    limiter = SlidingWindowLimiter(limit=5, period_s=0.2)
    starts: list[float] = []

    async def request() -> None:
        async with limiter.slot():
            starts.append(time.monotonic())
            await asyncio.sleep(0.01)

    await asyncio.gather(*(request() for _ in range(23)))
    assert len(starts) == 23
    assert max_in_window(starts, 0.2) == 5


async def test_a_place_is_held_until_one_period_after_the_request_finished() -> None:
    limiter = SlidingWindowLimiter(limit=1, period_s=0.1)
    moments: list[tuple[str, float]] = []

    async def request(name: str, duration: float) -> None:
        async with limiter.slot():
            moments.append((name + " start", time.monotonic()))
            await asyncio.sleep(duration)
            moments.append((name + " end", time.monotonic()))

    await asyncio.gather(request("a", 0.15), request("b", 0))
    (_, _a_start), (_, a_end), (_, b_start), _ = moments
    assert b_start - a_end >= 0.1  # not merely 0.1 after a's start


def test_max_in_window_counts_a_sliding_window() -> None:
    assert max_in_window([0.0, 0.5, 0.99, 1.0, 1.2]) == 4  # 0.5 … 1.2
    assert max_in_window([0.0, 1.0, 2.0]) == 1  # a window is one second wide, half-open
    assert max_in_window([]) == 0
