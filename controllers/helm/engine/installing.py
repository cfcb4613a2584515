"""Install, upgrade and their dry run, step by step as Helm runs them.

- ``install``: render (a ``ChartError`` stores nothing), the namespace when
  asked, the chart's CRDs by policy, then a ``pending-install`` revision
  (``maxHistory`` pruned first), pre-install hooks, apply, wait,
  post-install hooks, ``deployed`` — or ``failed`` with ``Release "<name>"
  failed: <reason>``. A name in use fails unless ``replace`` and the latest
  revision is uninstalled or failed (that revision becomes superseded).
- ``upgrade``: from the latest deployed revision (or the latest when it
  failed or was superseded); ``preserve_values`` merges the new values over
  the old ones; a ``pending-upgrade`` revision, pre-upgrade hooks, apply
  (with client-side apply, ``force`` recreates objects whose immutable
  fields changed), delete what
  left the release, wait, post-upgrade hooks; then the previous revision is
  superseded and the new one deployed — or it is failed
  (``Upgrade "<name>" failed: …``; ``cleanup_on_fail`` deletes the objects
  it added).
- ``render``: what an install or upgrade would store and apply; nothing is
  written.

Failures before a revision is stored (CRDs, the namespace, a name in use,
ownership) raise ``ReleaseFailedError`` with ``record`` None.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from controllers.helm.engine import (
    cluster,
    failures,
    records,
    rendering,
    requests,
    steps,
    storage,
)

Status = records.Status


def origin_of(req: requests.Rendering) -> requests.Origin:
    """The request's origin; without one, the release itself (by name and namespace)."""
    return req.origin or requests.Origin(name=req.release_name, namespace=req.namespace)


def merge_labels(current: Mapping[str, str], wanted: Mapping[str, str]) -> dict[str, str]:
    """Helm's upgrade of release labels: the new over the old, a ``"null"`` value removes."""
    merged = {**current, **wanted}
    return {key: value for key, value in merged.items() if value != "null"}


async def _render(
    parts: steps.Parts,
    req: requests.Rendering,
    *,
    revision: int,
    is_upgrade: bool,
    config: Mapping[str, Any] | None = None,
) -> rendering.Rendered:
    return await rendering.render(
        req,
        revision=revision,
        is_upgrade=is_upgrade,
        config=config,
        kubeconfig=await parts.render_kubeconfig(),
        kustomize=parts.kustomize,
    )


async def _crds(
    parts: steps.Parts,
    rendered: rendering.Rendered,
    policy: requests.CRDPolicy,
    *,
    origin: requests.Origin,
    within: float,
) -> None:
    """Flux's CRD policies: Skip, Create (only missing ones), CreateReplace (apply all)."""
    if policy == requests.CRDPolicy.SKIP or not rendered.crds:
        return
    wanted = rendered.crds
    if policy == requests.CRDPolicy.CREATE:
        wanted = [crd for crd in wanted if await parts.cluster.get(crd) is None]
    if wanted:
        await parts.cluster.apply(wanted, origin=origin, within=within)
        await parts.cluster.wait_ready(wanted, within=within)
        parts.cluster.discovery.forget()


async def _prepare(
    parts: steps.Parts,
    req: requests.InstallRequest | requests.UpgradeRequest,
    rendered: rendering.Rendered,
    *,
    action: str,
) -> list[dict[str, Any]]:
    """CRDs, then the objects as applied; ``ReleaseFailedError`` (no record) on failure."""
    origin = origin_of(req)
    reserved = sorted(set(req.labels) & storage.SYSTEM_LABELS)
    if reserved:
        raise failures.ReleaseFailedError(
            action,
            None,
            "user supplied labels contains system reserved label name. "
            f"System labels: {sorted(storage.SYSTEM_LABELS)}",
        )
    try:
        if isinstance(req, requests.InstallRequest) and req.create_namespace:
            await parts.cluster.create_namespace(req.namespace)
        await _crds(parts, rendered, req.crds, origin=origin, within=req.timeout)
        objects = await parts.cluster.prepare(
            rendered.objects, release=req.release_name, namespace=req.namespace
        )
        if not req.take_ownership:
            await parts.cluster.check_ownership(
                objects, release=req.release_name, namespace=req.namespace
            )
    except cluster.ClusterError as error:
        raise failures.ReleaseFailedError(action, None, error.message) from error
    return objects


