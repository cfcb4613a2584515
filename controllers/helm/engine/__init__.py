"""The Helm engine: Helm's actions performed in Python, releases kept in Helm's storage.

What lives here: storing and reading release revisions exactly as Helm does
(``storage``, ``records``), Flux's digests of them (``digests``), and the
actions (install, upgrade, test, rollback, uninstall, unlock, render). The
Helm SDK is used only for what is Helm's alone — loading charts, merging
and validating values, rendering templates (``charts``) — so releases stay
ones the Helm SDK and CLI list, read, roll back and uninstall.

What must not: anything about the HelmRelease object (its spec, status,
conditions, remediation decisions). The reconciler above calls the engine
with plain values and gets records and ``failures`` errors back. Kubernetes
calls go through ``shared.kube`` only.
"""

from controllers.helm.engine.failures import (
    ChartError,
    EngineError,
    ReleaseFailedError,
    ReleaseNotFoundError,
    StorageError,
)
from controllers.helm.engine.records import Hook, HookExecution, ReleaseRecord, Status
from controllers.helm.engine.storage import ReleaseStore

__all__ = [
    "ChartError",
    "EngineError",
    "Hook",
    "HookExecution",
    "ReleaseFailedError",
    "ReleaseNotFoundError",
    "ReleaseRecord",
    "ReleaseStore",
    "Status",
    "StorageError",
]
