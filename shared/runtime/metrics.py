"""Prometheus metrics with the names Flux and controller-runtime expose.

- ``gotk_reconcile_duration_seconds{kind,name,namespace}``: a histogram with
  fluxcd/pkg's buckets (0.01 s to 100 s, factor 10);
- ``controller_runtime_reconcile_total{controller,result}`` with results
  ``success``, ``error``, ``requeue``, ``requeue_after``, and
  ``controller_runtime_reconcile_errors_total{controller}``;
- ``workqueue_depth``, ``workqueue_adds_total``, ``workqueue_retries_total``,
  ``workqueue_queue_duration_seconds`` and ``workqueue_work_duration_seconds``,
  labelled by queue ``name``.

Metrics live in a ``CollectorRegistry`` owned by the process's ``Metrics``
object (no module-level registry), which ``serve`` exposes on ``/metrics``.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator

import prometheus_client
import prometheus_client.metrics_core
import prometheus_client.registry
from aiohttp import web

RECONCILE_BUCKETS = (0.01, 0.1, 1.0, 10.0, 100.0)
WORKQUEUE_BUCKETS = tuple(1e-8 * 10**i for i in range(11))


class Metrics:
    """Every collector of one controller process."""

    def __init__(self, *, registry: prometheus_client.CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else prometheus_client.CollectorRegistry()
        self.reconcile_duration = prometheus_client.Histogram(
            "gotk_reconcile_duration_seconds",
            "The duration in seconds of a GitOps Toolkit resource reconciliation.",
            ["kind", "name", "namespace"],
            buckets=RECONCILE_BUCKETS,
            registry=self.registry,
        )
        self.reconcile_total = prometheus_client.Counter(
            "controller_runtime_reconcile_total",
            "Total number of reconciliations per controller.",
            ["controller", "result"],
            registry=self.registry,
        )
        self.reconcile_errors = prometheus_client.Counter(
            "controller_runtime_reconcile_errors_total",
            "Total number of reconciliation errors per controller.",
            ["controller"],
            registry=self.registry,
        )
        self.queue_depth = prometheus_client.Gauge(
            "workqueue_depth", "Current depth of workqueue.", ["name"], registry=self.registry
        )
        self.queue_adds = prometheus_client.Counter(
            "workqueue_adds_total",
            "Total number of adds handled by workqueue.",
            ["name"],
            registry=self.registry,
        )
        self.queue_retries = prometheus_client.Counter(
            "workqueue_retries_total",
            "Total number of retries handled by workqueue.",
            ["name"],
            registry=self.registry,
        )
        self.queue_latency = prometheus_client.Histogram(
            "workqueue_queue_duration_seconds",
            "How long in seconds an item stays in workqueue before being requested.",
            ["name"],
            buckets=WORKQUEUE_BUCKETS,
            registry=self.registry,
        )
        self.work_duration = prometheus_client.Histogram(
            "workqueue_work_duration_seconds",
            "How long in seconds processing an item from workqueue takes.",
            ["name"],
            buckets=WORKQUEUE_BUCKETS,
            registry=self.registry,
        )

    def track_requests(self, stats: collections.Counter[str]) -> None:
        """Expose an API client's request counts as ``rest_client_requests_total{verb}``."""

        class _Requests(prometheus_client.registry.Collector):
            def collect(self) -> Iterator[prometheus_client.metrics_core.Metric]:
                family = prometheus_client.metrics_core.CounterMetricFamily(
                    "rest_client_requests",
                    "Number of requests to the Kubernetes API, by verb.",
                    labels=["verb"],
                )
                for verb, count in sorted(stats.items()):
                    family.add_metric([verb], count)
                yield family

        self.registry.register(_Requests())

    def render(self) -> bytes:
        """The registry in the Prometheus text exposition format."""
        return prometheus_client.generate_latest(self.registry)


def routes(metrics: Metrics) -> list[web.RouteDef]:
    """The ``/metrics`` route, for the metrics listener (``--metrics-addr``)."""

    async def handle(_: web.Request) -> web.Response:
        return web.Response(
            body=metrics.render(),
            headers={"Content-Type": prometheus_client.CONTENT_TYPE_LATEST},
        )

    return [web.get("/metrics", handle)]
