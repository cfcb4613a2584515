"""A chart layer kept, inflated and written in threads while it downloads.

``Inflating(limits, finish, sink)`` is an async context manager around a
download: the event loop ``feed``\\s each chunk as it arrives; the chunks are
inflated (``charts.Inflater``, bounded by ``limits``) and given to ``sink``
(for example a staged storage file) in a worker thread. ISA-L releases the
GIL while it inflates, so the loop keeps receiving (and hashing) the layer
meanwhile: a download costs little more than its inflating alone.

Contract:

- a worker runs only while chunks wait (it drains them and returns), so a
  slow or stalled download holds no thread of the default executor;
- a chunk the worker refused (``HelmError``: not gzip, past the bound; or
  what ``sink`` raised) raises at the next ``feed`` or at ``result()``;
- once the block ends without an exception, the worker that takes the last
  chunk joins the layer and its tar and returns ``finish(data, tar)``
  (blocking work such as checking the chart follows with no other hand-off):
  ``await result()`` for it;
- leaving the block on an exception stops the work (``finish`` is not
  called) and waits for a running worker, so nothing writes afterwards.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import threading
from collections.abc import Callable
from typing import Generic, TypeVar, cast

from controllers.source.helm import charts

T = TypeVar("T")


class Inflating(Generic[T]):
    """See the module docstring."""

    def __init__(
        self,
        limits: charts.Limits,
        finish: Callable[[bytes, bytes], T],
        sink: Callable[[bytes], None] | None = None,
    ) -> None:
        self._inflater = charts.Inflater(limits)
        self._finish = finish
        self._sink = sink
        self._received: list[bytes] = []
        self._worker: asyncio.Future[T | None] | None = None
        """The last worker started: the one draining, or the one that finishes."""
        # NB: the loop and the workers share what follows, under the lock.
        self._lock = threading.Lock()
        self._waiting: collections.deque[bytes] = collections.deque()
        self._draining = False
        self._ended = False
        self._stopped = False
        self._refusal: BaseException | None = None

    async def __aenter__(self) -> Inflating[T]:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, *_: object) -> None:
        with self._lock:
            self._ended = True
            self._stopped = kind is not None or self._refusal is not None
            start = not self._draining and not self._stopped
            self._draining = True
        if start:
            self._start()
        elif self._stopped and self._worker is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(self._worker)

    def feed(self, chunk: bytes) -> None:
        """Queue ``chunk`` for a worker (starting one if none is draining)."""
        with self._lock:
            refusal = self._refusal
            if refusal is None:
                self._waiting.append(chunk)
                start = not self._draining
                self._draining = True
        if refusal is not None:
            raise refusal
        if start:
            self._start()

    async def result(self) -> T:
        """What ``finish`` returned, once the block has ended without an exception."""
        if self._refusal is not None:
            raise self._refusal
        assert self._worker is not None
        assert not self._stopped
        return cast(T, await self._worker)

    def _start(self) -> None:
        worker = asyncio.get_running_loop().run_in_executor(None, self._drain)
        # NB: a refusal is raised from ``_refusal``; this marks the future's copy as seen.
        worker.add_done_callback(lambda done: done.cancelled() or done.exception())
        self._worker = worker

    def _drain(self) -> T | None:
        """In a worker: take the waiting chunks; finish after the last one."""
        while True:
            with self._lock:
                if self._stopped or (not self._waiting and not self._ended):
                    self._draining = False
                    return None
                if not self._waiting:
                    break
                chunk = self._waiting.popleft()
            try:
                self._received.append(chunk)
                self._inflater.feed(chunk)
                if self._sink is not None:
                    self._sink(chunk)
            except Exception as refused:
                with self._lock:
                    self._refusal = refused
                    self._waiting.clear()
                    self._draining = False
                raise
        return self._finish(b"".join(self._received), self._inflater.finish())
