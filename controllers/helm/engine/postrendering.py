"""Post-renderers: what Flux changes in the rendered objects before Helm sorts them.

A post-renderer takes the rendered objects and returns them changed
(``PostRenderer``). Flux runs, in order: each ``postRenderers[].kustomize``
(patches and images, by ``kubectl kustomize`` over the objects), then
``commonMetadata`` (labels and annotations that override the objects' own),
then the origin labels (``helm.toolkit.fluxcd.io/name``, ``/namespace``),
which win over common metadata.

``apply`` runs them over template files (path → YAML text) as Helm 4 does
for a post-render strategy: ``combined`` (every document), ``separate``
(hooks and the rest, each on its own) or ``nohooks`` (only documents that
are not hooks; hooks pass through untouched). Each document carries its
template path through the renderers in an annotation that is removed
afterwards, so the objects are grouped back by file; post-rendered files
are rewritten as YAML.
"""

from __future__ import annotations

import pathlib
import tempfile
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import yaml

from controllers.helm.engine import failures, manifests, requests
from shared.api import helm as helm_api

PATH_ANNOTATION = "postrenderer.helm.sh/postrender-filename"

Objects = list[dict[str, Any]]
PostRenderer = Callable[[Objects], Awaitable[Objects]]
Kustomize = Callable[[pathlib.Path], Awaitable[str]]
"""Runs ``kubectl kustomize`` on a directory and returns the YAML it printed."""


def metadata_renderer(labels: Mapping[str, str], annotations: Mapping[str, str]) -> PostRenderer:
    """Stamps ``labels`` and ``annotations`` on every object, overriding its own."""

    async def render(objects: Objects) -> Objects:
        for obj in objects:
            metadata = obj.setdefault("metadata", {})
            if labels:
                metadata["labels"] = {**(metadata.get("labels") or {}), **labels}
            if annotations:
                metadata["annotations"] = {**(metadata.get("annotations") or {}), **annotations}
        return objects

    return render


def kustomize_renderer(
    renderer: helm_api.KustomizePostRenderer, *, kustomize: Kustomize
) -> PostRenderer:
    """Flux's kustomize post-renderer: the objects as the resource, with patches and images."""

    async def render(objects: Objects) -> Objects:
        kustomization: dict[str, Any] = {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": ["helm-output.yaml"],
        }
        if renderer.patches:
            kustomization["patches"] = [
                patch.model_dump(by_alias=True, exclude_none=True) for patch in renderer.patches
            ]
        if renderer.images:
            kustomization["images"] = [
                image.model_dump(by_alias=True, exclude_none=True) for image in renderer.images
            ]
        with tempfile.TemporaryDirectory(prefix="helm-postrender-") as scratch:
            root = pathlib.Path(scratch)
            (root / "helm-output.yaml").write_text(
                yaml.dump_all(objects, Dumper=yaml.CSafeDumper, sort_keys=False)
            )
            (root / "kustomization.yaml").write_text(
                yaml.dump(kustomization, Dumper=yaml.CSafeDumper, sort_keys=False)
            )
            output = await kustomize(root)
        return [obj for obj in yaml.load_all(output, Loader=yaml.CSafeLoader) if obj]

    return render


def renderers(req: requests.Rendering, *, kustomize: Kustomize | None) -> list[PostRenderer]:
    """Flux's post-renderers of a request, in Flux's order (module docstring)."""
    found: list[PostRenderer] = []
    for renderer in req.post_renderers:
        if renderer.kustomize is None:
            continue
        if kustomize is None:
            raise failures.ChartError("post-renderers need kustomize, which is not configured")
        found.append(kustomize_renderer(renderer.kustomize, kustomize=kustomize))
    if req.common_labels or req.common_annotations:
        found.append(metadata_renderer(req.common_labels, req.common_annotations))
    if req.origin is not None:
        found.append(metadata_renderer(req.origin.labels, {}))
    return found


def _is_hook(obj: Mapping[str, Any]) -> bool:
    return manifests.HOOK in ((obj.get("metadata") or {}).get("annotations") or {})


async def _run(
    documents: Sequence[tuple[str, dict[str, Any]]], chain: Sequence[PostRenderer]
) -> list[tuple[str, dict[str, Any]]]:
    objects: Objects = []
    for path, obj in documents:
        metadata = obj.setdefault("metadata", {})
        metadata["annotations"] = {**(metadata.get("annotations") or {}), PATH_ANNOTATION: path}
        objects.append(obj)
    for renderer in chain:
        objects = await renderer(objects)
    rendered: list[tuple[str, dict[str, Any]]] = []
    for obj in objects:
        annotations = (obj.get("metadata") or {}).get("annotations") or {}
        path = str(annotations.pop(PATH_ANNOTATION, "post-rendered.yaml"))
        if not annotations:
            obj["metadata"].pop("annotations", None)
        rendered.append((path, obj))
    return rendered


async def apply(
    files: Mapping[str, str],
    *,
    chain: Sequence[PostRenderer],
    strategy: requests.PostRenderStrategy,
) -> dict[str, str]:
    """The files after the post-renderers, by ``strategy`` (see the module docstring)."""
    if not chain:
        return dict(files)
    hooks: list[tuple[str, dict[str, Any]]] = []
    others: list[tuple[str, dict[str, Any]]] = []
    everything: list[tuple[str, dict[str, Any]]] = []
    untouched: dict[str, list[str]] = {}
    for path in sorted(files):
        if pathlib.PurePosixPath(path).name.startswith("_"):
            continue
        for document in manifests.split_documents(files[path]):
            obj = manifests.parse(document, path=path)
            if obj is None:
                continue
            if strategy == requests.PostRenderStrategy.NO_HOOKS and _is_hook(obj):
                untouched.setdefault(path, []).append(document)
                continue
            everything.append((path, obj))
            (hooks if _is_hook(obj) else others).append((path, obj))
    if strategy == requests.PostRenderStrategy.SEPARATE:
        rendered = [*await _run(hooks, chain), *await _run(others, chain)]
    else:
        rendered = await _run(everything, chain)
    out: dict[str, list[str]] = {path: list(documents) for path, documents in untouched.items()}
    for path, obj in rendered:
        out.setdefault(path, []).append(manifests.dump(obj))
    return {path: "\n---\n".join(documents) for path, documents in out.items()}
