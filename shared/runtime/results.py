"""Reconcile results and the error kinds that decide the requeue.

::

    ReconcileError            generic: retried with exponential backoff
    ├── StallingError         the user must change the spec: not retried
    └── WaitingError          retried after ``requeue_after`` (a dependency,
                              an include, a health check still progressing)

Each error carries the ``reason`` for the Ready condition and for the event
it produces. ``announced``: the step already recorded the failure's event
and error log line itself (a Helm action's own ``InstallFailed`` event, with
its metadata), so the skeleton only summarizes and requeues. ``requeue``
turns a reconcile's outcome into the queue action.
"""

from __future__ import annotations

import dataclasses

from shared.api import meta
from shared.runtime import conditions, queue


class ReconcileError(Exception):
    """A reconcile failed; retried with exponential backoff."""

    def __init__(
        self, message: str, *, reason: str = meta.FAILED_REASON, announced: bool = False
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.announced = announced


class StallingError(ReconcileError):
    """A reconcile cannot succeed until the object changes; not retried."""


class WaitingError(ReconcileError):
    """A reconcile must wait for something else; retried after ``requeue_after`` seconds.

    ``notice``: an expected wait (a dependency not ready yet) announced as a
    Normal event with this message instead of a Warning with ``message``.
    """

    def __init__(
        self,
        message: str,
        *,
        reason: str,
        requeue_after: float,
        notice: str | None = None,
        announced: bool = False,
    ) -> None:
        super().__init__(message, reason=reason, announced=announced)
        self.requeue_after = requeue_after
        self.notice = notice


@dataclasses.dataclass(frozen=True)
class Requeue:
    """What the worker does with a key after a reconcile.

    ``after`` is None for "do not requeue", and ``rate_limited`` means "use the
    key's backoff" (``after`` is then ignored).
    """

    after: float | None
    rate_limited: bool = False
    forget: bool = True


def outcome_of(error: BaseException | None) -> str:
    """The summarizer's ``Outcome`` for a reconcile that raised ``error`` (or None)."""
    if error is None:
        return conditions.Outcome.SUCCESS
    if isinstance(error, StallingError):
        return conditions.Outcome.STALLED
    return conditions.Outcome.RETRY


def requeue(
    error: BaseException | None,
    *,
    interval: float | None,
    jitter: float = 0.05,
) -> Requeue:
    """Decide the requeue: success after the jittered interval, errors by their kind."""
    if error is None:
        if interval is None:
            return Requeue(after=None)
        return Requeue(after=queue.jittered(interval, fraction=jitter))
    if isinstance(error, StallingError):
        return Requeue(after=None)
    if isinstance(error, WaitingError):
        return Requeue(after=error.requeue_after)
    return Requeue(after=None, rate_limited=True, forget=False)
