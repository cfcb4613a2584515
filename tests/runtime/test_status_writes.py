"""Status writes: ``Run.write_status`` mid-run, riders, and advisory (progress) writes."""

from __future__ import annotations

from typing import Any

import pytest

from shared.api import meta, objects
from shared.kube import client, errors
from shared.runtime import reconciling
from tests.fixtures import devcluster as devcluster_fixtures
from tests.fixtures.polling import eventually
from tests.runtime import widgets
from tests.runtime.conftest import running_manager


class _WritesMidRun(widgets.WidgetReconciler):
    """Writes ``lastHandledReconcileAt`` mid-run, reads the server's copy, then clears it."""

    def __init__(self, api: client.Client) -> None:
        super().__init__()
        self._api = api
        self.mid_run: list[tuple[bool, bool, Any]] = []
        self.steps = (reconciling.Step("write-ahead", self._write_ahead), *self.steps)

    async def _write_ahead(self, run: widgets.WidgetRun) -> None:
        obj = run.obj
        run.status.last_handled_reconcile_at = "written-mid-run"
        sent = await run.write_status()
        repeated = await run.write_status()
        path = f"{widgets.PATH.format(ns=obj.metadata.namespace)}/{obj.metadata.name}"
        server: dict[str, Any] = await self._api.request("GET", path)
        self.mid_run.append((sent, repeated, server["status"].get("lastHandledReconcileAt")))
        run.status.last_handled_reconcile_at = None


async def test_a_mid_run_write_is_on_the_server_and_the_final_patch_follows_it(
    api: client.Client, namespace: str
) -> None:
    reconciler = _WritesMidRun(api)
    path = f"{widgets.PATH.format(ns=namespace)}/w"
    async with running_manager(api, reconciler, namespace=namespace):
        await api.request(
            "POST", widgets.PATH.format(ns=namespace), body=widgets.manifest("w"), verb="create"
        )

        async def ready() -> dict[str, Any] | None:
            obj: dict[str, Any] = await api.request("GET", path)
            conditions = obj.get("status", {}).get("conditions") or []
            return obj if any(c["type"] == "Ready" for c in conditions) else None

        obj = await eventually(ready, message="the widget was never summarized")

    # The first write sent the field, the repeat sent nothing; the server had it
    # before the run ended, and the final patch removed it again.
    assert reconciler.mid_run[0] == (True, False, "written-mid-run")
    assert "lastHandledReconcileAt" not in obj["status"]


async def _created(
    api: client.Client, namespace: str, name: str
) -> tuple[widgets.Widget, str, widgets.WidgetStatus]:
    """A new Widget, the path of its status and the status as created."""
    created = await api.request(
        "POST", widgets.PATH.format(ns=namespace), body=widgets.manifest(name), verb="create"
    )
    path = f"{widgets.PATH.format(ns=namespace)}/{name}/status"
    current = widgets.WidgetStatus.model_validate(created.get("status") or {})
    return widgets.Widget.model_validate(created), path, current


async def test_riders_go_only_with_a_patch_sent_for_another_change(
    api: client.Client, namespace: str
) -> None:
    _, path, current = await _created(api, namespace, "r")
    writer = reconciling.StatusWriter(api=api, path=path, written=objects.dump(current))

    def rider(status: widgets.WidgetStatus) -> None:
        status.observed_generation = 42

    before = current.observed_generation
    assert await writer.write(current, riders=[rider]) is False
    assert current.observed_generation == before

    current.last_handled_reconcile_at = "changed"
    assert await writer.write(current, riders=[rider]) is True
    server: dict[str, Any] = await api.request("GET", path)
    assert server["status"]["lastHandledReconcileAt"] == "changed"
    assert server["status"]["observedGeneration"] == 42


async def test_an_advisory_write_without_a_spare_token_sends_nothing(
    cluster: devcluster_fixtures.Devcluster, api: client.Client, namespace: str
) -> None:
    _, path, current = await _created(api, namespace, "a")
    async with client.connected(kubeconfig=str(cluster.kubeconfig), qps=0.001, burst=2) as busy:
        await busy.request("GET", path)  # below half the burst now
        writer = reconciling.StatusWriter(api=busy, path=path, written=objects.dump(current))
        current.last_handled_reconcile_at = "advisory"

        with pytest.raises(errors.ThrottledError):
            await writer.write(current, advisory=True)
        sent = dict(busy.stats)

    server: dict[str, Any] = await api.request("GET", path)
    assert sent == {"get": 1}
    assert "lastHandledReconcileAt" not in (server.get("status") or {})


async def test_throttled_progress_is_written_once_a_token_is_spare(
    cluster: devcluster_fixtures.Devcluster, api: client.Client, namespace: str
) -> None:
    obj, path, current = await _created(api, namespace, "p")
    async with client.connected(kubeconfig=str(cluster.kubeconfig), qps=2, burst=2) as busy:
        await busy.request("GET", path)  # the bucket refills above half within a second
        writer = reconciling.StatusWriter(api=busy, path=path, written=objects.dump(current))
        tracker = reconciling.ProgressTracker(writer=writer, delay=0.05)
        run = reconciling.Run(obj=obj, status=current, tracker=tracker)
        run.progress("Running health checks", restart=False)

        async def written() -> dict[str, Any] | None:
            server: dict[str, Any] = await api.request("GET", path)
            found = [
                c for c in (server.get("status") or {}).get("conditions") or []
                if c["type"] == meta.RECONCILING
            ]  # fmt: skip
            return found[0] if found else None

        reconciling_condition = await eventually(written, message="progress never written")
        await tracker.stop()

    assert reconciling_condition["message"] == "Running health checks"
    assert (tracker.writes, busy.stats["patch"]) == (1, 1)
