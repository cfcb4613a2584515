"""A local HTTP server standing in for a notification provider, recording what it gets.

``serving()`` runs an aiohttp server on 127.0.0.1 until the block ends. Every
request is recorded as a ``Received`` (method, path with query, headers,
body); ``answers`` (path → statuses, used in order, 200 after them) lets a
test make the provider fail first, ``replies`` (path → JSON) gives the body
of a successful answer (the user, the comments a Git host lists), and
``hold`` makes it keep requests waiting until the event is set (a provider
that hangs).

``deliver`` sends a notification's requests through a real
``delivery.Dispatcher``; ``rebased`` points a request meant for a fixed
public host (Telegram, Bitbucket Cloud) at the local server, keeping its
path, headers and body.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

import multidict
import yarl
from aiohttp import web

from controllers.notification import delivery, notifiers


@dataclasses.dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: Mapping[str, str]
    """Case-insensitive, as HTTP header names are."""
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclasses.dataclass
class Provider:
    url: str
    received: list[Received] = dataclasses.field(default_factory=list)
    answers: dict[str, list[int]] = dataclasses.field(default_factory=dict)
    replies: dict[str, Any] = dataclasses.field(default_factory=dict)
    hold: asyncio.Event | None = None


@contextlib.asynccontextmanager
async def serving() -> AsyncIterator[Provider]:
    """A recording provider on a free port (see the module docstring)."""
    provider = Provider(url="")

    async def handle(request: web.Request) -> web.Response:
        provider.received.append(
            Received(
                method=request.method,
                path=request.path_qs,
                headers=multidict.CIMultiDict(request.headers),
                body=await request.read(),
            )
        )
        if provider.hold is not None:
            await provider.hold.wait()
        statuses = provider.answers.get(request.path)
        status = statuses.pop(0) if statuses else 200
        reply = provider.replies.get(request.path, {"ok": status < 300})
        return web.json_response(reply if status < 300 else {"ok": False}, status=status)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    provider.url = f"http://127.0.0.1:{port}"
    try:
        yield provider
    finally:
        if provider.hold is not None:
            provider.hold.set()
        await runner.cleanup()


def rebased(request: notifiers.Message, base_url: str) -> notifiers.Request:
    """``request`` (an HTTP one) sent to ``base_url``'s scheme, host and port instead."""
    assert isinstance(request, notifiers.Request)
    local = yarl.URL(base_url)
    url = yarl.URL(request.url, encoded=True)
    moved = url.with_scheme(local.scheme).with_host(local.host or "").with_port(local.port)
    return dataclasses.replace(request, url=str(moved))


async def deliver(requests: list[notifiers.Message]) -> None:
    """Send ``requests`` as one job through a ``delivery.Dispatcher``; assert no failure."""
    failures: list[str] = []

    async def on_failure(_: delivery.Job, message: str) -> None:
        failures.append(message)

    dispatcher = delivery.Dispatcher(on_failure=on_failure)
    try:
        assert dispatcher.submit("ns/provider", delivery.Job(requests=requests))
        await dispatcher.drain()
    finally:
        await dispatcher.close()
    assert failures == []
