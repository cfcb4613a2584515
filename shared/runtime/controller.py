"""A controller: an informer's changes → the work queue → N reconcile workers.

Which changes enqueue an object (Flux's predicates): creation; a new
``metadata.generation`` (spec changes); a new
``reconcile.fluxcd.io/requestedAt`` value; a deletion timestamp appearing.
Status-only updates — including the controller's own status patches — do
not, which is what keeps a no-op reconcile at zero API writes.

``watch`` adds secondary triggers: changes of another informer's objects
enqueue the objects a mapping function names (a Kustomization when its
GitRepository's artifact changes).

Each worker takes a key, binds ``controllerKind``/``name``/``namespace``/
``reconcileID`` to the log context, runs the ``Skeleton``, records metrics,
and requeues as the outcome says. A key enqueued again while its reconcile
is in flight (by its own change or a watched one) fires that run's
``reconciling.Interrupt`` with the changed object's ``Kind/namespace/name``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from shared.api import meta
from shared.runtime import informers, logging, metrics, queue, reconciling


def _requested_at(obj: dict[str, Any] | None) -> str | None:
    if obj is None:
        return None
    return (obj.get("metadata", {}).get("annotations") or {}).get(meta.RECONCILE_REQUEST_ANNOTATION)


def needs_reconcile(event_type: str, new: dict[str, Any], old: dict[str, Any] | None) -> bool:
    """Flux's predicates: generation changed, reconcile requested, or deletion started."""
    if event_type == informers.DELETED:
        return False
    if event_type == informers.ADDED or old is None:
        return True
    new_meta, old_meta = new.get("metadata", {}), old.get("metadata", {})
    if new_meta.get("generation") != old_meta.get("generation"):
        return True
    if _requested_at(new) != _requested_at(old):
        return True
    return bool(new_meta.get("deletionTimestamp")) and not old_meta.get("deletionTimestamp")


def _trigger(kind: str, obj: dict[str, Any]) -> str:
    metadata = obj.get("metadata", {})
    return f"{kind}/{metadata.get('namespace', '')}/{metadata.get('name', '')}"


class Controller:
    """Reconciles one kind with ``workers`` concurrent workers."""

    def __init__(
        self,
        *,
        name: str,
        informer: informers.Informer,
        skeleton: reconciling.Skeleton[Any, Any, Any],
        registry: metrics.Metrics,
        workers: int = 4,
        backoff: queue.Backoff | None = None,
    ) -> None:
        self.name = name
        self.informer = informer
        self.queue: queue.WorkQueue[str] = queue.WorkQueue(backoff=backoff)
        self._skeleton = skeleton
        self._metrics = registry
        self._workers = workers
        self._kind = informer.resource.kind
        # key → time.monotonic() when its reconcile started (the in-flight metrics).
        self._in_flight: dict[str, float] = {}
        self._interrupts: dict[str, reconciling.Interrupt] = {}
        registry.max_concurrent.labels(name).set(workers)
        registry.active_workers.labels(name).set(0)
        registry.track_in_flight(name, self._in_flight.values)
        informer.add_handler(self._on_event)

    def _on_event(self, event_type: str, new: dict[str, Any], old: dict[str, Any] | None) -> None:
        if needs_reconcile(event_type, new, old):
            self.enqueue(informers.key_of(new), trigger=_trigger(self._kind, new))

    def enqueue(self, key: str, *, trigger: str = "") -> None:
        """Queue ``key``; if it is being reconciled, fire that run's interrupt with ``trigger``."""
        interrupt = self._interrupts.get(key)
        if interrupt is not None:
            interrupt.fire(trigger)
        self.queue.add(key)
        self._metrics.queue_adds.labels(self.name).inc()
        self._metrics.queue_depth.labels(self.name).set(len(self.queue))

    def watch(
        self,
        other: informers.Informer,
        mapper: Callable[[dict[str, Any]], Iterable[str]],
        *,
        when: Callable[[str, dict[str, Any], dict[str, Any] | None], bool] | None = None,
    ) -> None:
        """Enqueue ``mapper(obj)`` keys when ``other``'s objects change (and ``when`` holds)."""

        def handler(event_type: str, new: dict[str, Any], old: dict[str, Any] | None) -> None:
            if when is None or when(event_type, new, old):
                for key in mapper(new):
                    self.enqueue(key, trigger=_trigger(other.resource.kind, new))

        other.add_handler(handler)

    async def _work(self) -> None:
        while True:
            try:
                key, waited = await self.queue.get()
            except queue.ShutDownError:
                return
            self._metrics.queue_latency.labels(self.name).observe(waited)
            self._metrics.queue_depth.labels(self.name).set(len(self.queue))
            self._in_flight[key] = time.monotonic()
            self._metrics.active_workers.labels(self.name).inc()
            try:
                await self._process(key)
            finally:
                self._metrics.active_workers.labels(self.name).dec()
                del self._in_flight[key]
                self.queue.done(key)

    async def _process(self, key: str) -> None:
        raw = self.informer.get(key)
        if raw is None:
            self.queue.forget(key)
            return
        namespace, _, name = key.rpartition("/")
        started = time.perf_counter()
        with logging.bound(
            controllerKind=self._kind,
            name=name,
            namespace=namespace,
            reconcileID=str(uuid.uuid4()),
        ):
            interrupt = self._interrupts[key] = reconciling.Interrupt()
            try:
                outcome = await self._skeleton.run(raw, interrupt=interrupt)
            except Exception as error:  # never let one object kill a worker
                logging.get_logger().exception("reconcile crashed", error=error)
                self._metrics.reconcile_errors.labels(self.name).inc()
                self._metrics.reconcile_total.labels(self.name, "error").inc()
                self.queue.add_rate_limited(key)
                return
            finally:
                del self._interrupts[key]
        elapsed = time.perf_counter() - started
        self._metrics.reconcile_duration.labels(self._kind, name, namespace).observe(elapsed)
        self._metrics.reconcile_time.labels(self.name).observe(elapsed)
        self._metrics.work_duration.labels(self.name).observe(elapsed)
        decision = outcome.requeue
        if outcome.error is not None:
            self._metrics.reconcile_errors.labels(self.name).inc()
        if decision.rate_limited:
            self._metrics.reconcile_total.labels(self.name, "error").inc()
            self._metrics.queue_retries.labels(self.name).inc()
            self.queue.add_rate_limited(key)
            return
        if decision.forget:
            self.queue.forget(key)
        if decision.after is not None:
            self._metrics.reconcile_total.labels(self.name, "requeue_after").inc()
            self.queue.add_after(key, decision.after)
        else:
            self._metrics.reconcile_total.labels(self.name, "success").inc()

    async def stop(self, *, grace: float = 30.0) -> None:
        """Stop handing out keys and wait (up to ``grace`` seconds) for reconciles in flight."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.queue.drain(), timeout=grace)

    async def run(self) -> None:
        """Wait for the cache, then run the workers until ``stop`` (or cancellation)."""
        await self.informer.wait_synced()
        workers = [asyncio.create_task(self._work()) for _ in range(self._workers)]
        try:
            await asyncio.gather(*workers)
        finally:
            self.queue.shutdown()
            for worker in workers:
                worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
