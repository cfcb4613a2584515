"""The ``gotk_event``/``gotk_receiver`` HTTP metrics, read from the registry after real requests."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import test_utils, web

from controllers.notification import httpmetrics
from shared.runtime import metrics


async def _accept(_: web.Request) -> web.Response:
    return web.Response(status=202, body=b"queued")


async def _missing(_: web.Request) -> web.Response:
    raise web.HTTPNotFound()


@contextlib.asynccontextmanager
async def _serving(recorder: httpmetrics.HttpMetrics) -> AsyncIterator[str]:
    app = web.Application(middlewares=[recorder.middleware()])
    app.router.add_post("/hook/{digest}", _accept)
    app.router.add_get("/hook/{digest}", _missing)
    server = test_utils.TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url(""))
    finally:
        await server.close()


def _value(registry: metrics.Metrics, name: str, labels: dict[str, str]) -> float | None:
    return registry.registry.get_sample_value(name, labels)


async def test_requests_are_counted_by_route_method_and_code() -> None:
    registry = metrics.Metrics()
    recorder = httpmetrics.HttpMetrics(registry, prefix="gotk_receiver", handler="/hook/")
    async with _serving(recorder) as url, aiohttp.ClientSession() as session:
        for _ in range(2):
            async with session.post(f"{url}/hook/abc") as response:
                assert response.status == 202
        async with session.get(f"{url}/hook/abc") as response:
            assert response.status == 404
    accepted = {"service": "", "handler": "/hook/", "method": "POST", "code": "202"}
    assert _value(registry, "gotk_receiver_http_request_duration_seconds_count", accepted) == 2
    assert _value(registry, "gotk_receiver_http_response_size_bytes_sum", accepted) == 12
    refused = {**accepted, "method": "GET", "code": "404"}
    assert _value(registry, "gotk_receiver_http_request_duration_seconds_count", refused) == 1
    inflight = {"service": "", "handler": "/hook/"}
    assert _value(registry, "gotk_receiver_http_requests_inflight", inflight) == 0


async def test_the_path_replaces_the_route_when_exported() -> None:
    registry = metrics.Metrics()
    recorder = httpmetrics.HttpMetrics(registry, prefix="gotk_event", handler="/", export_path=True)
    async with (
        _serving(recorder) as url,
        aiohttp.ClientSession() as session,
        session.post(f"{url}/hook/xyz") as response,
    ):
        assert response.status == 202
    labels = {"service": "", "handler": "/hook/xyz", "method": "POST", "code": "202"}
    assert _value(registry, "gotk_event_http_request_duration_seconds_count", labels) == 1
    assert (
        _value(registry, "gotk_event_http_response_size_bytes_bucket", {**labels, "le": "100.0"})
        == 1
    )
