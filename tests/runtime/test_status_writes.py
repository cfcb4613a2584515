"""``Run.write_status``: a status made durable mid-run, and the final patch after it."""

from __future__ import annotations

from typing import Any

from shared.api import objects
from shared.kube import client
from shared.runtime import reconciling
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


async def test_riders_go_only_with_a_patch_sent_for_another_change(
    api: client.Client, namespace: str
) -> None:
    created = await api.request(
        "POST", widgets.PATH.format(ns=namespace), body=widgets.manifest("r"), verb="create"
    )
    path = f"{widgets.PATH.format(ns=namespace)}/r/status"
    current = widgets.WidgetStatus.model_validate(created.get("status") or {})
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
