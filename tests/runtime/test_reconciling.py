"""The reconcile skeleton's steps, progress writes and failure reporting, against a devcluster.

The Widget reconciler (``tests.runtime.widgets``) stands in for a kind: its
``spec.progress`` plays a slow health check (the step reports progress, then
waits until the test releases it).
"""

from __future__ import annotations

import asyncio
import io
import json
from typing import Any, Literal

import pytest

from shared.api import meta
from shared.kube import client
from shared.runtime import conditions, reconciling
from tests.fixtures.polling import eventually
from tests.runtime import widgets
from tests.runtime.conftest import running_manager

HEALTH = "Running health checks for revision r1 with a timeout of 5m0s"


async def _create(api: client.Client, namespace: str, name: str, **spec: Any) -> None:
    await api.request(
        "POST",
        widgets.PATH.format(ns=namespace),
        body=widgets.manifest(name, **spec),
        verb="create",
    )


async def _conditions(api: client.Client, namespace: str, name: str) -> dict[str, dict[str, Any]]:
    obj = await api.request("GET", f"{widgets.PATH.format(ns=namespace)}/{name}")
    return {c["type"]: c for c in (obj.get("status") or {}).get("conditions", [])}


def _probe(api: client.Client, namespace: str, name: str, ready: str, message: str) -> Any:
    async def probe() -> dict[str, dict[str, Any]] | None:
        found = await _conditions(api, namespace, name)
        condition = found.get(meta.READY)
        if condition and (condition["status"], condition["message"]) == (ready, message):
            return found
        return None

    return probe


async def test_slow_run_shows_progress_then_the_verdict(api: client.Client, namespace: str) -> None:
    reconciler = widgets.WidgetReconciler()
    async with running_manager(api, reconciler, namespace=namespace):
        await _create(api, namespace, "slow", progress=HEALTH)

        waiting = await eventually(
            _probe(api, namespace, "slow", "Unknown", reconciling.IN_PROGRESS_MESSAGE),
            message="no in-progress status while the step waited",
        )
        reconciler.release.set()
        done = await eventually(_probe(api, namespace, "slow", "True", "widget reconciled"))

    assert waiting[meta.READY]["reason"] == meta.PROGRESSING_REASON
    assert (waiting[meta.RECONCILING]["status"], waiting[meta.RECONCILING]["message"]) == (
        "True",
        HEALTH,
    )
    assert meta.RECONCILING not in done


async def test_fast_run_pays_no_progress_write(api: client.Client, namespace: str) -> None:
    reconciler = widgets.WidgetReconciler()
    async with running_manager(api, reconciler, namespace=namespace):
        patches = api.stats["patch"]
        await _create(api, namespace, "fast")
        await eventually(_probe(api, namespace, "fast", "True", "widget reconciled"))

        # One patch adds the finalizer, one writes the final status.
        assert api.stats["patch"] - patches == 2


async def test_a_step_may_not_set_a_condition_it_does_not_own(
    api: client.Client, namespace: str
) -> None:
    reconciler = widgets.WidgetReconciler()
    message = "step 'misbehave' changed conditions it does not own: ['Worked']"
    async with running_manager(api, reconciler, namespace=namespace):
        await _create(api, namespace, "sneaky", fail="foreign")
        found = await eventually(_probe(api, namespace, "sneaky", "False", message))

    assert found[meta.READY]["reason"] == meta.FAILED_REASON


def test_the_summary_must_list_what_the_steps_own(api: client.Client) -> None:
    reconciler = widgets.WidgetReconciler()
    reconciler.summary = conditions.Summary(owned=(), negative=frozenset())
    with pytest.raises(ValueError, match=r"lists \[\] but its steps own \['Worked'\]"):
        reconciling.Skeleton(
            api=api,
            resource=None,  # type: ignore[arg-type]  # refused before it is used
            reconciler=reconciler,
            recorder=None,  # type: ignore[arg-type]
        )


@pytest.mark.parametrize(
    ("fail", "reason", "message"),
    [
        ("stall", "WidgetBroken", "widget cannot work"),
        # A wait that is a failure (as BuildFailed or HealthCheckFailed are) is
        # logged too; only an expected wait with a notice is not.
        ("wait", meta.DEPENDENCY_NOT_READY_REASON, "widget waits"),
    ],
)
async def test_a_failed_reconcile_is_logged_at_error_level(
    api: client.Client,
    namespace: str,
    stream: io.StringIO,
    fail: Literal["stall", "wait"],
    reason: str,
    message: str,
) -> None:
    reconciler = widgets.WidgetReconciler()
    async with running_manager(api, reconciler, namespace=namespace):
        await _create(api, namespace, "broken", fail=fail)
        await eventually(_probe(api, namespace, "broken", "False", message))

    failures = [
        line
        for line in map(json.loads, stream.getvalue().splitlines())
        if line.get("msg") == "Reconciliation failed"
    ]
    assert failures
    line = failures[0]
    assert line["level"] == "error"
    assert line["object"] == f"Widget/{namespace}/broken"
    assert (line["reason"], line["message"]) == (reason, message)
    assert "revision" in line


@pytest.mark.parametrize("percentage", [0, 50])
async def test_success_requeues_within_the_interval_jitter_percentage(
    api: client.Client, namespace: str, percentage: int
) -> None:
    """``--interval-jitter-percentage``: the widget's 10m interval moves by at most ±p %."""
    reconciler = widgets.WidgetReconciler()
    reconciler.release.set()
    loop = asyncio.get_running_loop()
    async with running_manager(
        api, reconciler, namespace=namespace, interval_jitter_percentage=percentage
    ) as mgr:
        await _create(api, namespace, "timed")
        started = loop.time()
        await eventually(_probe(api, namespace, "timed", "True", "widget reconciled"))
        work = mgr.controllers[0].queue
        timer = await eventually(lambda: work._delayed.get(f"{namespace}/timed"))
        ended = loop.time()

    low, high = 600 * (1 - percentage / 100), 600 * (1 + percentage / 100)
    assert started + low <= timer.when() <= ended + high
