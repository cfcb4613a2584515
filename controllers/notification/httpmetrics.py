"""HTTP server metrics of the event intake and the webhook receiver, named as Flux names them.

Flux measures both servers with go-http-metrics' Prometheus recorder under the
prefixes ``gotk_event`` and ``gotk_receiver``. ``HttpMetrics(metrics, prefix)``
registers the same three collectors in the process's registry:

- ``<prefix>_http_request_duration_seconds{service,handler,method,code}``: a
  histogram with Prometheus' default buckets (5 ms to 10 s);
- ``<prefix>_http_response_size_bytes{service,handler,method,code}``: a
  histogram with buckets from 100 B by tens to 1 GB;
- ``<prefix>_http_requests_inflight{service,handler}``: a gauge.

``service`` is empty, as Flux leaves it. ``handler`` is the route (``/`` for
events, ``/hook/`` for webhooks), or the request's own path with
``--export-http-path-metrics`` (Flux's flag; a path per Receiver makes one
series each, hence off by default). ``middleware()`` records every request,
answers raised as ``web.HTTPException`` included.
"""

from __future__ import annotations

import time
from typing import Any

import prometheus_client
from aiohttp import typedefs, web

from shared.runtime import metrics

SIZE_BUCKETS = tuple(100.0 * 10**i for i in range(8))
SERVICE = ""


class HttpMetrics:
    """One server's collectors (see the module docstring)."""

    def __init__(
        self, registry: metrics.Metrics, *, prefix: str, handler: str, export_path: bool = False
    ) -> None:
        self._handler = handler
        self._export_path = export_path
        # NB: ``labels()`` costs more than the observation; the event intake
        # records thousands of requests a second, so the children are kept.
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._inflight: dict[str, Any] = {}
        labels = ["service", "handler", "method", "code"]
        self.duration = prometheus_client.Histogram(
            "http_request_duration_seconds",
            "The latency of the HTTP requests.",
            labels,
            namespace=prefix,
            registry=registry.registry,
        )
        self.size = prometheus_client.Histogram(
            "http_response_size_bytes",
            "The size of the HTTP responses.",
            labels,
            namespace=prefix,
            buckets=SIZE_BUCKETS,
            registry=registry.registry,
        )
        self.inflight = prometheus_client.Gauge(
            "http_requests_inflight",
            "The number of inflight requests being handled at the same time.",
            ["service", "handler"],
            namespace=prefix,
            registry=registry.registry,
        )

    def middleware(self) -> typedefs.Middleware:
        """An aiohttp middleware recording every request of its application."""

        @web.middleware
        async def record(request: web.Request, handler: typedefs.Handler) -> web.StreamResponse:
            route = request.path if self._export_path else self._handler
            inflight = self._inflight.get(route)
            if inflight is None:
                inflight = self._inflight[route] = self.inflight.labels(SERVICE, route)
            inflight.inc()
            started = time.perf_counter()
            status, size = 500, 0
            try:
                response = await handler(request)
                status = response.status
                # NB: the response is written after the middlewares return.
                body = response.body if isinstance(response, web.Response) else None
                size = len(body) if isinstance(body, bytes) else response.body_length
                return response
            except web.HTTPException as answer:
                status, size = answer.status, len(answer.text or "")
                raise
            finally:
                inflight.dec()
                key = (route, request.method, status)
                children = self._children.get(key)
                if children is None:
                    labels = (SERVICE, route, request.method, str(status))
                    children = (self.duration.labels(*labels), self.size.labels(*labels))
                    self._children[key] = children
                children[0].observe(time.perf_counter() - started)
                children[1].observe(size)

        return record
