"""The reconcile skeleton's steps, progress writes and failure reporting, against a devcluster.

The Widget reconciler (``tests.runtime.widgets``) stands in for a kind: its
``spec.progress`` plays a slow health check (the step reports progress, then
waits until the test releases it).
"""

from __future__ import annotations

import asyncio
import io
import json
import urllib.parse
from typing import Any, Literal

import pytest

from shared.api import meta
from shared.kube import client
from shared.kube import errors as kube_errors
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


async def test_an_announced_failure_is_not_reported_again(
    api: client.Client, namespace: str, stream: io.StringIO
) -> None:
    """A step that recorded its failure's event and log line itself gets none from the skeleton."""
    reconciler = widgets.WidgetReconciler()
    async with running_manager(api, reconciler, namespace=namespace):
        await _create(api, namespace, "told", fail="announced")
        found = await eventually(_probe(api, namespace, "told", "False", "widget told"))
    events = await api.request(
        "GET",
        f"/api/v1/namespaces/{namespace}/events",
        query={"fieldSelector": "involvedObject.name=told"},
    )

    assert found[meta.READY]["reason"] == "WidgetFailed"
    assert [e["reason"] for e in events.get("items", [])] == []
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert not [line for line in lines if line.get("msg") == "Reconciliation failed"]


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


def _samples(mgr: Any) -> dict[str, float]:
    """The manager's metrics as ``name{labels}`` → value."""
    return {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in mgr.metrics.render().decode().splitlines()
        if line and not line.startswith("#")
    }


async def test_metrics_show_the_reconcile_in_flight_then_its_time(
    api: client.Client, namespace: str
) -> None:
    """The series Flux's dashboards read: active workers and in-flight work while a reconcile
    runs, its time in controller_runtime_reconcile_time_seconds once it ends."""
    reconciler = widgets.WidgetReconciler()
    async with running_manager(api, reconciler, namespace=namespace, concurrent=3) as mgr:
        await _create(api, namespace, "slow", progress=HEALTH)
        await eventually(
            _probe(api, namespace, "slow", "Unknown", reconciling.IN_PROGRESS_MESSAGE),
            message="no in-progress status while the step waited",
        )

        def busy() -> dict[str, float] | None:
            found = _samples(mgr)
            longest = 'workqueue_longest_running_processor_seconds{name="widget"}'
            return found if found[longest] > 0 else None

        during = await eventually(busy)
        reconciler.release.set()
        await eventually(_probe(api, namespace, "slow", "True", "widget reconciled"))

        def idle() -> dict[str, float] | None:
            found = _samples(mgr)
            workers = found['controller_runtime_active_workers{controller="widget"}']
            return found if workers == 0 else None

        # NB: the status is visible a moment before the worker returns.
        after = await eventually(idle)
        with pytest.raises(kube_errors.NotFoundError):
            await api.request("GET", f"{widgets.PATH.format(ns=namespace)}/missing")
        host = urllib.parse.urlsplit(api.host).netloc
        requests = _samples(mgr)

    assert during['controller_runtime_active_workers{controller="widget"}'] == 1
    assert during['controller_runtime_max_concurrent_reconciles{controller="widget"}'] == 3
    assert during['workqueue_unfinished_work_seconds{name="widget"}'] > 0
    assert after['controller_runtime_active_workers{controller="widget"}'] == 0
    assert after['workqueue_longest_running_processor_seconds{name="widget"}'] == 0
    assert after['controller_runtime_reconcile_time_seconds_count{controller="widget"}'] >= 1
    assert (
        after['controller_runtime_reconcile_time_seconds_sum{controller="widget"}']
        >= during['workqueue_longest_running_processor_seconds{name="widget"}']
    )
    # client-go's series: one per status code, host and method.
    assert requests[f'rest_client_requests_total{{code="201",host="{host}",method="POST"}}'] >= 1
    assert requests[f'rest_client_requests_total{{code="200",host="{host}",method="PATCH"}}'] >= 1
    assert requests[f'rest_client_requests_total{{code="404",host="{host}",method="GET"}}'] == 1
