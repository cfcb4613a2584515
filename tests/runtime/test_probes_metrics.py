"""/metrics, /healthz and /readyz served over real HTTP on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import test_utils, web

from shared.runtime import metrics, probes


@pytest.fixture
async def served() -> AsyncIterator[tuple[str, metrics.Metrics, probes.Readiness]]:
    registry = metrics.Metrics()
    readiness = probes.Readiness()
    app = web.Application()
    app.add_routes(metrics.routes(registry) + probes.routes(readiness))
    async with test_utils.TestServer(app, host="127.0.0.1") as server:
        yield f"http://127.0.0.1:{server.port}", registry, readiness


async def test_metrics_show_the_reconcile_histogram(
    served: tuple[str, metrics.Metrics, probes.Readiness],
) -> None:
    base, registry, _ = served
    registry.reconcile_duration.labels("GitRepository", "podinfo", "default").observe(0.5)
    registry.reconcile_total.labels("gitrepository", "success").inc()

    async with aiohttp.ClientSession() as session, session.get(f"{base}/metrics") as response:
        text = await response.text()

    assert response.status == 200
    assert (
        'gotk_reconcile_duration_seconds_bucket{kind="GitRepository",le="1.0",'
        'name="podinfo",namespace="default"} 1.0'
    ) in text
    assert (
        'controller_runtime_reconcile_total{controller="gitrepository",result="success"} 1.0'
        in (text)
    )


async def test_readyz_flips_when_checks_pass(
    served: tuple[str, metrics.Metrics, probes.Readiness],
) -> None:
    base, _, readiness = served
    synced = False
    readiness.add("informers", lambda: synced)

    async with aiohttp.ClientSession() as session:
        async with session.get(f"{base}/healthz") as health:
            assert health.status == 200
        async with session.get(f"{base}/readyz") as before:
            assert before.status == 500
            assert "[-]informers failed" in await before.text()
        synced = True
        async with session.get(f"{base}/readyz") as after:
            assert after.status == 200
