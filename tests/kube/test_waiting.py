"""Flux's wait loop messages and stop rules, with a scripted reader."""

from __future__ import annotations

import pytest

from shared.kube import health, inventory, waiting

S = health.Status
WEB = inventory.Ref(group="apps", kind="Deployment", namespace="dev", name="web", version="v1")
API = inventory.Ref(group="apps", kind="Deployment", namespace="dev", name="api", version="v1")
NS = inventory.Ref(group="", kind="Namespace", namespace="", name="dev", version="v1")


def _reader(statuses: dict[inventory.Ref, list[health.Result]]) -> waiting.StatusReader:
    async def read(ref: inventory.Ref) -> health.Result:
        queue = statuses[ref]
        return queue.pop(0) if len(queue) > 1 else queue[0]

    return read


async def test_returns_once_everything_is_current() -> None:
    read = _reader(
        {
            WEB: [health.Result(S.IN_PROGRESS, "Ready: 0/1"), health.Result(S.CURRENT, "ok")],
            NS: [health.Result(S.CURRENT, "ok")],
        }
    )

    statuses = await waiting.wait([WEB, NS], read=read, interval=0.01, within=5)

    assert {ref: r.status for ref, r in statuses.items()} == {WEB: S.CURRENT, NS: S.CURRENT}


async def test_fail_fast_stops_at_the_first_failure() -> None:
    read = _reader(
        {
            WEB: [health.Result(S.FAILED, "Progress deadline exceeded")],
            API: [health.Result(S.IN_PROGRESS, "Ready: 0/1")],
        }
    )

    with pytest.raises(waiting.WaitError) as raised:
        await waiting.wait([WEB, API], read=read, interval=0.01, within=5)

    assert raised.value.message == (
        "failed early due to stalled resources: [Deployment/dev/web status: 'Failed']"
    )


async def test_without_fail_fast_waits_for_the_rest_until_the_deadline() -> None:
    read = _reader(
        {
            WEB: [health.Result(S.FAILED, "x")],
            API: [health.Result(S.UNKNOWN, "boom")],
        }
    )

    with pytest.raises(waiting.WaitError) as raised:
        await waiting.wait([WEB, API], read=read, interval=0.01, within=0.05, fail_fast=False)

    assert raised.value.message == (
        "timeout waiting for: [Deployment/dev/api status: 'Unknown': boom, "
        "Deployment/dev/web status: 'Failed']"
    )


async def test_ttl_job_gone_counts_as_current() -> None:
    job = inventory.Ref(group="batch", kind="Job", namespace="dev", name="once", version="v1")
    read = _reader({job: [health.Result(S.NOT_FOUND, "Resource not found")]})

    statuses = await waiting.wait([job], read=read, interval=0.01, within=1, ttl_jobs=[job])

    assert statuses[job].status == S.CURRENT


async def test_not_found_job_without_ttl_times_out() -> None:
    job = inventory.Ref(group="batch", kind="Job", namespace="dev", name="once", version="v1")
    read = _reader({job: [health.Result(S.NOT_FOUND, "Resource not found")]})

    with pytest.raises(waiting.WaitError, match=r"Job/dev/once status: 'NotFound'"):
        await waiting.wait([job], read=read, interval=0.01, within=0.05)
