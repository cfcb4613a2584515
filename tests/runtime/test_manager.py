"""The runtime end to end against a devcluster, with the test-only Widget reconciler."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from aiohttp import test_utils

from shared.api import meta
from shared.kube import client, errors
from shared.runtime import manager, reconciling
from tests.fixtures.polling import eventually
from tests.runtime import widgets
from tests.runtime.conftest import manager_options, running_manager


async def _create(api: client.Client, namespace: str, name: str, **spec: Any) -> dict[str, Any]:
    body = widgets.manifest(name, **spec)
    created: dict[str, Any] = await api.request(
        "POST", widgets.PATH.format(ns=namespace), body=body, verb="create"
    )
    return created


async def _get(api: client.Client, namespace: str, name: str) -> dict[str, Any]:
    got: dict[str, Any] = await api.request("GET", f"{widgets.PATH.format(ns=namespace)}/{name}")
    return got


async def _merge(api: client.Client, namespace: str, name: str, patch: dict[str, Any]) -> None:
    await api.request(
        "PATCH",
        f"{widgets.PATH.format(ns=namespace)}/{name}",
        body=patch,
        content_type=client.MERGE_PATCH,
    )


def _ready(obj: dict[str, Any]) -> dict[str, Any] | None:
    for condition in obj.get("status", {}).get("conditions", []):
        if condition["type"] == meta.READY:
            return dict(condition)
    return None


async def test_create_reconciles_adds_finalizer_and_reports_ready(
    api: client.Client, namespace: str
) -> None:
    reconciler = widgets.WidgetReconciler()
    async with running_manager(api, reconciler, namespace=namespace):
        await _create(api, namespace, "a", message="all good")

        obj = await eventually(
            lambda: _ready_widget(api, namespace, "a"), message="widget never became Ready"
        )

    assert obj["metadata"]["finalizers"] == [meta.FINALIZER]
    ready = _ready(obj)
    assert ready is not None
    assert (ready["status"], ready["reason"], ready["message"]) == ("True", "Succeeded", "all good")
    assert obj["status"]["observedGeneration"] == obj["metadata"]["generation"]


class _OwnsSomething(widgets.WidgetReconciler):
    """A Widget with message "owns" writes its status, then asks for the finalizer."""

    def __init__(self) -> None:
        super().__init__()
        self.steps = (reconciling.Step("own", self._own), *self.steps)

    async def _own(self, run: widgets.WidgetRun) -> None:
        if run.obj.spec.message == "owns":
            # NB: a status write first moves the resourceVersion the finalizer
            # patch's precondition must carry.
            run.status.last_handled_reconcile_at = "before-the-finalizer"
            await run.write_status()
            await run.add_finalizer()
            await run.add_finalizer()


async def test_a_lazy_finalizer_is_added_only_when_a_step_asks_for_it(
    api: client.Client, namespace: str
) -> None:
    reconciler = _OwnsSomething()
    async with running_manager(api, reconciler, namespace=namespace, lazy_finalizer=True):
        patches = api.stats["patch"]
        await _create(api, namespace, "plain", message="all good")
        plain = await eventually(lambda: _ready_widget(api, namespace, "plain"))
        plain_patches = api.stats["patch"] - patches
        await _create(api, namespace, "owner", message="owns")
        owner = await eventually(lambda: _ready_widget(api, namespace, "owner"))

        await api.request("DELETE", f"{widgets.PATH.format(ns=namespace)}/owner")
        await eventually(lambda: f"{namespace}/owner" in reconciler.finalized)

    assert "finalizers" not in plain["metadata"]
    assert plain_patches == 1  # the final status only
    assert owner["metadata"]["finalizers"] == [meta.FINALIZER]


class _WaitsForANewRequest(widgets.WidgetReconciler):
    """A Widget with message "wait" waits until its run is interrupted; records the trigger."""

    def __init__(self) -> None:
        super().__init__()
        self.started = asyncio.Event()
        self.triggers: list[str] = []
        self.steps = (reconciling.Step("wait", self._wait), *self.steps)

    async def _wait(self, run: widgets.WidgetRun) -> None:
        if run.obj.spec.message == "wait":
            self.started.set()
            self.triggers.append(await asyncio.wait_for(run.interrupt.wait(), timeout=30))


async def test_a_key_enqueued_during_its_reconcile_interrupts_the_run(
    api: client.Client, namespace: str
) -> None:
    reconciler = _WaitsForANewRequest()
    async with running_manager(api, reconciler, namespace=namespace):
        await _create(api, namespace, "w", message="wait")
        await asyncio.wait_for(reconciler.started.wait(), timeout=30)
        await _merge(api, namespace, "w", {"spec": {"message": "done"}})
        await eventually(lambda: _message_is(api, namespace, "w", "done"))

    assert reconciler.triggers == [f"Widget/{namespace}/w"]


async def _ready_widget(api: client.Client, namespace: str, name: str) -> dict[str, Any] | None:
    obj = await _get(api, namespace, name)
    ready = _ready(obj)
    return obj if ready is not None and ready["status"] == "True" else None


async def test_update_is_seen_and_delete_runs_finalize(api: client.Client, namespace: str) -> None:
    reconciler = widgets.WidgetReconciler()
    async with running_manager(api, reconciler, namespace=namespace):
        await _create(api, namespace, "b")
        await eventually(lambda: _ready_widget(api, namespace, "b"))
        await _merge(api, namespace, "b", {"spec": {"message": "second"}})
        await eventually(
            lambda: _message_is(api, namespace, "b", "second"), message="update not reconciled"
        )

        await api.request("DELETE", f"{widgets.PATH.format(ns=namespace)}/b")

        await eventually(lambda: f"{namespace}/b" in reconciler.finalized)
        await eventually(lambda: _gone(api, namespace, "b"), message="finalizer not removed")
    assert reconciler.reconciles[f"{namespace}/b"] >= 2


async def _message_is(api: client.Client, namespace: str, name: str, message: str) -> bool:
    ready = _ready(await _get(api, namespace, name))
    return ready is not None and ready["message"] == message


async def _gone(api: client.Client, namespace: str, name: str) -> bool:
    try:
        await _get(api, namespace, name)
    except errors.NotFoundError:
        return True
    return False


async def test_suspended_object_is_not_reconciled(api: client.Client, namespace: str) -> None:
    reconciler = widgets.WidgetReconciler()
    async with running_manager(api, reconciler, namespace=namespace) as mgr:
        await _create(api, namespace, "s", suspend=True)
        await eventually(lambda: _has_finalizer(api, namespace, "s"))
        await eventually(lambda: len(mgr.controllers[0].queue) == 0)

        assert reconciler.reconciles[f"{namespace}/s"] == 0
        await _merge(api, namespace, "s", {"spec": {"suspend": None}})
        await eventually(lambda: _ready_widget(api, namespace, "s"), message="resume ignored")


async def _has_finalizer(api: client.Client, namespace: str, name: str) -> bool:
    obj = await _get(api, namespace, name)
    return meta.FINALIZER in (obj["metadata"].get("finalizers") or [])


async def test_requested_at_triggers_a_reconcile_and_is_echoed(
    api: client.Client, namespace: str
) -> None:
    reconciler = widgets.WidgetReconciler()
    async with running_manager(api, reconciler, namespace=namespace):
        await _create(api, namespace, "r")
        await eventually(lambda: _ready_widget(api, namespace, "r"))
        before = reconciler.reconciles[f"{namespace}/r"]

        token = "2026-11-28T06:00:00Z"
        await _merge(
            api,
            namespace,
            "r",
            {"metadata": {"annotations": {meta.RECONCILE_REQUEST_ANNOTATION: token}}},
        )

        obj = await eventually(lambda: _handled(api, namespace, "r", token))
    assert reconciler.reconciles[f"{namespace}/r"] == before + 1
    assert obj["status"]["lastHandledReconcileAt"] == token


async def _handled(
    api: client.Client, namespace: str, name: str, token: str
) -> dict[str, Any] | None:
    obj = await _get(api, namespace, name)
    return obj if obj.get("status", {}).get("lastHandledReconcileAt") == token else None


async def test_errors_set_ready_false_and_stalled(api: client.Client, namespace: str) -> None:
    reconciler = widgets.WidgetReconciler()
    async with running_manager(api, reconciler, namespace=namespace):
        await _create(api, namespace, "stall", fail="stall")
        await _create(api, namespace, "retry", fail="retry")

        stalled = await eventually(lambda: _condition(api, namespace, "stall", meta.STALLED))
        retrying = await eventually(lambda: _condition(api, namespace, "retry", meta.RECONCILING))

    assert (stalled["reason"], stalled["message"]) == ("WidgetBroken", "widget cannot work")
    assert retrying["reason"] == meta.PROGRESSING_WITH_RETRY_REASON
    for name, reason in (("stall", "WidgetBroken"), ("retry", "WidgetFailed")):
        ready = _ready(await _get(api, namespace, name))
        assert ready is not None
        assert (ready["status"], ready["reason"]) == ("False", reason)


async def _condition(
    api: client.Client, namespace: str, name: str, type_: str
) -> dict[str, Any] | None:
    obj = await _get(api, namespace, name)
    for condition in obj.get("status", {}).get("conditions", []):
        if condition["type"] == type_:
            return dict(condition)
    return None


async def test_noop_reconcile_writes_nothing(api: client.Client, namespace: str) -> None:
    reconciler = widgets.WidgetReconciler()
    async with running_manager(api, reconciler, namespace=namespace):
        await _create(api, namespace, "n", interval="1s")
        await eventually(lambda: _ready_widget(api, namespace, "n"))
        await eventually(lambda: reconciler.reconciles[f"{namespace}/n"] >= 2)
        writes_before = _writes(api)
        reads_before = api.stats["get"] + api.stats["list"]
        count_before = reconciler.reconciles[f"{namespace}/n"]

        await eventually(
            lambda: reconciler.reconciles[f"{namespace}/n"] >= count_before + 3,
            message="interval requeues did not happen",
        )

        assert _writes(api) == writes_before
        assert api.stats["get"] + api.stats["list"] == reads_before


def _writes(api: client.Client) -> int:
    return sum(api.stats[verb] for verb in ("create", "update", "patch", "delete"))


async def test_events_recorded_and_posted_in_flux_format(
    api: client.Client, namespace: str
) -> None:
    received: list[dict[str, Any]] = []
    app = aiohttp.web.Application()

    async def sink(request: aiohttp.web.Request) -> aiohttp.web.Response:
        received.append(await request.json())
        return aiohttp.web.Response(status=202)

    app.router.add_post("/", sink)
    async with test_utils.TestServer(app, host="127.0.0.1") as server:
        reconciler = widgets.WidgetReconciler()
        async with running_manager(
            api, reconciler, namespace=namespace, events_addr=f"http://127.0.0.1:{server.port}/"
        ):
            await _create(api, namespace, "e", fail="retry")
            await eventually(lambda: received, message="no event posted")
            events = await eventually(lambda: _events(api, namespace), message="no Event")

    body = received[0]
    assert body["involvedObject"]["kind"] == "Widget"
    assert body["involvedObject"]["name"] == "e"
    assert body["involvedObject"]["apiVersion"] == "test.headwater.dev/v1"
    assert (body["severity"], body["reason"]) == ("error", "WidgetFailed")
    assert body["reportingController"] == "widget-controller"
    assert body["timestamp"].endswith("Z")
    event = events[0]
    assert (event["type"], event["reason"], event["message"]) == (
        "Warning",
        "WidgetFailed",
        "widget failed",
    )
    assert event["involvedObject"]["name"] == "e"


async def _events(api: client.Client, namespace: str) -> list[dict[str, Any]]:
    listing = await api.request("GET", f"/api/v1/namespaces/{namespace}/events")
    return list(listing.get("items", []))


async def test_metrics_and_readiness(api: client.Client, namespace: str) -> None:
    reconciler = widgets.WidgetReconciler()
    async with running_manager(api, reconciler, namespace=namespace) as mgr:
        await _create(api, namespace, "m")
        await eventually(lambda: _ready_widget(api, namespace, "m"))
        health = mgr.options.health_addr
        metrics_addr = mgr.options.metrics_addr
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://{health}/readyz") as ready:
                assert ready.status == 200
            async with session.get(f"http://{metrics_addr}/metrics") as response:
                text = await response.text()

    assert 'gotk_reconcile_duration_seconds_count{kind="Widget",name="m"' in text
    assert 'workqueue_adds_total{name="widget"}' in text


async def test_concurrent_first_uses_of_a_kind_share_one_informer(api: client.Client) -> None:
    # Two reconciles meeting a kind at once (apply_all's gather) must not start
    # two LIST+WATCH loops for it.
    mgr = manager.Manager(name="informer-sharing", opts=manager_options(), api=api)

    first, second = await asyncio.gather(
        mgr.informer("v1", "ConfigMap"), mgr.informer("v1", "ConfigMap")
    )

    assert first is second
