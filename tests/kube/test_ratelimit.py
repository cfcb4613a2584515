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


@pytest.mark.looptime
async def test_a_spare_token_comes_only_from_the_upper_half_of_the_burst() -> None:
    bucket = ratelimit.TokenBucket(qps=10, burst=6)

    taken = [bucket.take_spare() for _ in range(6)]
    await asyncio.sleep(0.1)  # one token back: the bucket is just above half again
    after_one = [bucket.take_spare(), bucket.take_spare()]

    assert taken == [True, True, True, False, False, False]
    assert after_one == [True, False]


@pytest.mark.looptime
async def test_no_spare_token_while_a_request_waits_for_one() -> None:
    bucket = ratelimit.TokenBucket(qps=1, burst=4)
    for _ in range(4):
        await bucket.acquire()
    waiting = asyncio.create_task(bucket.acquire())
    await asyncio.sleep(0.5)

    assert bucket.take_spare() is False
    await waiting


def test_a_burst_of_one_has_a_spare_token_when_full() -> None:
    async def spares() -> list[bool]:
        bucket = ratelimit.TokenBucket(qps=0.001, burst=1)
        return [bucket.take_spare(), bucket.take_spare()]

    assert asyncio.run(spares()) == [True, False]
