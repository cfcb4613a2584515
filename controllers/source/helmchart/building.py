"""What a HelmChart build produces, whatever the source: ``Build`` and its packaging.

- ``Build``: the chart's name and version, whether it was packaged here, the
  values files merged, and the ``.tgz`` to store (None when the stored
  artifact is this build already); ``summary()`` is Flux's
  ``Build.Summary`` ("pulled 'x' chart with version 'y'").
- ``version_metadata(obj, revision)``: Flux's build metadata — the first 12
  of the source revision with ``reconcileStrategy: Revision`` (Git and Bucket
  sources only), then the generation when there are values files.
- ``unchanged(obj, name, target, …)``: the build when the stored artifact is
  that chart version already (no new content).
- ``from_download(obj, data, name=, version=, build_metadata=, limits=, tar=)``:
  a chart fetched from a repository or a registry, kept byte for byte when
  nothing changes it (after checking, from its headers and ``Chart.yaml``,
  that Helm would load it), else merged and packaged again.
- ``package(chart, obj, build_metadata, tree, limits)``: merge the values
  files, set the version metadata, package.

Blocking work: the caller runs ``from_download`` and ``package`` in a thread.
"""

from __future__ import annotations

import dataclasses

from controllers.source.helm import charts, errors
from shared.api import source, source_conditions
from shared.artifacts import staging


@dataclasses.dataclass
class Build:
    """What the chart step decided: the chart's name and version, and new content if any."""

    name: str
    version: str
    packaged: bool
    values_files: list[str]
    data: bytes | None = None
    """The ``.tgz`` to store; None when the stored artifact is this build already."""
    staged: staging.Staged | None = None
    """``data`` written to storage already (a registry layer, as it arrived), if so."""
    verified: bool = False
    """The chart's signature was verified (``spec.verify``)."""

    def summary(self) -> str:
        """Flux's ``Build.Summary``."""
        action = "packaged" if self.packaged else "pulled"
        text = f"{action} '{self.name}' chart with version '{self.version}'"
        if self.values_files:
            text += f" and merged values files [{' '.join(self.values_files)}]"
        return text

    @property
    def reason(self) -> str:
        """``ChartPackageSucceeded`` or ``ChartPullSucceeded``."""
        if self.packaged:
            return source_conditions.CHART_PACKAGE_SUCCEEDED_REASON
        return source_conditions.CHART_PULL_SUCCEEDED_REASON


def version_metadata(obj: source.HelmChart, source_revision: str) -> str:
    """Flux's build metadata: the short source revision (Revision strategy), the generation."""
    parts = []
    kind = obj.spec.source_ref.kind
    # NB: as in Flux, the Revision strategy applies to Git and Bucket sources only.
    if obj.spec.reconcile_strategy == "Revision" and kind in ("GitRepository", "Bucket"):
        parts.append(source_revision.rsplit(":", 1)[-1][:12])
    if obj.spec.values_files:
        parts.append(str(obj.metadata.generation or 0))
    return ".".join(parts)


def target_version(version: str, build_metadata: str) -> str:
    """The artifact revision of chart ``version`` built with ``build_metadata``."""
    return f"{version.split('+', 1)[0]}+{build_metadata}" if build_metadata else version


def unchanged(
    obj: source.HelmChart,
    name: str,
    target: str,
    *,
    packaged: bool,
    cached_values_files: list[str] | None,
    verified: bool = False,
) -> Build:
    """The build when the stored artifact is chart ``name`` at ``target`` already (no content).

    Its values files are those the stored artifact was built with
    (``cached_values_files``), else the spec's.
    """
    return Build(
        name=name,
        version=target,
        packaged=packaged,
        values_files=list(cached_values_files or obj.spec.values_files or []),
        verified=verified,
    )


def load_archive(data: bytes, limits: charts.Limits, tar: bytes | None = None) -> charts.Chart:
    """A downloaded chart, or ``BuildError`` (``ChartPackageError``) when Helm would refuse it."""
    try:
        return charts.from_archive(data, limits, tar=tar)
    except errors.BuildError:
        raise
    except errors.HelmError as failure:
        raise errors.BuildError(
            errors.CHART_PACKAGE, f"failed to load downloaded chart: {failure.message}"
        ) from failure


def from_download(
    obj: source.HelmChart,
    data: bytes,
    *,
    name: str,
    version: str,
    build_metadata: str,
    limits: charts.Limits,
    tar: bytes | None = None,
) -> Build:
    """The build of chart ``name`` ``version`` as downloaded (see the module docstring).

    ``tar`` is ``data`` inflated already, when the download did it.
    """
    if not build_metadata:
        # NB: kept byte for byte, so only its headers and Chart.yaml need reading.
        charts.check_archive(data, limits, tar=tar)
        return Build(name=name, version=version, packaged=False, values_files=[], data=data)
    chart = load_archive(data, limits, tar)
    # NB: as Flux does, the version resolved in the repository is the chart's.
    chart.metadata["version"] = version
    return package(chart, obj, build_metadata, None)


def package(
    chart: charts.Chart,
    obj: source.HelmChart,
    build_metadata: str,
    tree: dict[str, bytes] | None,
) -> Build:
    """Merge ``obj``'s values files (of the chart, or of ``tree``), set the metadata, package."""
    chart.merge_values(
        list(obj.spec.values_files or []),
        base=tree,
        ignore_missing=bool(obj.spec.ignore_missing_values_files),
    )
    if build_metadata:
        chart.set_version_metadata(build_metadata)
    return Build(
        name=chart.name,
        version=chart.version,
        packaged=True,
        values_files=chart.values_files,
        data=chart.package(),
    )
