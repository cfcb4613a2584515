"""The token bucket allows a burst, then the configured rate (fake time)."""

from __future__ import annotations

import asyncio

import pytest

from shared.kube import ratelimit


@pytest.mark.looptime
async def test_burst_then_qps() -> None:
    bucket = ratelimit.TokenBucket(qps=50, burst=300)
    loop = asyncio.get_running_loop()
    start = loop.time()

    for _ in range(300):
        await bucket.acquire()
    burst_done = loop.time()
    for _ in range(100):
        await bucket.acquire()

    assert burst_done - start == pytest.approx(0)
    assert loop.time() - burst_done == pytest.approx(2.0, rel=0.02)


@pytest.mark.looptime
async def test_idle_time_refills_up_to_burst_only() -> None:
    bucket = ratelimit.TokenBucket(qps=10, burst=5)
    loop = asyncio.get_running_loop()
    for _ in range(5):
        await bucket.acquire()
    await asyncio.sleep(3600)
    start = loop.time()

    for _ in range(6):
        await bucket.acquire()

    assert loop.time() - start == pytest.approx(0.1, rel=0.02)


async def test_zero_qps_disables_limiting() -> None:
    bucket = ratelimit.TokenBucket(qps=0, burst=1)

    waits = [await bucket.acquire() for _ in range(1000)]

    assert max(waits) == 0.0


def test_burst_must_be_positive() -> None:
    with pytest.raises(ValueError, match="burst must be at least 1"):
        ratelimit.TokenBucket(qps=1, burst=0)
