"""What the reconciler asks of the engine: one frozen value per action (pure).

The fields are Flux's HelmRelease options in the engine's terms; defaults
are Flux's. Durations are seconds. ``origin`` names the HelmRelease that
owns the release: its name and namespace become Flux's origin labels
(``helm.toolkit.fluxcd.io/name``, ``/namespace``) on every object.
Server-side apply is the default, as with Helm 4; an upgrade or rollback in
``auto`` mode applies as the latest revision (upgrade) or the target
(rollback) was applied, as Flux resolves it.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping, Sequence
from typing import Any

from controllers.helm.engine import charts
from shared.api import helm as helm_api
from shared.kube import health

HELM_GROUP = "helm.toolkit.fluxcd.io"

ServerSideApply = helm_api.ServerSideApplyMode
"""enabled, disabled, or auto: as the latest revision (the rollback's target) was applied."""


def apply_method(mode: ServerSideApply | bool, *, previous: str = "") -> str:
    """Helm's stored apply method for a mode: ``ssa`` or ``csa`` (auto follows ``previous``)."""
    if mode == "auto":
        return "ssa" if previous == "ssa" else "csa"
    return "ssa" if mode in (True, "enabled") else "csa"


class CRDPolicy(enum.StrEnum):
    """What happens to the chart's ``crds/`` directory (Flux's ``crds`` option)."""

    SKIP = "Skip"
    CREATE = "Create"
    CREATE_REPLACE = "CreateReplace"


class PostRenderStrategy(enum.StrEnum):
    """Which rendered objects the post-renderers see (Helm 4's strategies)."""

    COMBINED = "combined"  # hooks and other objects together (Helm 4's default)
    SEPARATE = "separate"  # hooks and other objects, each set on its own
    NO_HOOKS = "nohooks"  # only objects that are not hooks (Helm 3's behaviour)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Origin:
    """The HelmRelease a release belongs to (Flux's origin labels)."""

    name: str
    namespace: str

    @property
    def labels(self) -> dict[str, str]:
        return {f"{HELM_GROUP}/name": self.name, f"{HELM_GROUP}/namespace": self.namespace}


@dataclasses.dataclass(frozen=True, kw_only=True)
class Rendering:
    """What shapes the rendered objects (shared by install, upgrade and render)."""

    release_name: str
    namespace: str
    """The release's (target) namespace: where namespaced objects go."""
    chart: charts.ChartSource
    values: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    origin: Origin | None = None
    post_renderers: Sequence[helm_api.PostRenderer] = ()
    post_render_strategy: PostRenderStrategy = PostRenderStrategy.COMBINED
    common_labels: Mapping[str, str] = dataclasses.field(default_factory=dict)
    common_annotations: Mapping[str, str] = dataclasses.field(default_factory=dict)
    disable_schema_validation: bool = False
    disable_openapi_validation: bool = False


@dataclasses.dataclass(frozen=True, kw_only=True)
class Waiting:
    """How long to wait and for what (``timeout`` applies to each step, as in Helm)."""

    timeout: float = 300.0
    disable_wait: bool = False
    disable_wait_for_jobs: bool = False
    health_readers: tuple[health.Reader, ...] = ()
    """Tried before kstatus: ``healthCheckExprs`` compiled by ``shared.kube.healthexprs``."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Releasing(Rendering, Waiting):
    """What install and upgrade share beyond rendering and waiting."""

    disable_hooks: bool = False
    max_history: int = 5
    description: str = ""
    """The deployed revision's description; Helm's own when empty."""
    labels: Mapping[str, str] = dataclasses.field(default_factory=dict)
    """Release labels (stored as labels of the storage Secret)."""
    take_ownership: bool = True
    """Adopt existing objects of no or another release (Flux's default)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class InstallRequest(Releasing):
    """``helm install`` as Flux configures it."""

    crds: CRDPolicy = CRDPolicy.CREATE
    create_namespace: bool = False
    replace: bool = False
    server_side_apply: bool = True
    no_history: bool = False
    """The caller has just seen no revision of the release (a synced watch cache), so
    storage is not listed first; a revision stored meanwhile makes storing revision 1
    fail (the Secret exists), and the next attempt reads storage."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class UpgradeRequest(Releasing):
    """``helm upgrade`` as Flux configures it."""

    crds: CRDPolicy = CRDPolicy.SKIP
    force: bool = False
    cleanup_on_fail: bool = False
    preserve_values: bool = False
    server_side_apply: ServerSideApply = "auto"


@dataclasses.dataclass(frozen=True, kw_only=True)
class RollbackRequest(Waiting):
    """``helm rollback``: to ``to_version``, or the revision before the latest."""

    release_name: str
    to_version: int | None = None
    disable_hooks: bool = False
    force: bool = False
    cleanup_on_fail: bool = False
    max_history: int = 5
    origin: Origin | None = None
    server_side_apply: ServerSideApply = "auto"


@dataclasses.dataclass(frozen=True, kw_only=True)
class UninstallRequest:
    """``helm uninstall``."""

    release_name: str
    timeout: float = 300.0
    keep_history: bool = False
    disable_hooks: bool = False
    disable_wait: bool = False
    deletion_propagation: str = "background"
    description: str = ""


@dataclasses.dataclass(frozen=True, kw_only=True)
class TestRequest:
    """``helm test``; ``filters`` select test hooks by name (Flux's ``test.filters``)."""

    __test__ = False  # NB: not a pytest test class, despite the name

    release_name: str
    timeout: float = 300.0
    filters: Sequence[helm_api.Filter] = ()
