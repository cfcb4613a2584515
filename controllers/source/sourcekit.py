"""What every source kind's reconciler does alike (GitRepository, OCIRepository, …).

- ``ARTIFACT_SUMMARY``: the conditions of a source whose steps own only
  fetching and storing (Bucket, HelmRepository); kinds with more (includes,
  verification) declare their own;
- ``object_key``: an object's directory in artifact storage (``<kind>/<ns>/<name>``);
- ``interval``: ``spec.interval`` in seconds;
- ``require_generic_provider``: ``spec.provider`` other than ``generic``
  (cloud identities Headwater does not implement) marks ``FetchFailed``
  with ``InvalidProviderConfiguration`` and stalls;
- ``failure``: a fetch or storage failure recorded in its condition
  (``FetchFailed`` or ``StorageOperationFailed``), returned as the error the
  runtime skeleton turns into Ready=False, an event and a log line.
"""

from __future__ import annotations

from typing import Any, Protocol

from shared.api import meta, objects, source_conditions
from shared.artifacts import storage
from shared.runtime import conditions, reconciling, results

ARTIFACT_SUMMARY = conditions.Summary(
    owned=(
        source_conditions.STORAGE_OPERATION_FAILED_CONDITION,
        source_conditions.FETCH_FAILED_CONDITION,
        source_conditions.ARTIFACT_OUTDATED_CONDITION,
        source_conditions.ARTIFACT_IN_STORAGE_CONDITION,
    ),
    negative=frozenset(
        {
            source_conditions.STORAGE_OPERATION_FAILED_CONDITION,
            source_conditions.FETCH_FAILED_CONDITION,
            source_conditions.ARTIFACT_OUTDATED_CONDITION,
        }
    ),
)


class _Source(Protocol):
    kind: Any
    metadata: objects.ObjectMeta

    @property
    def spec(self) -> Any: ...


def object_key(obj: _Source) -> storage.ObjectKey:
    """Where ``obj``'s artifacts live in storage."""
    return storage.ObjectKey(
        kind=str(obj.kind),
        namespace=obj.metadata.namespace or "default",
        name=obj.metadata.name or "",
    )


def interval(obj: _Source) -> float:
    return meta.parse_duration(obj.spec.interval).total_seconds()


def require_generic_provider(run: reconciling.Run[Any, Any], provider: str | None) -> None:
    """Stall unless ``provider`` is ``generic`` (or unset)."""
    if provider in (None, "generic"):
        return
    message = f"provider '{provider}' is not supported; use 'generic'"
    run.mark(
        source_conditions.FETCH_FAILED_CONDITION,
        "True",
        reason=source_conditions.INVALID_PROVIDER_CONFIGURATION_REASON,
        message=message,
    )
    raise results.StallingError(
        message, reason=source_conditions.INVALID_PROVIDER_CONFIGURATION_REASON
    )


def failure(
    run: reconciling.Run[Any, Any],
    message: str,
    *,
    reason: str,
    in_storage: bool,
    stalling: bool,
) -> Exception:
    """Record a failure in ``FetchFailed`` (or ``StorageOperationFailed``); the error to raise."""
    condition = (
        source_conditions.STORAGE_OPERATION_FAILED_CONDITION
        if in_storage
        else source_conditions.FETCH_FAILED_CONDITION
    )
    run.mark(condition, "True", reason=reason, message=message)
    if stalling:
        return results.StallingError(message, reason=reason)
    return results.ReconcileError(message, reason=reason)
