"""The work queue between informers and reconcile workers.

Contract (the same as client-go's rate-limited delaying queue, which Flux uses):

- a key is queued at most once: adding a queued key does nothing;
- a key is never handed to two workers at once: adding a key that a worker is
  processing marks it dirty, and it is queued again when the worker calls
  ``done`` — so no update is lost and no key is reconciled concurrently;
- ``add_after`` delays a key; of several pending delays the earliest wins, and
  an immediate ``add`` supersedes a pending delay;
- ``add_rate_limited`` delays by the key's exponential backoff (750 ms doubling
  to 15 min by default, like Flux's ``--min-retry-delay``/``--max-retry-delay``);
  ``forget`` resets it after a success;
- ``shutdown`` stops handing out keys; ``drain`` waits for the keys being
  processed to be done (graceful shutdown).

Time is the event loop's clock (``loop.time()``), so tests fast-forward it
with a fake-time loop instead of sleeping.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import random
from collections.abc import Hashable
from typing import Generic, TypeVar

Key = TypeVar("Key", bound=Hashable)


class ShutDownError(Exception):
    """The queue was shut down; no more keys will be handed out."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Backoff:
    """Per-key exponential backoff: ``base * 2**failures``, capped at ``cap`` seconds."""

    base: float = 0.75
    cap: float = 900.0

    def delay(self, failures: int) -> float:
        # NB: cap the exponent too; 2**failures overflows a float after ~1000 failures.
        exponent: int = min(failures, 64)
        return min(self.base * float(2**exponent), self.cap)


def jittered(interval: float, *, fraction: float = 0.05, rng: random.Random | None = None) -> float:
    """``interval`` moved by a uniform random amount within ±``fraction`` of it.

    Flux jitters every successful requeue by ±5 % so that objects created
    together do not reconcile in lock-step forever.
    """
    source = rng if rng is not None else random
    return interval * (1.0 + source.uniform(-fraction, fraction))


@dataclasses.dataclass
class QueueStats:
    """Counters a metrics exporter reads (monotonic, never reset)."""

    adds: int = 0
    retries: int = 0


class WorkQueue(Generic[Key]):
    """A de-duplicating, delaying, rate-limited queue of keys (see module docstring)."""

    def __init__(self, *, backoff: Backoff | None = None) -> None:
        self._backoff = backoff if backoff is not None else Backoff()
        self._queue: collections.deque[Key] = collections.deque()
        self._queued: set[Key] = set()
        self._processing: set[Key] = set()
        self._dirty: set[Key] = set()
        self._delayed: dict[Key, asyncio.TimerHandle] = {}
        self._failures: dict[Key, int] = {}
        self._added_at: dict[Key, float] = {}
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._shutting_down = False
        self.stats = QueueStats()

    def __len__(self) -> int:
        """Keys ready to be handed out (not counting delayed or in-process ones)."""
        return len(self._queue)

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    def add(self, key: Key) -> None:
        """Queue ``key`` now (see the module docstring for de-duplication)."""
        if self._shutting_down:
            return
        timer = self._delayed.pop(key, None)
        if timer is not None:
            timer.cancel()
        if key in self._processing:
            self._dirty.add(key)
            return
        if key in self._queued:
            return
        self.stats.adds += 1
        self._queued.add(key)
        self._queue.append(key)
        self._added_at[key] = asyncio.get_running_loop().time()
        self._wakeup.set()

    def add_after(self, key: Key, delay: float) -> None:
        """Queue ``key`` after ``delay`` seconds, unless it is queued sooner."""
        if self._shutting_down:
            return
        if delay <= 0:
            self.add(key)
            return
        if key in self._queued:
            return
        loop = asyncio.get_running_loop()
        when = loop.time() + delay
        pending = self._delayed.get(key)
        if pending is not None:
            if pending.when() <= when:
                return
            pending.cancel()
        self._delayed[key] = loop.call_at(when, self._fire, key)

    def _fire(self, key: Key) -> None:
        self._delayed.pop(key, None)
        self.add(key)

    def add_rate_limited(self, key: Key) -> float:
        """Queue ``key`` after its backoff delay; returns the delay used."""
        failures = self._failures.get(key, 0)
        self._failures[key] = failures + 1
        self.stats.retries += 1
        delay = self._backoff.delay(failures)
        self.add_after(key, delay)
        return delay

    def failures(self, key: Key) -> int:
        return self._failures.get(key, 0)

    def forget(self, key: Key) -> None:
        """Reset the backoff of ``key`` (after a successful reconcile)."""
        self._failures.pop(key, None)

    async def get(self) -> tuple[Key, float]:
        """The next key and how long it waited in the queue (seconds).

        Raises ``ShutDownError`` once the queue is shut down.
        """
        while not self._queue:
            if self._shutting_down:
                raise ShutDownError
            self._wakeup.clear()
            await self._wakeup.wait()
        if self._shutting_down:
            raise ShutDownError
        key = self._queue.popleft()
        self._queued.discard(key)
        self._processing.add(key)
        self._idle.clear()
        waited = asyncio.get_running_loop().time() - self._added_at.pop(key)
        return key, waited

    def done(self, key: Key) -> None:
        """Mark ``key`` processed; re-queue it if it was added meanwhile."""
        self._processing.discard(key)
        if key in self._dirty:
            self._dirty.discard(key)
            self.add(key)
        if not self._processing:
            self._idle.set()

    def shutdown(self) -> None:
        """Stop handing out keys and cancel delayed ones; workers see ``ShutDownError``."""
        self._shutting_down = True
        for timer in self._delayed.values():
            timer.cancel()
        self._delayed.clear()
        self._wakeup.set()

    async def drain(self) -> None:
        """Shut down, then wait until every key being processed is done."""
        self.shutdown()
        await self._idle.wait()
