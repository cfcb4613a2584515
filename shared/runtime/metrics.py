"""Prometheus metrics with the names Flux and controller-runtime expose.

- ``gotk_reconcile_duration_seconds{kind,name,namespace}``: a histogram with
  fluxcd/pkg's buckets (0.01 s to 100 s, factor 10);
- ``controller_runtime_reconcile_total{controller,result}`` with results
  ``success``, ``error``, ``requeue``, ``requeue_after``, and
  ``controller_runtime_reconcile_errors_total{controller}``;
- ``controller_runtime_reconcile_time_seconds{controller}`` (a histogram with
  controller-runtime's buckets), ``controller_runtime_active_workers`` and
  ``controller_runtime_max_concurrent_reconciles`` (gauges by ``controller``);
- ``workqueue_depth``, ``workqueue_adds_total``, ``workqueue_retries_total``,
  ``workqueue_queue_duration_seconds``, ``workqueue_work_duration_seconds``,
  ``workqueue_unfinished_work_seconds`` (the summed age of the reconciles in
  flight) and ``workqueue_longest_running_processor_seconds`` (the oldest one's
  age), labelled by queue ``name`` — what Flux's dashboards read;
- ``rest_client_requests_total{code,host,method}`` and, by Kubernetes verb,
  ``headwater_rest_client_requests_total{verb}`` (``track_requests``).

Metrics live in a ``CollectorRegistry`` owned by the process's ``Metrics``
object (no module-level registry), which ``serve`` exposes on ``/metrics``.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable, Iterable, Iterator

import prometheus_client
import prometheus_client.metrics_core
import prometheus_client.registry
from aiohttp import web

RECONCILE_BUCKETS = (0.01, 0.1, 1.0, 10.0, 100.0)
# controller-runtime's buckets for controller_runtime_reconcile_time_seconds.
RECONCILE_TIME_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8,
    0.9, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5, 6, 7, 8, 9, 10, 15, 20, 25, 30,
    40, 50, 60,
)  # fmt: skip
WORKQUEUE_BUCKETS = tuple(1e-8 * 10**i for i in range(11))


class Metrics:
    """Every collector of one controller process."""

    def __init__(self, *, registry: prometheus_client.CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else prometheus_client.CollectorRegistry()
        self._in_flight: dict[str, Callable[[], Iterable[float]]] = {}
        self.reconcile_time = prometheus_client.Histogram(
            "controller_runtime_reconcile_time_seconds",
            "Length of time per reconciliation per controller.",
            ["controller"],
            buckets=RECONCILE_TIME_BUCKETS,
            registry=self.registry,
        )
        self.active_workers = prometheus_client.Gauge(
            "controller_runtime_active_workers",
            "Number of currently used workers per controller.",
            ["controller"],
            registry=self.registry,
        )
        self.max_concurrent = prometheus_client.Gauge(
            "controller_runtime_max_concurrent_reconciles",
            "Maximum number of concurrent reconciles per controller.",
            ["controller"],
            registry=self.registry,
        )
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
        metrics = self

        class _InFlight(prometheus_client.registry.Collector):
            def collect(self) -> Iterator[prometheus_client.metrics_core.Metric]:
                return metrics._collect_in_flight()

        self.registry.register(_InFlight())

    def track_in_flight(self, name: str, started: Callable[[], Iterable[float]]) -> None:
        """Expose queue ``name``'s reconciles in flight (their ``time.monotonic()`` starts)
        as ``workqueue_unfinished_work_seconds`` and
        ``workqueue_longest_running_processor_seconds``, computed when scraped."""
        self._in_flight[name] = started

    def _collect_in_flight(self) -> Iterator[prometheus_client.metrics_core.Metric]:
        now = time.monotonic()
        unfinished = prometheus_client.metrics_core.GaugeMetricFamily(
            "workqueue_unfinished_work_seconds",
            "How many seconds of work has been done that is in progress and hasn't been "
            "observed by work_duration.",
            labels=["name"],
        )
        longest = prometheus_client.metrics_core.GaugeMetricFamily(
            "workqueue_longest_running_processor_seconds",
            "How many seconds has the longest running processor for workqueue been running.",
            labels=["name"],
        )
        for name, started in sorted(self._in_flight.items()):
            ages = [max(0.0, now - start) for start in started()]
            unfinished.add_metric([name], sum(ages))
            longest.add_metric([name], max(ages, default=0.0))
        yield unfinished
        yield longest

    def track_requests(
        self,
        stats: collections.Counter[str],
        responses: collections.Counter[tuple[str, str, str]],
    ) -> None:
        """Expose an API client's counts: ``rest_client_requests_total{code,host,method}``
        (client-go's series, which Flux's dashboards read) from ``responses``, and
        ``headwater_rest_client_requests_total{verb}`` (requests by Kubernetes verb,
        which the benchmarks read) from ``stats``."""

        class _Requests(prometheus_client.registry.Collector):
            def collect(self) -> Iterator[prometheus_client.metrics_core.Metric]:
                answered = prometheus_client.metrics_core.CounterMetricFamily(
                    "rest_client_requests",
                    "Number of HTTP requests, partitioned by status code, method, and host.",
                    labels=["code", "host", "method"],
                )
                for labels, count in sorted(responses.items()):
                    answered.add_metric(list(labels), count)
                yield answered
                by_verb = prometheus_client.metrics_core.CounterMetricFamily(
                    "headwater_rest_client_requests",
                    "Number of requests to the Kubernetes API, by verb.",
                    labels=["verb"],
                )
                for verb, count in sorted(stats.items()):
                    by_verb.add_metric([verb], count)
                yield by_verb

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
