"""Condition helpers and the summarizer (pure functions; no I/O).

Conditions follow fluxcd/pkg ``runtime/conditions``:

- ``set_condition`` stamps ``observedGeneration`` with the object's generation
  and changes ``lastTransitionTime`` only when the status flips (UTC, whole
  seconds); messages are trimmed to the API's 32768-character limit;
- abnormal-true ("negative polarity") conditions exist only while True: steps
  ``delete`` them instead of setting them False.

``summarize`` is the only writer of ``Ready``, ``Reconciling`` and ``Stalled``
and decides whether ``status.observedGeneration`` advances. Each kind passes a
``Summary`` naming the conditions it owns, in priority order, and which of them
are abnormal-true.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Iterable, Sequence
from typing import Protocol

from shared.api import meta


def now() -> str:
    """The current time as Kubernetes writes it: RFC 3339, UTC, whole seconds."""
    stamp = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    return stamp.strftime("%Y-%m-%dT%H:%M:%SZ")


def get(conditions: Iterable[meta.Condition] | None, type_: str) -> meta.Condition | None:
    for condition in conditions or ():
        if condition.type == type_:
            return condition
    return None


def _trim(message: str) -> str:
    limit = meta.MAX_CONDITION_MESSAGE_LENGTH
    return message if len(message) <= limit else message[: limit - 3] + "..."


def set_condition(
    conditions: Sequence[meta.Condition] | None,
    *,
    type_: str,
    status: str,
    reason: str,
    message: str,
    generation: int | None,
    timestamp: str | None = None,
) -> list[meta.Condition]:
    """A copy of ``conditions`` with ``type_`` set (appended if new, updated in place if not)."""
    result = list(conditions or ())
    previous = get(result, type_)
    transition = timestamp or now()
    if previous is not None and previous.status == status:
        transition = previous.last_transition_time
    condition = meta.Condition(
        type=type_,
        status=status,  # type: ignore[arg-type]  # validated by the model
        reason=reason,
        message=_trim(message),
        observed_generation=generation,
        last_transition_time=transition,
    )
    if previous is None:
        result.append(condition)
    else:
        result[result.index(previous)] = condition
    return result


class Marker(Protocol):
    """Sets one condition to a fixed status (``mark_true``, ``mark_false``, ``mark_unknown``)."""

    def __call__(
        self,
        conditions: Sequence[meta.Condition] | None,
        type_: str,
        *,
        reason: str,
        message: str,
        generation: int | None,
    ) -> list[meta.Condition]: ...


def _marker(status: str) -> Marker:
    def mark(
        conditions: Sequence[meta.Condition] | None,
        type_: str,
        *,
        reason: str,
        message: str,
        generation: int | None,
    ) -> list[meta.Condition]:
        return set_condition(
            conditions,
            type_=type_,
            status=status,
            reason=reason,
            message=message,
            generation=generation,
        )

    return mark


mark_true = _marker("True")
mark_false = _marker("False")
mark_unknown = _marker("Unknown")


def delete(conditions: Sequence[meta.Condition] | None, type_: str) -> list[meta.Condition]:
    return [c for c in conditions or () if c.type != type_]


# --- the summarizer ------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True)
class Summary:
    """What a kind's summarizer needs to know about its conditions.

    ``owned`` lists, in priority order, the conditions the kind's steps set; the
    first failing one (an abnormal one True, a bi-polar one False) supplies
    Ready's reason and message. ``negative`` are the abnormal-true ones among
    them; ``bipolar`` ones (such as ``SourceVerified``) fail when False.
    """

    owned: tuple[str, ...]
    negative: frozenset[str]
    bipolar: frozenset[str] = frozenset()
    success_reason: str = meta.SUCCEEDED_REASON


class Outcome:
    """How a reconcile ended, as the summarizer sees it."""

    SUCCESS = "success"
    """Everything done; requeue after the interval."""
    RETRY = "retry"
    """A transient error or a wait; retried later."""
    STALLED = "stalled"
    """The object cannot progress until its spec changes."""


def start(
    conditions: Sequence[meta.Condition] | None,
    *,
    generation: int | None,
    observed_generation: int | None,
) -> list[meta.Condition]:
    """Conditions at the start of a reconcile: Reconciling=True, Stalled gone.

    Ready becomes Unknown/Progressing only if it is missing or already Unknown;
    otherwise the previous verdict stands until the summary.
    """
    if generation is not None and observed_generation not in (None, generation):
        message = f"processing object: new generation {observed_generation} -> {generation}"
    else:
        message = "reconciliation in progress"
    result = delete(conditions, meta.STALLED)
    result = mark_true(
        result,
        meta.RECONCILING,
        reason=meta.PROGRESSING_REASON,
        message=message,
        generation=generation,
    )
    ready = get(result, meta.READY)
    if ready is None or ready.status == "Unknown":
        result = mark_unknown(
            result,
            meta.READY,
            reason=meta.PROGRESSING_REASON,
            message=message,
            generation=generation,
        )
    return result


@dataclasses.dataclass(frozen=True)
class Summarized:
    """The summarizer's verdict: new conditions and whether observedGeneration advances."""

    conditions: list[meta.Condition]
    observe_generation: bool


