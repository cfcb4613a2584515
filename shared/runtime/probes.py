"""Liveness and readiness probes (``--health-addr``): ``/healthz`` and ``/readyz``.

``/healthz`` answers 200 while the process serves at all. ``/readyz`` answers
200 only when every registered readiness check passes (caches synced, leader
election settled), else 500 naming the checks that fail — as controller-runtime
reports them.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web


class Readiness:
    """Named readiness checks; ``/readyz`` is ready when all return True."""

    def __init__(self) -> None:
        self._checks: dict[str, Callable[[], bool]] = {}

    def add(self, name: str, check: Callable[[], bool]) -> None:
        self._checks[name] = check

    def failing(self) -> list[str]:
        return [name for name, check in self._checks.items() if not check()]


def routes(readiness: Readiness) -> list[web.RouteDef]:
    """The probe routes, for the health listener."""

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def readyz(_: web.Request) -> web.Response:
        failing = readiness.failing()
        if failing:
            text = "".join(f"[-]{name} failed\n" for name in failing) + "readyz check failed\n"
            return web.Response(status=500, text=text)
        return web.Response(text="ok")

    return [web.get("/healthz", healthz), web.get("/readyz", readyz)]
