"""Events: Kubernetes Events plus Flux's event JSON for the notification-controller.

``Recorder.emit`` records one event about an object in two places, as
fluxcd/pkg's recorder does:

- a ``core/v1`` Event in the object's namespace. Repeats of the same event
  (object, type, reason, message) are aggregated the way client-go's
  correlator does: the existing Event's ``count`` and ``lastTimestamp`` are
  patched instead of a new Event being created;
- the Flux event JSON POSTed to ``--events-addr`` (when set): severity
  ``info`` or ``error`` (Warning), metadata keys prefixed with the emitter's
  API group, plus the object's ``event.toolkit.fluxcd.io/*`` annotations.
  5xx answers and connection errors are retried (5 s per try, 4 retries);
  429 means "duplicate" and is not retried. ``Trace`` events are recorded
  only as Normal Kubernetes Events and never POSTed.

Recording is side work: a failure is logged and never fails the reconcile.
POSTs run in background tasks so a slow notification-controller does not slow
reconciles; ``close`` waits for them.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import json
import time
from typing import Any

import aiohttp

from shared.api import meta
from shared.kube import client, errors, resources
from shared.runtime import conditions, logging

NORMAL = "Normal"
WARNING = "Warning"
TRACE = "Trace"

_POST_RETRIES = 4
_POST_TIMEOUT = 5.0
_CACHE_SIZE = 4096


@dataclasses.dataclass(slots=True)
class _Aggregate:
    name: str
    namespace: str
    count: int


def involved_object(obj: dict[str, Any]) -> dict[str, str]:
    """The ``ObjectReference`` of ``obj`` as events carry it."""
    metadata = obj.get("metadata", {})
    reference = {
        "kind": obj.get("kind", ""),
        "namespace": metadata.get("namespace", ""),
        "name": metadata.get("name", ""),
        "uid": metadata.get("uid", ""),
        "apiVersion": obj.get("apiVersion", ""),
        "resourceVersion": metadata.get("resourceVersion", ""),
    }
    return {key: value for key, value in reference.items() if value}


def flux_event(
    obj: dict[str, Any],
    *,
    severity: str,
    reason: str,
    message: str,
    metadata: dict[str, str] | None,
    controller: str,
    instance: str,
    timestamp: str,
) -> dict[str, Any]:
    """The event JSON body Flux controllers POST to the notification-controller.

    ``metadata`` keys are prefixed with the object's API group; the object's
    ``event.toolkit.fluxcd.io/*`` annotations are added as they are.
    """
    group = str(obj.get("apiVersion", "")).rpartition("/")[0]
    merged = {f"{group}/{key}": value for key, value in (metadata or {}).items()}
    for key, value in (obj.get("metadata", {}).get("annotations") or {}).items():
        if key.startswith(meta.EVENT_METADATA_PREFIX):
            merged[key] = value
    body: dict[str, Any] = {
        "involvedObject": involved_object(obj),
        "severity": severity,
        "timestamp": timestamp,
        "message": message,
        "reason": reason,
        "reportingController": controller,
    }
    if merged:
        body["metadata"] = merged
    if instance:
        body["reportingInstance"] = instance
    return body


class Recorder:
    """Records events for one controller (see the module docstring)."""

    def __init__(
        self,
        *,
        api: client.Client,
        controller: str,
        instance: str = "",
        events_addr: str | None = None,
        retry_wait: float = 1.0,
    ) -> None:
        self._api = api
        self._controller = controller
        self._instance = instance
        self._events_addr = events_addr
        self._retry_wait = retry_wait
        self._session: aiohttp.ClientSession | None = None
        self._pending: set[asyncio.Task[None]] = set()
        self._aggregates: collections.OrderedDict[tuple[str, ...], _Aggregate] = (
            collections.OrderedDict()
        )
        self._log = logging.get_logger(component="events")

    async def emit(
        self,
        obj: dict[str, Any],
        *,
        type_: str,
        reason: str,
        message: str,
        metadata: dict[str, str] | None = None,
    ) -> None:
        """Record an event about ``obj`` (never raises)."""
        timestamp = conditions.now()
        try:
            await self._record_kubernetes_event(
                obj,
                type_=NORMAL if type_ == TRACE else type_,
                reason=reason,
                message=message,
                timestamp=timestamp,
                annotations=metadata,
            )
        except errors.KubeError as error:
            self._log.error("unable to record event", error=error, reason=reason)
        if type_ == TRACE or not self._events_addr:
            return
        body = flux_event(
            obj,
            severity="error" if type_ == WARNING else "info",
            reason=reason,
            message=message,
            metadata=metadata,
            controller=self._controller,
            instance=self._instance,
            timestamp=timestamp,
        )
        task = asyncio.create_task(self._post(body))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _record_kubernetes_event(
        self,
        obj: dict[str, Any],
        *,
        type_: str,
        reason: str,
        message: str,
        timestamp: str,
        annotations: dict[str, str] | None,
    ) -> None:
        reference = involved_object(obj)
        namespace = reference.get("namespace") or "default"
        key = (
            reference.get("uid", ""),
            reference.get("name", ""),
            namespace,
            type_,
            reason,
            message,
        )
        aggregate = self._aggregates.get(key)
        if aggregate is not None:
            aggregate.count += 1
            self._aggregates.move_to_end(key)
            try:
                await self._api.request(
                    "PATCH",
                    resources.EVENTS.path(namespace=namespace, name=aggregate.name),
                    body={"count": aggregate.count, "lastTimestamp": timestamp},
                    content_type=client.MERGE_PATCH,
                    verb="patch",
                )
                return
            except errors.NotFoundError:
                del self._aggregates[key]  # expired by the API server: record anew
        name = f"{reference.get('name', 'object')}.{time.time_ns():x}"
        event: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": reference,
            "reason": reason,
            "message": message,
            "type": type_,
            "count": 1,
            "firstTimestamp": timestamp,
            "lastTimestamp": timestamp,
            "source": {"component": self._controller},
            "reportingComponent": self._controller,
            "reportingInstance": self._instance,
        }
        if annotations:
            event["metadata"]["annotations"] = dict(annotations)
        await self._api.request(
            "POST", resources.EVENTS.path(namespace=namespace), body=event, verb="create"
        )
        self._aggregates[key] = _Aggregate(name=name, namespace=namespace, count=1)
        while len(self._aggregates) > _CACHE_SIZE:
            self._aggregates.popitem(last=False)

    async def _post(self, body: dict[str, Any]) -> None:
        assert self._events_addr is not None
        if self._session is None:
            self._session = aiohttp.ClientSession()
        payload = json.dumps(body)
        for attempt in range(_POST_RETRIES + 1):
            try:
                async with self._session.post(
                    self._events_addr,
                    data=payload,
                    headers={"Content-Type": "application/json"},
                    timeout=aiohttp.ClientTimeout(total=_POST_TIMEOUT),
                ) as response:
                    if response.status < 300 or response.status == 429:
                        return  # 429: the notification-controller saw it already
                    if response.status < 500:
                        self._log.error(
                            "event rejected by the notification-controller",
                            status=response.status,
                            reason=body["reason"],
                        )
                        return
            except (aiohttp.ClientError, TimeoutError, OSError) as error:
                if attempt == _POST_RETRIES:
                    self._log.error("unable to post event", error=error, reason=body["reason"])
                    return
            else:
                if attempt == _POST_RETRIES:
                    self._log.error("unable to post event", status=response.status)
                    return
            await asyncio.sleep(self._retry_wait * 2**attempt)

    async def close(self) -> None:
        """Wait for pending POSTs, then close the HTTP session."""
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