def summarize(
    conditions: Sequence[meta.Condition] | None,
    *,
    summary: Summary,
    outcome: str,
    generation: int | None,
    error_reason: str | None = None,
    error_message: str | None = None,
    success_message: str | None = None,
) -> Summarized:
    """Derive Ready, Reconciling and Stalled from a reconcile's outcome and conditions.

    - success: Reconciling is removed;
    - retry: Reconciling stays, with reason ProgressingWithRetry;
    - stalled: Stalled=True with the error's reason, Reconciling removed.
    Ready: the first failing condition in ``owned`` order (an abnormal one
    True, a bi-polar one False) makes it False (its reason and message); else an error
    with no owning condition makes it False with the error; else the first
    True normal condition (or ``success_message``) makes it True.
    ``observe_generation`` is true after a success or a stall, never after a retry.
    """
    result = list(conditions or ())
    if outcome == Outcome.SUCCESS:
        result = delete(result, meta.RECONCILING)
        result = delete(result, meta.STALLED)
    elif outcome == Outcome.STALLED:
        result = delete(result, meta.RECONCILING)
        result = mark_true(
            result,
            meta.STALLED,
            reason=error_reason or meta.FAILED_REASON,
            message=error_message or "",
            generation=generation,
        )
    else:
        result = delete(result, meta.STALLED)
        reconciling = get(result, meta.RECONCILING)
        result = mark_true(
            result,
            meta.RECONCILING,
            reason=meta.PROGRESSING_WITH_RETRY_REASON,
            message=reconciling.message if reconciling else (error_message or ""),
            generation=generation,
        )
    ready = _ready_verdict(
        result,
        summary=summary,
        outcome=outcome,
        error_reason=error_reason,
        error_message=error_message,
        success_message=success_message,
    )
    status, reason, message = ready
    result = set_condition(
        result,
        type_=meta.READY,
        status=status,
        reason=reason,
        message=message,
        generation=generation,
    )
    # Ready first, then the rest in their existing order, as Flux lists them.
    result.sort(key=lambda c: c.type != meta.READY)
    return Summarized(
        conditions=result,
        observe_generation=outcome in (Outcome.SUCCESS, Outcome.STALLED),
    )


def _ready_verdict(
    conditions: Sequence[meta.Condition],
    *,
    summary: Summary,
    outcome: str,
    error_reason: str | None,
    error_message: str | None,
    success_message: str | None,
) -> tuple[str, str, str]:
    for type_ in summary.owned:
        condition = get(conditions, type_)
        if condition is None:
            continue
        failing = (type_ in summary.negative and condition.status == "True") or (
            type_ in summary.bipolar and condition.status == "False"
        )
        if failing:
            return "False", condition.reason, condition.message
    if outcome == Outcome.STALLED:
        return "False", error_reason or meta.FAILED_REASON, error_message or ""
    if outcome == Outcome.RETRY:
        return (
            "False",
            error_reason or meta.PROGRESSING_WITH_RETRY_REASON,
            error_message or "reconciliation will be retried",
        )
    if success_message is not None:
        return "True", summary.success_reason, success_message
    for type_ in summary.owned:
        condition = get(conditions, type_)
        if type_ not in summary.negative and condition is not None and condition.status == "True":
            return "True", condition.reason, condition.message
    return "True", summary.success_reason, "reconciliation succeeded"