async def render(parts: steps.Parts, req: requests.Rendering) -> rendering.Rendered:
    """A dry run (module docstring); ``objects`` are prepared as they would be applied."""
    req = dataclasses.replace(req, origin=origin_of(req))
    latest = await parts.store.latest(req.release_name)
    version = latest.version + 1 if latest else 1
    rendered = await _render(parts, req, revision=version, is_upgrade=latest is not None)
    try:
        objects = await parts.cluster.prepare(
            rendered.objects, release=req.release_name, namespace=req.namespace
        )
    except cluster.ClusterError as error:
        raise failures.EngineError(error.message) from error
    return dataclasses.replace(rendered, objects=objects)


def _revision(
    req: requests.InstallRequest | requests.UpgradeRequest,
    rendered: rendering.Rendered,
    **fields: Any,
) -> records.ReleaseRecord:
    """A new revision of what ``rendered`` holds; ``fields`` set the rest."""
    return records.ReleaseRecord(
        name=req.release_name,
        namespace=req.namespace,
        chart=rendered.chart,
        config=rendered.config,
        manifest=rendered.manifest,
        hooks=rendered.hooks,
        notes=rendered.notes,
        **fields,
    )


async def install(parts: steps.Parts, req: requests.InstallRequest) -> records.ReleaseRecord:
    """``helm install`` (see the module docstring)."""
    req = dataclasses.replace(req, origin=origin_of(req))
    history = [] if req.no_history else await steps.history(parts, req.release_name)
    latest = history[-1] if history else None
    if latest is not None and not (
        req.replace and latest.status in (Status.UNINSTALLED, Status.FAILED)
    ):
        raise failures.ReleaseFailedError(
            "install", None, "cannot re-use a name that is still in use"
        )
    version = latest.version + 1 if latest else 1
    rendered = await _render(parts, req, revision=version, is_upgrade=False)
    objects = await _prepare(parts, req, rendered, action="install")
    moment = records.now()
    record = _revision(
        req,
        rendered,
        version=version,
        status=Status.PENDING_INSTALL,
        description="Initial install underway",
        first_deployed=moment,
        last_deployed=moment,
        labels=dict(req.labels),
        apply_method=requests.apply_method(req.server_side_apply),
    )
    if latest is not None:
        await steps.supersede(parts, latest)
    step = await steps.begin(parts, record, max_history=req.max_history, history=history)
    await steps.perform(
        parts,
        step,
        action="install",
        objects=objects,
        previous=(),
        waiting=req,
        origin=origin_of(req),
        force=False,
        disable_hooks=req.disable_hooks,
        cleanup_on_fail=False,
    )
    return await step.save(
        status=Status.DEPLOYED, description=req.description or "Install complete"
    )


async def upgrade(parts: steps.Parts, req: requests.UpgradeRequest) -> records.ReleaseRecord:
    """``helm upgrade`` (see the module docstring)."""
    req = dataclasses.replace(req, origin=origin_of(req))
    history = await steps.history(parts, req.release_name)
    if not history:
        raise failures.ReleaseNotFoundError(f'"{req.release_name}" has no deployed releases')
    latest = history[-1]
    current = storage.deployed_of(history)
    if current is None:
        if latest.status not in (Status.FAILED, Status.SUPERSEDED):
            raise failures.ReleaseNotFoundError(f'"{req.release_name}" has no deployed releases')
        current = latest
    config = steps.coalesce(req.values, current.config) if req.preserve_values else dict(req.values)
    version = latest.version + 1
    rendered = await _render(parts, req, revision=version, is_upgrade=True, config=config)
    objects = await _prepare(parts, req, rendered, action="upgrade")
    previous = await steps.objects_of(parts, current)
    record = _revision(
        req,
        rendered,
        version=version,
        status=Status.PENDING_UPGRADE,
        description="Preparing upgrade",
        first_deployed=current.first_deployed,
        last_deployed=records.now(),
        labels=merge_labels(current.labels, req.labels),
        apply_method=requests.apply_method(req.server_side_apply, previous=latest.apply_method),
    )
    step = await steps.begin(parts, record, max_history=req.max_history, history=history)
    await steps.perform(
        parts,
        step,
        action="upgrade",
        objects=objects,
        previous=previous,
        waiting=req,
        origin=origin_of(req),
        force=req.force,
        disable_hooks=req.disable_hooks,
        cleanup_on_fail=req.cleanup_on_fail,
    )
    if current.status == Status.DEPLOYED:
        await steps.supersede(parts, current)
    return await step.save(
        status=Status.DEPLOYED, description=req.description or "Upgrade complete"
    )
