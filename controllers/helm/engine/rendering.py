"""A chart and values into what a release revision holds, as Helm's ``renderResources``.

``render`` loads the chart, checks the values against its schema (unless
disabled), renders the templates through the Helm SDK, takes out the notes,
runs the post-renderers (``postrendering``) and sorts the documents into
hooks and objects (``manifests``). The result, ``Rendered``, is everything
an install or upgrade stores (chart, config, manifest, hooks, notes) plus the
objects to apply and the chart's CRDs (with the origin labels and common
metadata, as Flux stamps them). Nothing here writes to a cluster; with a
``kubeconfig`` the templates' ``lookup`` reads from it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from controllers.helm.engine import charts, manifests, postrendering, records, requests


@dataclasses.dataclass(frozen=True)
class Rendered:
    """A rendered release: what it stores and the objects it applies."""

    chart: dict[str, Any]
    config: dict[str, Any]
    manifest: str
    objects: list[dict[str, Any]]
    hooks: tuple[records.Hook, ...]
    notes: str
    crds: list[dict[str, Any]]


async def render(
    req: requests.Rendering,
    *,
    revision: int,
    is_upgrade: bool,
    config: Mapping[str, Any] | None = None,
    kubeconfig: str | None = None,
    kustomize: postrendering.Kustomize | None = None,
) -> Rendered:
    """Render ``req`` as revision ``revision`` (see the module docstring).

    ``config`` replaces ``req.values`` as the user-supplied values (an
    upgrade that preserves values passes the merged ones).
    """
    chart = await charts.load(req.chart)
    values = dict(req.values if config is None else config)
    await charts.merged_values(chart, values, validate=not req.disable_schema_validation)
    files = await charts.render_templates(
        chart,
        values,
        name=req.release_name,
        namespace=req.namespace,
        revision=revision,
        is_upgrade=is_upgrade,
        kubeconfig=kubeconfig,
        validate=not req.disable_schema_validation,
    )
    files, notes = manifests.split_notes(files, chart_name=chart.name)
    chain = postrendering.renderers(req, kustomize=kustomize)
    files = await postrendering.apply(files, chain=chain, strategy=req.post_render_strategy)
    hooks, generic = manifests.sort(files)
    crds = manifests.crd_objects(charts.crds(chart))
    stamp = postrendering.renderers(dataclasses.replace(req, post_renderers=()), kustomize=None)
    for renderer in stamp:
        crds = await renderer(crds)
    return Rendered(
        chart=await charts.chart_json(chart),
        config=values,
        manifest=manifests.manifest_text(generic),
        objects=[manifest.obj for manifest in generic],
        hooks=hooks,
        notes=notes,
        crds=crds,
    )
