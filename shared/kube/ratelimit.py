"""Client-side rate limiting: a token bucket like client-go's (QPS and burst).

Flux controllers default to QPS 50 and burst 300 (``--kube-api-qps``,
``--kube-api-burst``); Headwater uses the same so comparisons are fair. The
bucket starts full, refills at ``qps`` tokens a second up to ``burst``, and
``acquire`` waits (on the event loop clock) until a token is free.

``take_spare`` is for advisory requests (a progress note in a status): it
takes a token only from the upper half of the burst and only when no one is
waiting, never waits, and so never delays a request that must be made. A
client under load (the bucket drained by required writes) sends no advisory
request at all.
"""

from __future__ import annotations

import asyncio


class TokenBucket:
    """An asyncio token bucket; ``qps <= 0`` disables limiting."""

    def __init__(self, *, qps: float, burst: int) -> None:
        if burst < 1:
            raise ValueError(f"burst must be at least 1, got {burst}")
        self.qps = qps
        self.burst = burst
        self._tokens = float(burst)
        self._stamp: float | None = None
        self._lock = asyncio.Lock()

    def _refill(self, now: float) -> None:
        if self._stamp is not None:
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.qps)
        self._stamp = now

    def take_spare(self) -> bool:
        """Take one token if that leaves at least half the burst and no one waits; never waits."""
        if self.qps <= 0:
            return True
        if self._lock.locked():
            return False
        self._refill(asyncio.get_running_loop().time())
        if self._tokens - 1 < self.burst // 2:
            return False
        self._tokens -= 1
        return True

    async def acquire(self) -> float:
        """Take one token, waiting if none is free; returns the seconds waited."""
        if self.qps <= 0:
            return 0.0
        loop = asyncio.get_running_loop()
        async with self._lock:
            start = loop.time()
            self._refill(start)
            if self._tokens < 1:
                await asyncio.sleep((1 - self._tokens) / self.qps)
                self._refill(loop.time())
            self._tokens -= 1
            return loop.time() - start
