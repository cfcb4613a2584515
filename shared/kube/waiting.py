"""Flux's wait loop: poll the health of a set of objects until ready, failed or a deadline.

``wait`` polls at once and then every ``interval`` through a ``StatusReader``
(the resource manager reads from its watch caches, falling back to a GET),
and returns when every object is Current. It raises ``WaitError`` with
Flux's message when the deadline passes ("timeout waiting for: [..]") or —
with ``fail_fast`` — as soon as one object is Failed (without it, once every
object is Current or Failed): "failed early due to stalled resources: [..]".
Error lines are
"<Kind/ns/name> status: '<Status>'" (plus ": <message>" for Unknown), or
"can't determine status for <id>" for an object never polled; they are
sorted. Jobs listed in ``ttl_jobs`` (their manifest sets
``ttlSecondsAfterFinished``) count as Current once NotFound: the TTL
controller removed them after they finished.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Collection, Sequence

from shared.kube import health, inventory

StatusReader = Callable[[inventory.Ref], Awaitable[health.Result]]


class WaitError(Exception):
    """Objects did not become ready; ``message`` is Flux's text, ``statuses`` the last seen."""

    def __init__(self, message: str, *, statuses: dict[inventory.Ref, health.Result]) -> None:
        super().__init__(message)
        self.message = message
        self.statuses = statuses


def _line(ref: inventory.Ref, result: health.Result | None) -> str:
    if result is None:
        return f"can't determine status for {ref}"
    line = f"{ref} status: '{result.status}'"
    if result.status == health.Status.UNKNOWN and result.message:
        line += f": {result.message}"
    return line


async def wait(
    refs: Sequence[inventory.Ref],
    *,
    read: StatusReader,
    interval: float,
    within: float,
    fail_fast: bool = True,
    ttl_jobs: Collection[inventory.Ref] = (),
) -> dict[inventory.Ref, health.Result]:
    """Poll until every ref is Current (see the module docstring); returns the last statuses."""
    deadline = time.monotonic() + within
    ttl_keys = {ref.key for ref in ttl_jobs}
    statuses: dict[inventory.Ref, health.Result] = {}
    while True:
        results = await asyncio.gather(*(read(ref) for ref in refs))
        for ref, result in zip(refs, results, strict=True):
            if result.status == health.Status.NOT_FOUND and ref.key in ttl_keys:
                result = health.Result(health.Status.CURRENT, "Job finished and was removed")
            statuses[ref] = result
        current = [ref for ref in refs if statuses[ref].status == health.Status.CURRENT]
        failed = [ref for ref in refs if statuses[ref].status == health.Status.FAILED]
        if len(current) == len(refs):
            return statuses
        if failed and (fail_fast or len(current) + len(failed) == len(refs)):
            lines = sorted(_line(ref, statuses[ref]) for ref in failed)
            raise WaitError(
                f"failed early due to stalled resources: [{', '.join(lines)}]", statuses=statuses
            )
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            lines = sorted(
                _line(ref, statuses.get(ref))
                for ref in refs
                if ref not in statuses or statuses[ref].status != health.Status.CURRENT
            )
            raise WaitError(f"timeout waiting for: [{', '.join(lines)}]", statuses=statuses)
        await asyncio.sleep(min(interval, remaining))
