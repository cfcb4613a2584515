"""Where a HelmRelease's chart comes from, and the chart itself.

Two ways to name a chart, exclusive (the CRD refuses both or neither):

- ``spec.chart``, a template: the controller owns a HelmChart named
  ``<namespace>-<name>`` in the source's namespace (``template_manifest``
  builds it, with the owner labels ``helm.toolkit.fluxcd.io/name`` and
  ``/namespace``) and releases that HelmChart's artifact. The HelmChart's
  spec follows the template; it is deleted with the HelmRelease or when the
  release switches to ``chartRef``;
- ``spec.chartRef``: an OCIRepository, a HelmChart or an ExternalArtifact
  whose artifact is the chart (a packaged ``.tgz``, or a tar.gz of the chart
  directory).

``not_ready`` says, in Flux's words, why a source cannot be used yet (a
generation not reconciled, stalled, no artifact). ``versioned`` appends the
first 12 hex digits of an OCI digest to the chart version
(``6.0.0+abcdef012345``) for OCIRepository and digest-revision
ExternalArtifact sources, as Flux does, so that a re-pushed tag is a new
release; ``with_version`` writes that version into the chart's ``Chart.yaml``
before it is loaded. ``Loader`` downloads an artifact (digest verified, through
``shared.artifacts.fetching``) and loads it with the engine's Helm SDK
loader; the archive
bytes are cached by digest, so a reconcile of an unchanged chart downloads
nothing.
"""

from __future__ import annotations

import asyncio
import collections
import copy
import dataclasses
import io
import pathlib
import tarfile
import tempfile
from collections.abc import Mapping
from typing import Any

import aiohttp
import helm_python
import yaml

from controllers.helm.engine import charts as engine_charts
from controllers.helm.engine import failures
from shared.api import helm, meta, semverranges, source
from shared.artifacts import errors as artifact_errors
from shared.artifacts import extracting, fetching

OWNER_NAME_LABEL = f"{helm.GROUP}/name"
OWNER_NAMESPACE_LABEL = f"{helm.GROUP}/namespace"
DIGEST_KINDS = frozenset({"OCIRepository"})
CACHE_SIZE = 32


class ChartError(Exception):
    """The chart cannot be obtained or loaded; ``missing`` when the artifact is gone (a 404)."""

    def __init__(self, message: str, *, missing: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.missing = missing


@dataclasses.dataclass(frozen=True)
class SourceRef:
    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}"


def template_name(obj: helm.HelmRelease) -> str:
    """The generated HelmChart's name: ``<namespace>-<name>`` of the HelmRelease."""
    return f"{obj.metadata.namespace}-{obj.metadata.name}"


def template_namespace(obj: helm.HelmRelease) -> str:
    """The generated HelmChart's namespace: the template source's, else the HelmRelease's."""
    template = obj.spec.chart
    namespace = template.spec.source_ref.namespace if template is not None else None
    return namespace or obj.metadata.namespace or "default"


def source_of(obj: helm.HelmRelease) -> SourceRef:
    """The object whose artifact is the chart."""
    own = obj.metadata.namespace or "default"
    if obj.spec.chart_ref is not None:
        ref = obj.spec.chart_ref
        return SourceRef(ref.kind, ref.namespace or own, ref.name)
    return SourceRef("HelmChart", template_namespace(obj), template_name(obj))


def template_manifest(obj: helm.HelmRelease) -> dict[str, Any]:
    """The HelmChart ``spec.chart`` describes, as applied (with the owner labels)."""
    template = obj.spec.chart
    if template is None:
        raise ValueError("the HelmRelease has no chart template")
    spec = template.spec
    chart_spec: dict[str, Any] = {
        "chart": spec.chart,
        "version": spec.version,
        "sourceRef": {"kind": spec.source_ref.kind, "name": spec.source_ref.name},
        "interval": spec.interval or obj.spec.interval,
        "reconcileStrategy": spec.reconcile_strategy,
    }
    if spec.values_files is not None:
        chart_spec["valuesFiles"] = list(spec.values_files)
    if spec.ignore_missing_values_files is not None:
        chart_spec["ignoreMissingValuesFiles"] = spec.ignore_missing_values_files
    if spec.verify is not None:
        verify: dict[str, Any] = {"provider": spec.verify.provider}
        if spec.verify.secret_ref is not None:
            verify["secretRef"] = {"name": spec.verify.secret_ref.name}
        chart_spec["verify"] = verify
    labels = dict((template.metadata.labels if template.metadata else None) or {})
    labels[OWNER_NAME_LABEL] = obj.metadata.name or ""
    labels[OWNER_NAMESPACE_LABEL] = obj.metadata.namespace or "default"
    metadata: dict[str, Any] = {
        "name": template_name(obj),
        "namespace": template_namespace(obj),
        "labels": labels,
    }
    annotations = template.metadata.annotations if template.metadata else None
    if annotations:
        metadata["annotations"] = dict(annotations)
    return {
        "apiVersion": source.API_VERSION,
        "kind": "HelmChart",
        "metadata": metadata,
        "spec": chart_spec,
    }


def _condition(found: Mapping[str, Any], type_: str) -> Mapping[str, Any] | None:
    for condition in (found.get("status") or {}).get("conditions") or []:
        if condition.get("type") == type_:
            return dict(condition)
    return None


