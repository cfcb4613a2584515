"""``Engine``: Helm's actions on releases kept in Helm's storage, one call per action.

The caller runs at most one action per release at a time (the reconciler's
work queue guarantees one reconcile per HelmRelease), so the engine holds no
lock. What each action does, step by step, is in ``installing`` (install,
upgrade, render) and ``lifecycle`` (rollback, uninstall, test, unlock);
errors are ``failures``'s.

The engine applies with server-side apply under its field manager
(``helm-controller``), forcing conflicts as Flux does with Helm 4. Given a
``live`` source (watch caches of the objects carrying Flux's origin
labels), unchanged objects cost no request and drift is known without a
dry run. Templates render cluster-aware (``lookup`` answered, the
cluster's capabilities) with ``lookup`` (through a kubeconfig built from
the engine's own client) or an explicit ``kubeconfig`` text; otherwise
offline, as ``helm template`` does. ``kustomize`` runs the kustomize
post-renderers.
"""

from __future__ import annotations

from typing import Any

from controllers.helm.engine import (
    cluster,
    hooks,
    installing,
    lifecycle,
    postrendering,
    records,
    rendering,
    requests,
    steps,
    storage,
)
from shared.kube import client, resourcemanager, resources


class Engine:
    """Helm's actions against one cluster and one release storage (module docstring)."""

    def __init__(
        self,
        api: client.Client,
        store: storage.ReleaseStore,
        *,
        field_manager: str = cluster.FIELD_MANAGER,
        live: resourcemanager.LiveSource | None = None,
        poll_interval: float = 2.0,
        kubeconfig: str | None = None,
        lookup: bool = False,
        kustomize: postrendering.Kustomize | None = None,
        discovery: resources.Discovery | None = None,
    ) -> None:
        kube = cluster.Cluster(
            api=api,
            live=live,
            field_manager=field_manager,
            poll_interval=poll_interval,
            discovery=discovery,
        )
        self.parts = steps.Parts(
            store=store,
            cluster=kube,
            hooks=hooks.Runner(kube),
            kubeconfig=kubeconfig,
            lookup=lookup,
            kustomize=kustomize,
        )

    @property
    def store(self) -> storage.ReleaseStore:
        return self.parts.store

    @property
    def cluster(self) -> cluster.Cluster:
        return self.parts.cluster

    async def install(self, req: requests.InstallRequest) -> records.ReleaseRecord:
        return await installing.install(self.parts, req)

    async def upgrade(self, req: requests.UpgradeRequest) -> records.ReleaseRecord:
        return await installing.upgrade(self.parts, req)

    async def render(self, req: requests.Rendering) -> rendering.Rendered:
        return await installing.render(self.parts, req)

    async def rollback(self, req: requests.RollbackRequest) -> records.ReleaseRecord:
        return await lifecycle.rollback(self.parts, req)

    async def uninstall(self, req: requests.UninstallRequest) -> records.ReleaseRecord:
        return await lifecycle.uninstall(self.parts, req)

    async def test(self, req: requests.TestRequest) -> records.ReleaseRecord:
        return await lifecycle.test(self.parts, req)

    async def unlock(self, name: str) -> records.ReleaseRecord | None:
        return await lifecycle.unlock(self.parts, name)

    async def objects_of(self, record: records.ReleaseRecord) -> list[dict[str, Any]]:
        """The objects of a stored revision as the engine applies them (for drift detection)."""
        return await steps.objects_of(self.parts, record)
