"""The work queue: de-duplication, exclusivity, delays, backoff, drain (fake time)."""

from __future__ import annotations

import asyncio
import random

import pytest

from shared.runtime import queue


async def _drain_ready(q: queue.WorkQueue[str]) -> list[str]:
    keys = []
    while len(q):
        key, _ = await q.get()
        keys.append(key)
        q.done(key)
    return keys


async def test_adding_a_queued_key_twice_queues_it_once() -> None:
    q: queue.WorkQueue[str] = queue.WorkQueue()
    q.add("a")
    q.add("b")
    q.add("a")

    assert await _drain_ready(q) == ["a", "b"]


async def test_key_added_while_processing_is_requeued_after_done() -> None:
    q: queue.WorkQueue[str] = queue.WorkQueue()
    q.add("a")
    key, _ = await q.get()
    q.add("a")

    assert len(q) == 0, "a key being processed must not be handed out again"
    q.done(key)
    assert await _drain_ready(q) == ["a"]


@pytest.mark.looptime
async def test_add_after_waits_for_the_delay() -> None:
    q: queue.WorkQueue[str] = queue.WorkQueue()
    loop = asyncio.get_running_loop()
    start = loop.time()
    q.add_after("a", 30)

    key, _ = await q.get()

    assert key == "a"
    assert loop.time() - start == pytest.approx(30)


@pytest.mark.looptime
async def test_earliest_delay_wins_and_add_supersedes_delay() -> None:
    q: queue.WorkQueue[str] = queue.WorkQueue()
    loop = asyncio.get_running_loop()
    start = loop.time()
    q.add_after("a", 60)
    q.add_after("a", 10)
    q.add_after("a", 90)
    await q.get()
    assert loop.time() - start == pytest.approx(10)

    q.done("a")
    q.add_after("a", 60)
    q.add("a")
    await q.get()
    assert loop.time() - start == pytest.approx(10), "add must not wait for the delay"
    q.done("a")
    await asyncio.sleep(120)
    assert len(q) == 0, "the superseded delay must not fire later"


@pytest.mark.looptime
async def test_rate_limited_backoff_doubles_from_750ms_to_15_minutes() -> None:
    q: queue.WorkQueue[str] = queue.WorkQueue()
    loop = asyncio.get_running_loop()
    delays = []
    for _ in range(14):
        start = loop.time()
        q.add_rate_limited("a")
        await q.get()
        q.done("a")
        delays.append(round(loop.time() - start, 3))

    assert delays[:5] == [0.75, 1.5, 3.0, 6.0, 12.0]
    assert delays[-1] == 900.0
    assert max(delays) == 900.0
    q.forget("a")
    assert q.failures("a") == 0


def test_backoff_is_capped_even_after_many_failures() -> None:
    assert queue.Backoff().delay(10_000) == 900.0


@pytest.mark.parametrize("seed", range(20))
def test_jitter_stays_within_five_percent(seed: int) -> None:
    value = queue.jittered(600, rng=random.Random(seed))

    assert 570 <= value <= 630


def test_jitter_spreads_requeues() -> None:
    rng = random.Random(1)

    assert len({round(queue.jittered(600, rng=rng), 3) for _ in range(50)}) > 40


async def test_workers_never_process_one_key_concurrently() -> None:
    q: queue.WorkQueue[int] = queue.WorkQueue()
    active: set[int] = set()
    overlaps: list[int] = []
    processed: list[int] = []
    finished = asyncio.Event()

    async def worker() -> None:
        while True:
            try:
                key, _ = await q.get()
            except queue.ShutDownError:
                return
            if key in active:
                overlaps.append(key)
            active.add(key)
            await asyncio.sleep(0)
            if len(processed) < 3000:
                q.add(key)  # an update arriving mid-reconcile
            processed.append(key)
            active.discard(key)
            q.done(key)
            if len(processed) >= 3000 and not len(q):
                finished.set()

    for key in range(100):
        q.add(key)
    workers = [asyncio.create_task(worker()) for _ in range(8)]
    await asyncio.wait_for(finished.wait(), timeout=30)
    await q.drain()
    await asyncio.gather(*workers)

    assert overlaps == []
    assert set(processed) == set(range(100))


async def test_drain_waits_for_keys_in_process_and_stops_handing_out() -> None:
    q: queue.WorkQueue[str] = queue.WorkQueue()
    q.add("a")
    q.add("b")
    key, _ = await q.get()
    drained = asyncio.create_task(q.drain())
    await asyncio.sleep(0)

    assert not drained.done()
    with pytest.raises(queue.ShutDownError):
        await q.get()
    q.done(key)
    await asyncio.wait_for(drained, timeout=5)


async def test_get_reports_time_waited_in_queue() -> None:
    q: queue.WorkQueue[str] = queue.WorkQueue()
    q.add("a")

    _, waited = await q.get()

    assert waited >= 0
    assert q.stats.adds == 1