def not_ready(ref: SourceRef, found: Mapping[str, Any]) -> str | None:
    """Why the source ``found`` (as JSON) cannot be released yet; None when it can."""
    status = found.get("status") or {}
    prefix = f"{ref.kind} '{ref.namespace}/{ref.name}' is not ready"
    if ref.kind == "ExternalArtifact":
        return None if status.get("artifact") else f"{prefix}: does not have an artifact"
    if found.get("metadata", {}).get("generation") != status.get("observedGeneration"):
        ready = _condition(found, meta.READY)
        message = "latest generation of object has not been reconciled"
        if ready is not None and ready.get("status") == "False":
            message = str(ready.get("message", ""))
        return f"{prefix}: {message}"
    stalled = _condition(found, meta.STALLED)
    if stalled is not None and stalled.get("status") == "True":
        return f"{prefix}: {stalled.get('message', '')}"
    if not status.get("artifact"):
        return f"{prefix}: does not have an artifact"
    return None


def versioned(chart_version: str, ref: SourceRef, revision: str) -> tuple[str, str | None]:
    """``(version, oci digest)``: the chart version with the source digest, when it has one.

    ``ChartError`` when an OCI tag that is a version differs from the chart's
    version, or the revision carries no usable digest (Flux's ChartMutateError).
    """
    if ref.kind not in DIGEST_KINDS and not (ref.kind == "ExternalArtifact" and ":" in revision):
        return chart_version, None
    version = semverranges.parse_version(chart_version)
    if version is None:
        raise ChartError(f"invalid chart version {chart_version}")
    tag, _, digest = revision.rpartition("@")
    tag_version = semverranges.parse_version(tag.replace("_", "+")) if tag else None
    if tag_version is not None:
        if tag_version.replace(build=None) != version.replace(build=None) or not digest:
            raise ChartError(
                f"artifact revision {tag} does not match chart version {chart_version}"
            )
    else:
        digest = revision
    algorithm, _, hex_digest = digest.partition(":")
    if not algorithm or len(hex_digest) < 12:
        raise ChartError(f"invalid artifact revision {revision}")
    return str(version.replace(build=hex_digest[:12])), digest


def with_version(archive: bytes, version: str) -> bytes:
    """The chart archive with ``version`` in its top-level ``Chart.yaml`` (Flux's chart mutation).

    Every other member is copied unchanged; ``ChartError`` when there is no
    top-level ``Chart.yaml``.
    """
    output = io.BytesIO()
    found = False
    with (
        tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as source,
        tarfile.open(fileobj=output, mode="w:gz") as target,
    ):
        for member in source.getmembers():
            parts = member.name.strip("/").split("/")
            content = source.extractfile(member) if member.isfile() else None
            if content is not None and len(parts) == 2 and parts[1] == "Chart.yaml" and not found:
                metadata = yaml.safe_load(content.read()) or {}
                metadata["version"] = version
                text = yaml.safe_dump(metadata, sort_keys=False).encode()
                member = copy.copy(member)
                member.size = len(text)
                target.addfile(member, io.BytesIO(text))
                found = True
                continue
            target.addfile(member, content)
    if not found:
        raise ChartError("Chart.yaml file is missing")
    return output.getvalue()


class Loader:
    """Downloads and loads chart artifacts (see the module docstring)."""

    def __init__(
        self,
        *,
        session: aiohttp.ClientSession,
        retry: fetching.RetryPolicy | None = None,
        max_size: int = extracting.DEFAULT_MAX_TOTAL_SIZE,
    ) -> None:
        self._session = session
        self._retry = retry
        self._max_size = max_size
        self._archives: collections.OrderedDict[str, bytes] = collections.OrderedDict()

    async def archive(self, artifact: meta.Artifact) -> bytes:
        """The artifact's bytes, digest verified; from the cache when seen before."""
        digest = artifact.digest or ""
        cached = self._archives.get(digest)
        if cached is not None:
            self._archives.move_to_end(digest)
            return cached
        with tempfile.TemporaryDirectory(prefix="chart-") as directory:
            path = pathlib.Path(directory) / "chart.tgz"
            try:
                await fetching.download(
                    self._session,
                    artifact.url,
                    path,
                    expected_digest=artifact.digest,
                    max_size=self._max_size,
                    retry=self._retry,
                )
            except artifact_errors.ArtifactNotFoundError as missing:
                raise ChartError(str(missing), missing=True) from missing
            except artifact_errors.ArtifactError as failed:
                raise ChartError(
                    f"failed to download artifact from {artifact.url}: {failed}"
                ) from failed
            data = await asyncio.to_thread(path.read_bytes)
        if digest:
            self._archives[digest] = data
            while len(self._archives) > CACHE_SIZE:
                self._archives.popitem(last=False)
        return data

    async def load(
        self, artifact: meta.Artifact, *, version: str | None = None
    ) -> helm_python.Chart:
        """The chart of ``artifact``, loaded by the Helm SDK (the caller closes it).

        ``version`` replaces the chart's own (``versioned``) in its ``Chart.yaml``.
        """
        data = await self.archive(artifact)
        if version is not None:
            data = await asyncio.to_thread(with_version, data, version)
        try:
            return await engine_charts.load(data)
        except failures.ChartError as invalid:
            raise ChartError(f"Could not load chart: {invalid.message}") from invalid
