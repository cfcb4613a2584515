"""The engine's errors, one tree (pure).

::

    EngineError                 any failed engine call
    ├── StorageError            Helm's release storage could not be read or written
    ├── ChartError              the chart could not be loaded, its values merged,
    │                           validated against its schema, rendered or post-rendered
    ├── ReleaseNotFoundError         the action needs a release (or revision) that is not stored
    └── ReleaseFailedError           an action failed after it stored a revision; ``record``
                                is that revision as stored (``failed``, or the
                                previous state when nothing was written)

Kubernetes API errors (``shared.kube.errors``) and Helm SDK errors are
translated into these where they happen, chained with ``raise … from``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from controllers.helm.engine import records


class EngineError(Exception):
    """An engine call failed; ``message`` is the text for conditions and events."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class StorageError(EngineError):
    pass


class ChartError(EngineError):
    pass


class ReleaseNotFoundError(EngineError):
    pass


class ReleaseFailedError(EngineError):
    """``action`` (install, upgrade, rollback, uninstall, test) failed for ``reason``."""

    def __init__(self, action: str, record: records.ReleaseRecord | None, reason: str) -> None:
        super().__init__(f"{action} failed: {reason}" if reason else f"{action} failed")
        self.action = action
        self.record = record
        self.reason = reason
