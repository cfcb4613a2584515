"""The runtime under load, across an API server restart, and with leader election."""

from __future__ import annotations

import asyncio
import json
import pathlib
from typing import Any

import pytest

from shared.api import crdgen, meta
from shared.kube import client
from shared.runtime import leaderelection
from tests.fixtures import devcluster as devcluster_fixtures
from tests.fixtures.polling import eventually
from tests.runtime import widgets
from tests.runtime.conftest import running_manager


async def _ready_count(api: client.Client, namespace: str) -> int:
    listing = await api.request("GET", widgets.PATH.format(ns=namespace))
    ready = 0
    for item in listing["items"]:
        for condition in item.get("status", {}).get("conditions", []):
            if condition["type"] == meta.READY and condition["status"] == "True":
                ready += 1
    return ready


@pytest.mark.slow
async def test_thousand_objects_eight_workers_no_key_twice_at_once(
    cluster: devcluster_fixtures.Devcluster, namespace: str
) -> None:
    reconciler = widgets.WidgetReconciler(delay=0.001)
    path = widgets.PATH.format(ns=namespace)
    # NB: no client-side rate limit here: the test is about the queue and the
    # workers, and 3,000 writes at Flux's 50 QPS would take a minute.
    async with (
        client.connected(kubeconfig=str(cluster.kubeconfig), qps=0) as api,
        running_manager(api, reconciler, namespace=namespace, concurrent=8),
    ):
        for start in range(0, 1000, 50):
            await asyncio.gather(
                *(
                    api.request("POST", path, body=widgets.manifest(f"w{i}"), verb="create")
                    for i in range(start, start + 50)
                )
            )
        await eventually(
            lambda: _all_ready(api, namespace, 1000),
            within=240,
            interval=1.0,
            message="not all 1000 widgets became Ready",
        )

    assert reconciler.overlaps == []
    assert len(reconciler.reconciles) == 1000


async def _all_ready(api: client.Client, namespace: str, want: int) -> bool:
    return await _ready_count(api, namespace) == want


@pytest.fixture
def persistent_cluster(tmp_path: pathlib.Path) -> tuple[pathlib.Path, int]:
    """A data directory and port for a devcluster the test restarts itself."""
    return tmp_path, devcluster_fixtures.free_port()


@pytest.mark.slow
async def test_informers_resume_after_api_server_restart(
    persistent_cluster: tuple[pathlib.Path, int],
) -> None:
    directory, port = persistent_cluster
    data = directory / "data"
    reconciler = widgets.WidgetReconciler()
    first = devcluster_fixtures.start_devcluster(directory / "a", data_dir=data, port=port)
    cluster = first.__enter__()
    try:
        cluster.kubectl(
            "apply", "--server-side", "-f", "-", input=json.dumps(crdgen.crd_for(widgets.Widget))
        )
        cluster.kubectl("wait", "--for=condition=Established", "crd/widgets.test.headwater.dev")
        cluster.kubectl("create", "namespace", "restart")
        async with client.connected(kubeconfig=str(cluster.kubeconfig)) as api:
            path = widgets.PATH.format(ns="restart")
            async with running_manager(api, reconciler, namespace="restart"):
                await api.request("POST", path, body=widgets.manifest("before"))
                await eventually(lambda: reconciler.reconciles["restart/before"] >= 1)

                first.__exit__(None, None, None)
                second = devcluster_fixtures.start_devcluster(
                    directory / "b", data_dir=data, port=port
                )
                cluster = second.__enter__()
                first = second
                await api.request("POST", path, body=widgets.manifest("after"))
                await api.request(
                    "PATCH",
                    f"{path}/before",
                    body={"spec": {"message": "changed while away"}},
                    content_type=client.MERGE_PATCH,
                )

                await eventually(
                    lambda: reconciler.reconciles["restart/after"] >= 1,
                    within=60,
                    message="object created after the restart never reconciled",
                )
                await eventually(
                    lambda: reconciler.reconciles["restart/before"] >= 2,
                    within=60,
                    message="update after the restart was lost",
                )
    finally:
        first.__exit__(None, None, None)


async def _noop_release() -> None:
    """Stands in for a crashed leader, which never releases its lease."""


@pytest.mark.slow
async def test_only_the_leader_reconciles_and_a_dead_leader_is_replaced(
    api: client.Client, namespace: str
) -> None:
    settings: dict[str, Any] = {
        "enable_leader_election": True,
        "leader_election_namespace": namespace,
        "leader_election_lease_duration": 3.0,
        "leader_election_renew_deadline": 2.0,
        "leader_election_retry_period": 0.3,
    }
    one, two = widgets.WidgetReconciler(), widgets.WidgetReconciler()
    async with running_manager(api, one, namespace=namespace, **settings) as first:
        await eventually(lambda: first.elector is not None and first.elector.leading.is_set())
        async with running_manager(api, two, namespace=namespace, **settings) as second:
            await api.request("POST", widgets.PATH.format(ns=namespace), body=widgets.manifest("x"))
            await eventually(lambda: one.reconciles[f"{namespace}/x"] >= 1)
            assert second.elector is not None
            assert not second.elector.leading.is_set()
            assert sum(two.reconciles.values()) == 0

            loop = asyncio.get_running_loop()
            assert first.elector is not None
            first.elector.release = _noop_release  # type: ignore[method-assign]
            first.stop()
            stopped_at = loop.time()
            await eventually(
                lambda: second.elector is not None and second.elector.leading.is_set(),
                within=10,
                message="the standby never took over",
            )
            handover = loop.time() - stopped_at
            await api.request(
                "PATCH",
                f"{widgets.PATH.format(ns=namespace)}/x",
                body={"spec": {"message": "new leader"}},
                content_type=client.MERGE_PATCH,
            )
            await eventually(lambda: two.reconciles[f"{namespace}/x"] >= 1)

    assert handover <= 3.0 + 2 * 0.3


async def test_stopping_leader_releases_the_lease(api: client.Client, namespace: str) -> None:
    config = leaderelection.LeaseConfig(
        namespace=namespace, name="lock", identity="a", lease_duration=30, retry_period=0.2
    )
    elector = leaderelection.LeaderElector(api=api, config=config)
    task = asyncio.create_task(elector.run())
    await eventually(lambda: elector.leading.is_set())
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)

    lease = await api.request(
        "GET", f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/lock"
    )
    assert lease["spec"]["holderIdentity"] in ("", None)
    other = leaderelection.LeaderElector(
        api=api,
        config=leaderelection.LeaseConfig(
            namespace=namespace, name="lock", identity="b", retry_period=0.2
        ),
    )
    contender = asyncio.create_task(other.run())
    try:
        await eventually(lambda: other.leading.is_set(), within=5, message="no immediate handover")
    finally:
        contender.cancel()
        await asyncio.gather(contender, return_exceptions=True)


async def test_the_leader_renews_without_reading_the_lease(
    api: client.Client, namespace: str
) -> None:
    config = leaderelection.LeaseConfig(
        namespace=namespace, name="renewals", identity="a", retry_period=0.05
    )
    elector = leaderelection.LeaderElector(api=api, config=config)
    task = asyncio.create_task(elector.run())
    try:
        await eventually(lambda: elector.leading.is_set())
        gets, updates = api.stats["get"], api.stats["update"]
        await eventually(lambda: api.stats["update"] >= updates + 3, message="no renewals")

        assert api.stats["get"] == gets
        assert elector.leading.is_set()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
