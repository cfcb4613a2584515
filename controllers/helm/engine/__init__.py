"""The Helm engine: Helm's actions performed in Python, releases kept in Helm's storage.

What lives here: storing and reading release revisions exactly as Helm does
(``storage``, ``records``), Flux's digests of them (``digests``), and the
actions (``Engine``: install, upgrade, test, rollback, uninstall, unlock,
render), which apply through ``cluster`` and run hooks through ``hooks``. The
Helm SDK is used only for what is Helm's alone — loading charts, merging
and validating values, rendering templates (``charts``) — so releases stay
ones the Helm SDK and CLI list, read, roll back and uninstall.

What must not: anything about the HelmRelease object (its spec, status,
conditions, remediation decisions). The reconciler above calls the engine
with plain values and gets records and ``failures`` errors back. Kubernetes
calls go through ``shared.kube`` only.
"""

from controllers.helm.engine.engine import Engine
from controllers.helm.engine.failures import (
    ChartError,
    EngineError,
    ReleaseFailedError,
    ReleaseNotFoundError,
    StorageError,
)
from controllers.helm.engine.records import Hook, HookExecution, ReleaseRecord, Status
from controllers.helm.engine.rendering import Rendered
from controllers.helm.engine.requests import (
    CRDPolicy,
    InstallRequest,
    Origin,
    PostRenderStrategy,
    Releasing,
    Rendering,
    RollbackRequest,
    TestRequest,
    UninstallRequest,
    UpgradeRequest,
)
from controllers.helm.engine.storage import ReleaseStore

__all__ = [
    "CRDPolicy",
    "ChartError",
    "Engine",
    "EngineError",
    "Hook",
    "HookExecution",
    "InstallRequest",
    "Origin",
    "PostRenderStrategy",
    "ReleaseFailedError",
    "ReleaseNotFoundError",
    "ReleaseRecord",
    "ReleaseStore",
    "Releasing",
    "Rendered",
    "Rendering",
    "RollbackRequest",
    "Status",
    "StorageError",
    "TestRequest",
    "UninstallRequest",
    "UpgradeRequest",
]
