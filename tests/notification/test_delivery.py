"""Per-Provider delivery: retries with backoff, isolation of a provider that is down."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from controllers.notification import delivery, notifiers
from tests.fixtures.polling import eventually
from tests.notification import webhooks


def _job(url: str, *, timeout: float = 15.0, name: str = "a") -> delivery.Job:
    request = notifiers.Request(method="POST", url=url, headers={}, body=b"{}")
    return delivery.Job(requests=[request], timeout=timeout, context={"alert": name})


@pytest.fixture
async def failures() -> list[str]:
    return []


@pytest.fixture
async def dispatcher(failures: list[str]) -> AsyncIterator[delivery.Dispatcher]:
    async def on_failure(job: delivery.Job, message: str) -> None:
        failures.append(f"{job.context['alert']}: {message}")

    created = delivery.Dispatcher(
        on_failure=on_failure, workers=2, retry_wait_min=0.01, retry_wait_max=0.05
    )
    yield created
    await created.close()


async def test_5xx_and_429_answers_are_retried_until_accepted(
    dispatcher: delivery.Dispatcher, failures: list[str]
) -> None:
    async with webhooks.serving() as server:
        server.answers["/hook"] = [503, 429, 500]
        assert dispatcher.submit("ns/p", _job(server.url + "/hook"))
        await dispatcher.drain()
        assert len(server.received) == 4
    assert failures == []


async def test_a_4xx_answer_is_reported_without_retry(
    dispatcher: delivery.Dispatcher, failures: list[str]
) -> None:
    async with webhooks.serving() as server:
        server.answers["/hook"] = [403]
        dispatcher.submit("ns/p", _job(server.url + "/hook"))
        await dispatcher.drain()
        assert len(server.received) == 1
    assert failures == ['a: request failed with status code 403: {"ok": false}']


async def test_a_provider_failing_after_every_retry_is_reported(
    dispatcher: delivery.Dispatcher, failures: list[str]
) -> None:
    async with webhooks.serving() as server:
        server.answers["/hook"] = [500] * 10
        dispatcher.submit("ns/p", _job(server.url + "/hook"))
        await dispatcher.drain()
        assert len(server.received) == 1 + delivery.RETRIES
    assert failures == ['a: request failed with status code 500: {"ok": false}']


async def test_a_provider_that_hangs_times_out_and_is_reported(
    dispatcher: delivery.Dispatcher, failures: list[str]
) -> None:
    async with webhooks.serving() as server:
        server.hold = asyncio.Event()
        dispatcher.submit("ns/p", _job(server.url + "/hook", timeout=0.2))
        await dispatcher.drain()
    assert failures == ["a: no answer within 0.2s"]


async def test_a_provider_that_is_down_does_not_delay_another(
    dispatcher: delivery.Dispatcher, failures: list[str]
) -> None:
    async with webhooks.serving() as down, webhooks.serving() as up:
        down.hold = asyncio.Event()
        for n in range(4):  # more than the down provider's workers
            dispatcher.submit("ns/down", _job(down.url + f"/{n}", name="down"))
        for n in range(3):
            dispatcher.submit("ns/up", _job(up.url + f"/{n}", name="up"))
        await eventually(lambda: len(up.received) == 3)
        # Every notification to the down provider is still waiting: none lost.
        assert len(down.received) == 2
        assert dispatcher.pending() == 2
        down.hold.set()
        await dispatcher.drain()
        assert sorted(r.path for r in down.received) == ["/0", "/1", "/2", "/3"]
    assert failures == []


async def test_a_full_queue_refuses_the_job() -> None:
    async def on_failure(job: delivery.Job, message: str) -> None:
        raise AssertionError(message)

    dispatcher = delivery.Dispatcher(on_failure=on_failure, workers=1, queue_size=1)
    try:
        async with webhooks.serving() as server:
            server.hold = asyncio.Event()
            assert dispatcher.submit("ns/p", _job(server.url))
            await eventually(lambda: len(server.received) == 1)  # taken by the worker
            assert dispatcher.submit("ns/p", _job(server.url))
            assert not dispatcher.submit("ns/p", _job(server.url))
            server.hold.set()
            await dispatcher.drain()
    finally:
        await dispatcher.close()
