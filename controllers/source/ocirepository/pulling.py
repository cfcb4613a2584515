"""From an OCIRepository spec to a stored artifact, with as few requests as possible.

``resolve`` turns ``spec.ref`` into a digest: ``digest`` as given (no
request), ``semver`` (tags listed, filtered by ``semverFilter``, the highest
version matching the range) or ``tag`` (``latest`` by default), each tag
resolved with one ``HEAD`` of its manifest. The revision is Flux's
``<tag>@sha256:<hex>`` (just the digest for a digest ref).

``pull`` fetches the manifest (the ``linux/amd64`` entry of an index, else
its first), selects the layer (``layerSelector.mediaType``, else the first
layer) and either extracts it (a tar+gzip) and archives it again with the
ignore rules, or copies it unchanged (``operation: copy``). The artifact's
metadata are the manifest's annotations. Failures leave as ``PullError``
carrying the condition reason (and whether retrying can help).
"""

from __future__ import annotations

import asyncio
import dataclasses
import pathlib
import re
import shutil
import tempfile
from typing import Final

from shared.api import meta, source, source_conditions
from shared.api import semverranges as constraints
from shared.artifacts import errors as artifact_errors
from shared.artifacts import extracting, ignoring, storage
from shared.oci import client, errors, manifests, references

DEFAULT_TAG: Final = "latest"
_PLATFORM: Final = {"os": "linux", "architecture": "amd64"}


