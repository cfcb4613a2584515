"""Change events: a bounded history plus live subscriptions, per server.

Every committed write is published once as ``Event(type, resource, object)``
with the object's resourceVersion. A watch that starts from version N gets
the retained events after N and then live ones; when N is older than the
oldest retained event the watch is answered with 410 Expired ("too old
resource version"), as the API server does after etcd compaction.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
from typing import Any


@dataclasses.dataclass(frozen=True)
class Event:
    type: str  # ADDED, MODIFIED, DELETED
    resource: str  # storage key of the resource, "<group>/<plural>"
    object: dict[str, Any]
    version: int
    # The object before a MODIFIED change, so selector watches can turn it into
    # ADDED/DELETED when it starts or stops matching.
    old: dict[str, Any] | None = None
    # Encoded watch lines by (type, apiVersion), shared by every watcher of the event.
    lines: dict[tuple[str, str], bytes] = dataclasses.field(
        default_factory=dict, compare=False, repr=False
    )


class TooOldError(Exception):
    """The requested version is older than the retained history."""


class Subscription:
    """A live feed of events for one resource (all namespaces)."""

    def __init__(self, hub: Hub, resource: str) -> None:
        self._hub = hub
        self.resource = resource
        self.queue: asyncio.Queue[Event] = asyncio.Queue()

    def close(self) -> None:
        self._hub.unsubscribe(self)


class Hub:
    """History and fan-out of change events."""

    def __init__(self, *, start_version: int, retain: int = 20000) -> None:
        self._history: collections.deque[Event] = collections.deque(maxlen=retain)
        # Versions at or after this can be replayed from ``_history``.
        self._floor = start_version
        self._subscribers: dict[str, set[Subscription]] = {}

    def publish(self, event: Event) -> None:
        if len(self._history) == self._history.maxlen:
            self._floor = self._history[0].version
        self._history.append(event)
        for subscription in self._subscribers.get(event.resource, ()):
            subscription.queue.put_nowait(event)

    def subscribe(self, resource: str, *, since: int | None) -> tuple[Subscription, list[Event]]:
        """Subscribe; with ``since``, also return the retained events after it.

        Raises ``TooOldError`` when events after ``since`` may have been dropped.
        """
        if since is not None and since < self._floor:
            raise TooOldError(since)
        subscription = Subscription(self, resource)
        self._subscribers.setdefault(resource, set()).add(subscription)
        backlog: list[Event] = []
        if since is not None:
            backlog = [e for e in self._history if e.version > since and e.resource == resource]
        return subscription, backlog

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscribers.get(subscription.resource, set()).discard(subscription)
