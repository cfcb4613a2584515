"""The controllers' work queue: de-duplication, one worker per key, retries."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from devcluster.controllers import apiclient


async def _run_until(
    queue: apiclient.WorkQueue[str],
    reconcile: Callable[[str], Awaitable[None]],
    done: asyncio.Event,
    *,
    workers: int = 2,
) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(queue.run(reconcile, workers=workers, stop=stop))
    try:
        await asyncio.wait_for(done.wait(), timeout=5)
    finally:
        stop.set()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_keys_queued_twice_are_reconciled_once() -> None:
    queue: apiclient.WorkQueue[str] = apiclient.WorkQueue()
    seen: list[str] = []
    done = asyncio.Event()

    async def reconcile(key: str) -> None:
        seen.append(key)
        if key == "last":
            done.set()

    for key in ("a", "b", "a", "a", "b", "last"):
        queue.add(key)
    await _run_until(queue, reconcile, done, workers=1)

    assert seen == ["a", "b", "last"]


async def test_a_key_added_while_active_runs_again_but_never_concurrently() -> None:
    queue: apiclient.WorkQueue[str] = apiclient.WorkQueue()
    active = 0
    most = 0
    runs = 0
    release = asyncio.Event()
    done = asyncio.Event()

    async def reconcile(key: str) -> None:
        nonlocal active, most, runs
        active += 1
        most = max(most, active)
        runs += 1
        if runs == 1:
            queue.add("k")  # changed while being reconciled
            queue.add("k")
            await release.wait()
        active -= 1
        if runs == 2:
            done.set()

    queue.add("k")
    stop = asyncio.Event()
    task = asyncio.create_task(queue.run(reconcile, workers=4, stop=stop))
    await asyncio.sleep(0)
    release.set()
    await asyncio.wait_for(done.wait(), timeout=5)
    stop.set()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)

    assert (runs, most) == (2, 1)


async def test_an_api_error_is_retried() -> None:
    queue: apiclient.WorkQueue[str] = apiclient.WorkQueue()
    attempts = 0
    done = asyncio.Event()

    async def reconcile(key: str) -> None:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise apiclient.ApiError(409, "Conflict", "the object has been modified")
        done.set()

    queue.add("k")
    await _run_until(queue, reconcile, done)

    assert attempts == 2


async def test_add_after_delays_the_key() -> None:
    queue: apiclient.WorkQueue[str] = apiclient.WorkQueue()
    loop = asyncio.get_running_loop()
    started = loop.time()
    when: list[float] = []
    done = asyncio.Event()

    async def reconcile(key: str) -> None:
        when.append(loop.time() - started)
        done.set()

    queue.add_after("k", 0.1)
    await _run_until(queue, reconcile, done)

    assert when[0] >= 0.09


def test_gvr_paths() -> None:
    pods = apiclient.Gvr("", "v1", "pods", True, "Pod")
    nodes = apiclient.Gvr("", "v1", "nodes", False, "Node")
    deployments = apiclient.Gvr("apps", "v1", "deployments", True, "Deployment")

    assert pods.path() == "/api/v1/pods"
    assert pods.path("ns", "p", "status") == "/api/v1/namespaces/ns/pods/p/status"
    assert nodes.path("ignored", "n") == "/api/v1/nodes/n"
    assert deployments.path("ns") == "/apis/apps/v1/namespaces/ns/deployments"
    assert deployments.api_version == "apps/v1"
