"""source.extensions.fluxcd.io/v1beta1: ArtifactGenerator (Flux's source-watcher API).

An ArtifactGenerator reads the artifacts of other sources (by alias) and
composes or splits them into new artifacts, each published as an
ExternalArtifact (``source.toolkit.fluxcd.io/v1``) that it owns. Copy rules
go from ``@<alias>/<glob>`` to ``@artifact/<path>``.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

import pydantic

from shared.api import meta, objects, status, validation

GROUP = "source.extensions.fluxcd.io"
VERSION = "v1beta1"
API_VERSION = f"{GROUP}/{VERSION}"
CATEGORIES = ("all", "fluxcd", "fluxcd-sources")

FINALIZER = "source.extensions.fluxcd.io/finalizer"
GENERATOR_LABEL = "source.extensions.fluxcd.io/generator"
"""On each generated ExternalArtifact: the UID of the ArtifactGenerator that owns it."""
ORIGIN_REVISION_ANNOTATION = "org.opencontainers.image.revision"
"""Artifact metadata key carrying the origin revision (e.g. a Git commit) of the source."""
RECONCILE_ANNOTATION = "source.extensions.fluxcd.io/reconcile"
"""``disabled`` stops reconciliation of the generator (Flux's suspend for this kind)."""
DISABLED_VALUE = "disabled"
ENABLED_VALUE = "enabled"

RECONCILIATION_DISABLED_REASON = "ReconciliationDisabled"
ACCESS_DENIED_REASON = "AccessDenied"
VALIDATION_FAILED_REASON = "ValidationFailed"
SOURCE_FETCH_FAILED_REASON = "SourceFetchFailed"

OVERWRITE_STRATEGY = "Overwrite"
MERGE_STRATEGY = "Merge"
EXTRACT_STRATEGY = "Extract"

ALIAS_PATTERN = r"^[a-z0-9]([a-z0-9_-]*[a-z0-9])?$"
_ALIAS_REF_PATTERN = r"^@([a-z0-9]([a-z0-9_-]*[a-z0-9])?)$"
_ALIAS_PATH_PATTERN = r"^@([a-z0-9]([a-z0-9_-]*[a-z0-9])?)/(.*)$"
_ARTIFACT_PATH_PATTERN = r"^@(artifact)/(.*)$"
_NAME_RULE = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"


class CommonMetadata(objects.ApiModel):
    """Labels and annotations put on every generated ExternalArtifact."""

    annotations: dict[str, str] | None = None
    """Annotations added to the object's metadata."""
    labels: dict[str, str] | None = None
    """Labels added to the object's metadata."""


class SourceReference(objects.ApiModel):
    """A source-controller object whose artifact the generator reads, under an alias."""

    alias: Annotated[str, pydantic.Field(pattern=ALIAS_PATTERN, max_length=63)]
    """The source's name inside this generator, unique per generator."""
    name: Annotated[str, pydantic.Field(pattern=r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$", max_length=253)]
    """Name of the source."""
    namespace: (
        Annotated[
            str,
            pydantic.Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", min_length=1, max_length=63),
        ]
        | None
    ) = None
    """Namespace of the source; the generator's own by default."""
    kind: Literal["Bucket", "GitRepository", "OCIRepository", "HelmChart", "ExternalArtifact"]
    """Kind of the source."""


class CopyOperation(objects.ApiModel):
    """Files copied from a source into the generated artifact."""

    from_: Annotated[
        str,
        pydantic.Field(alias="from", pattern=_ALIAS_PATH_PATTERN, min_length=1, max_length=1024),
    ]
    """``@<alias>/<glob>``: the source and the files to copy."""
    to: Annotated[
        str, pydantic.Field(pattern=_ARTIFACT_PATH_PATTERN, min_length=1, max_length=1024)
    ]
    """``@artifact/<path>``: where they go in the generated artifact."""
    exclude: Annotated[list[str], pydantic.Field(max_length=100)] | None = None
    """Globs of files and directories matched by ``from`` to leave out."""
    strategy: Literal["Overwrite", "Merge", "Extract"] | None = None
    """Overwrite (default) replaces files, Merge deep-merges YAML files (Helm values
    semantics), Extract unpacks tarballs (.tar.gz, .tgz)."""


class OutputArtifact(objects.ApiModel):
    """One generated artifact, published as an ExternalArtifact of this name."""

    name: Annotated[str, pydantic.Field(min_length=1, max_length=253)]
    """Name of the generated ExternalArtifact."""
    revision: Annotated[str, pydantic.Field(pattern=_ALIAS_REF_PATTERN, max_length=64)] | None = (
        None
    )
    """``@<alias>``: take that source's revision; by default the digest of the content."""
    origin_revision: (
        Annotated[str, pydantic.Field(pattern=_ALIAS_REF_PATTERN, max_length=64)] | None
    ) = None
    """``@<alias>``: put that source's origin revision in the artifact's metadata."""
    copy_: Annotated[list[CopyOperation], pydantic.Field(alias="copy", min_length=1)]
    """Copy operations, in order; later ones overwrite earlier files."""


class ArtifactGeneratorSpec(objects.ApiModel):
    """The sources read and the artifacts generated from them."""

    cel_rules = (
        validation.CelRule(
            rule=(
                "has(self.pathPattern) && size(self.pathPattern) > 0 || "
                f"self.artifacts.all(a, a.name.matches('{_NAME_RULE}'))"
            ),
            message=(
                "artifact names must be valid Kubernetes object names when pathPattern is not set"
            ),
        ),
    )

    common_metadata: CommonMetadata | None = None
    """Labels and annotations for every generated object (they override existing keys)."""
    sources: Annotated[list[SourceReference], pydantic.Field(min_length=1, max_length=1000)]
    """The sources, by alias."""
    path_pattern: (
        Annotated[str, pydantic.Field(pattern=_ALIAS_PATH_PATTERN, max_length=1024)] | None
    ) = None
    """``@<alias>/<pattern>`` with named captures (``{app}``) usable in the artifacts."""
    artifacts: Annotated[list[OutputArtifact], pydantic.Field(min_length=1, max_length=1000)]
    """The artifacts to generate."""

    _disabled: bool = pydantic.PrivateAttr(default=False)

    @property
    def suspend(self) -> bool:
        """True when the generator carries ``source.extensions.fluxcd.io/reconcile: disabled``.

        The kind has no ``spec.suspend``: Flux pauses it by that annotation, which
        ``ArtifactGenerator`` copies here so the reconcile skeleton's suspend check applies.
        """
        return self._disabled


class ExternalArtifactReference(objects.ApiModel):
    """A generated ExternalArtifact and the digest of its content."""

    name: str
    """Name of the ExternalArtifact."""
    namespace: str
    """Namespace of the ExternalArtifact."""
    digest: str
    """Digest of its artifact."""
    filename: str
    """File name of its artifact in storage."""


class ArtifactGeneratorStatus(status.ObjectStatus):
    """What the generator last published."""

    describes: ClassVar[str] = "ArtifactGenerator"

    inventory: list[ExternalArtifactReference] | None = None
    """The generated ExternalArtifacts."""
    observed_sources_digest: str | None = None
    """A digest of the sources' artifacts (digest, revision, URL) last generated from."""


class ArtifactGenerator(objects.ApiObject):
    """Composes or splits source artifacts into ExternalArtifacts."""

    crd: ClassVar[objects.CrdInfo] = objects.CrdInfo(
        group=GROUP,
        version=VERSION,
        kind="ArtifactGenerator",
        plural="artifactgenerators",
        singular="artifactgenerator",
        short_names=("ag",),
        categories=CATEGORIES,
        printer_columns=(objects.AGE_COLUMN, *objects.ready_columns()),
        annotations=meta.CRD_ANNOTATIONS,
    )

    api_version: Literal["source.extensions.fluxcd.io/v1beta1"] = (
        "source.extensions.fluxcd.io/v1beta1"
    )
    kind: Literal["ArtifactGenerator"] = "ArtifactGenerator"
    spec: ArtifactGeneratorSpec
    status: ArtifactGeneratorStatus | None = None

    def model_post_init(self, context: object, /) -> None:
        self.spec._disabled = is_disabled(self.metadata.annotations)


def is_disabled(annotations: dict[str, str] | None) -> bool:
    """Whether ``annotations`` disable reconciliation (the value compared case-insensitively)."""
    return (annotations or {}).get(RECONCILE_ANNOTATION, "").lower() == DISABLED_VALUE