class PullError(Exception):
    """A failure to resolve, pull or store; ``reason`` is the condition reason."""

    def __init__(
        self,
        message: str,
        *,
        reason: str = source_conditions.OCI_PULL_FAILED_REASON,
        storage: bool = False,
        stalling: bool = False,
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.storage = storage
        """True when the failure is storage's (``StorageOperationFailed``)."""
        self.stalling = stalling


@dataclasses.dataclass(frozen=True)
class Resolved:
    """Where ``spec.ref`` points now."""

    reference: references.Reference
    tag: str
    digest: str

    @property
    def revision(self) -> str:
        return f"{self.tag}@{self.digest}" if self.tag else self.digest


def parse_url(url: str) -> references.Reference:
    """The repository of ``spec.url``; a tag or digest in it stalls (they belong in ref)."""
    try:
        reference = references.parse(url)
    except errors.ConfigurationError as exc:
        raise PullError(
            str(exc), reason=source_conditions.URL_INVALID_REASON, stalling=True
        ) from exc
    if reference.tag or reference.digest:
        raise PullError(
            f"URL '{url}' must not carry a tag or digest; set spec.ref",
            reason=source_conditions.URL_INVALID_REASON,
            stalling=True,
        )
    return reference


async def resolve(
    oci: client.Client, reference: references.Reference, ref: source.OCIRepositoryRef | None
) -> Resolved:
    """The tag and digest ``ref`` selects (see the module docstring)."""
    ref = ref or source.OCIRepositoryRef()
    if ref.digest:
        return Resolved(reference=reference, tag="", digest=ref.digest)
    tag = ref.tag or DEFAULT_TAG
    if ref.semver:
        tag = pick_semver(
            await oci.list_tags(reference.repository), ref.semver, ref.semver_filter, str(reference)
        )
    descriptor = await oci.head_manifest(reference.repository, tag)
    return Resolved(reference=reference, tag=tag, digest=descriptor.digest)


def pick_semver(tags: list[str], semver: str, semver_filter: str | None, url: str) -> str:
    """The tag with the highest version in ``semver`` among those ``semver_filter`` matches."""
    try:
        constraint = constraints.parse(semver)
    except ValueError as exc:
        raise PullError(f"semver '{semver}': {exc}", stalling=True) from exc
    try:
        pattern = re.compile(semver_filter) if semver_filter else None
    except re.error as exc:
        raise PullError(f"semverFilter '{semver_filter}': {exc}", stalling=True) from exc
    best: tuple[object, str] | None = None
    for tag in tags:
        if pattern is not None and not pattern.search(tag):
            continue
        version = constraints.parse_version(tag)
        if version is None or not constraint.allows(version):
            continue
        if best is None or version > best[0]:  # type: ignore[operator]
            best = (version, tag)
    if best is None:
        raise PullError(f"no tag of '{url}' matches semver '{semver}'")
    return best[1]


async def manifest_of(oci: client.Client, resolved: Resolved) -> manifests.Manifest:
    """The image manifest at the resolved digest (an index's linux/amd64 entry, or its first)."""
    repository = resolved.reference.repository
    manifest = await oci.get_manifest(repository, resolved.digest)
    if manifest.is_index:
        children = manifest.children
        if not children:
            raise PullError(f"'{resolved.reference}@{resolved.digest}' is an empty index")
        chosen = next(
            (
                c
                for c in children
                if c.platform and all(c.platform.get(k) == v for k, v in _PLATFORM.items())
            ),
            children[0],
        )
        manifest = await oci.get_manifest(repository, chosen.digest)
    return manifest


def select_layer(
    manifest: manifests.Manifest, selector: source.OCILayerSelector | None
) -> manifests.Descriptor:
    """The layer ``selector.mediaType`` names (its first), or the first layer."""
    layers = manifest.layers
    wanted = selector.media_type if selector is not None else None
    for layer in layers:
        if wanted is None or layer.media_type == wanted:
            return layer
    raise PullError(
        f"no layer with media type '{wanted}' in the artifact"
        if wanted
        else "the artifact has no layers",
        reason=source_conditions.OCI_LAYER_OPERATION_FAILED_REASON,
    )


async def pull(
    oci: client.Client,
    *,
    store: storage.Storage,
    key: storage.ObjectKey,
    resolved: Resolved,
    manifest: manifests.Manifest,
    spec: source.OCIRepositorySpec,
) -> tuple[meta.Artifact, list[str]]:
    """Fetch the selected layer and store it as the artifact; also the garbage collected."""
    layer = select_layer(manifest, spec.layer_selector)
    copy = spec.layer_selector is not None and spec.layer_selector.operation == "copy"
    limits = extracting.Limits(
        max_total_size=store.max_artifact_size or extracting.DEFAULT_MAX_TOTAL_SIZE
    )
    workdir = pathlib.Path(tempfile.mkdtemp(prefix="headwater-ocirepo-"))
    try:
        blob = workdir / "layer"
        await oci.fetch_blob(
            resolved.reference.repository, layer.digest, blob, max_size=limits.max_download_size
        )
        revision = resolved.revision
        try:
            if not copy:
                tree = workdir / "tree"
                await asyncio.to_thread(extracting.extract, blob, tree, limits=limits)
                matcher = await asyncio.to_thread(
                    ignoring.source_matcher, tree, spec_ignore=spec.ignore
                )
        except artifact_errors.ArtifactError as exc:
            raise PullError(
                f"extracting layer {layer.digest}: {exc}",
                reason=source_conditions.OCI_LAYER_OPERATION_FAILED_REASON,
            ) from exc
        try:
            async with store.lock(key):
                if copy:
                    artifact = await store.store_file(
                        key,
                        source=blob,
                        filename=f"{layer.digest.partition(':')[2]}.tgz",
                        revision=revision,
                    )
                else:
                    artifact = await store.archive(
                        key, source=tree, revision=revision, exclude=matcher
                    )
                deleted = await store.garbage_collect(artifact)
        except artifact_errors.ArtifactError as exc:
            raise PullError(
                f"storing {revision}: {exc}",
                reason=source_conditions.ARCHIVE_OPERATION_FAILED_REASON,
                storage=True,
            ) from exc
    finally:
        await asyncio.to_thread(shutil.rmtree, workdir, ignore_errors=True)
    annotations = manifest.annotations
    if annotations:
        artifact = artifact.model_copy(update={"metadata": dict(annotations)})
    return artifact, deleted
