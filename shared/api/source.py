"""source.toolkit.fluxcd.io/v1: where desired state comes from.

Kinds: GitRepository, OCIRepository, HelmRepository, HelmChart, Bucket,
ExternalArtifact. The condition types and reasons the source-controller sets
(fluxcd/source-controller api/v1) are in ``source_conditions``.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

import pydantic

from shared.api import meta, objects, status, validation

GROUP = "source.toolkit.fluxcd.io"
VERSION = "v1"
API_VERSION = f"{GROUP}/{VERSION}"
CATEGORIES = ("all", "fluxcd", "fluxcd-sources")

# Headwater extension: artifact metadata keys naming the commit an artifact was
# built from, so that appliers can put who changed what, and why, in their events.
ARTIFACT_COMMIT_SUBJECT_KEY = "source.headwater.dev/commit-subject"
ARTIFACT_COMMIT_AUTHOR_KEY = "source.headwater.dev/commit-author"

# --- GitRepository -----------------------------------------------------------------------

GIT_URL_PATTERN = r"^(http|https|ssh)://.*$"


class GitRepositoryRef(objects.ApiModel):
    """The Git reference to check out; precedence commit > name > semver > tag > branch."""

    branch: str | None = None
    """Branch to check out; master when no other field is set."""
    tag: str | None = None
    """Tag to check out; takes precedence over branch."""
    semver: str | None = None
    """Semver range over the tags; the highest match is checked out."""
    name: str | None = None
    """Fully qualified reference (refs/heads/main, refs/pull/1/head)."""
    commit: str | None = None
    """Exact commit SHA; combined with branch, the branch must contain it."""


class GitRepositoryVerification(objects.ApiModel):
    """OpenPGP or SSH signature verification of the checked-out objects."""

    mode: Literal["head", "HEAD", "Tag", "TagAndHEAD"] = "HEAD"
    """What to verify: the HEAD commit, the tag object, or both (head is a legacy alias)."""
    secret_ref: meta.LocalObjectReference
    """Secret with trusted keys: PGP keys under *.asc keys, SSH keys under *.sshpub."""


class GitRepositoryInclude(objects.ApiModel):
    """Another GitRepository whose artifact is copied into this one."""

    repository: meta.LocalObjectReference
    """The GitRepository to include, in the same namespace."""
    from_path: str | None = None
    """Path inside the included artifact to copy; the artifact root by default."""
    to_path: str | None = None
    """Destination path in this artifact; the included repository's name by default."""


class GitRepositorySpec(objects.ApiModel):
    """How to fetch a Git repository and which files to publish."""

    cel_rules = (
        validation.CelRule(
            rule=(
                "!has(self.serviceAccountName) || (has(self.provider) && "
                "(self.provider == 'azure' || self.provider == 'aws'))"
            ),
            message="serviceAccountName can only be set when provider is 'azure' or 'aws'",
        ),
    )

    url: Annotated[str, pydantic.Field(pattern=GIT_URL_PATTERN)]
    """Repository URL: http://, https:// or ssh://."""
    secret_ref: meta.LocalObjectReference | None = None
    """Secret with credentials: username/password, bearerToken, identity/known_hosts, TLS keys."""
    provider: Literal["generic", "aws", "azure", "github"] | None = None
    """How to authenticate; empty means generic (the Secret's contents)."""
    service_account_name: str | None = None
    """ServiceAccount for cloud workload identity (providers azure and aws)."""
    interval: meta.Interval
    """How often to check the remote for new commits."""
    timeout: meta.Timeout = "60s"
    """Timeout for Git operations such as clone."""
    ref: GitRepositoryRef | None = None
    """Which reference to check out; branch master when absent."""
    verify: GitRepositoryVerification | None = None
    """Signature verification of the checked-out commit and/or tag."""
    proxy_secret_ref: meta.LocalObjectReference | None = None
    """Secret with proxy settings: address, optional username and password."""
    ignore: str | None = None
    """.sourceignore patterns replacing the default exclusions (Flux keeps the VCS ones)."""
    suspend: bool | None = None
    """Pause reconciliation."""
    recurse_submodules: bool | None = None
    """Also clone the repository's submodules."""
    include: list[GitRepositoryInclude] | None = None
    """Other GitRepositories whose artifacts are copied into this one."""
    sparse_checkout: list[str] | None = None
    """Check out only these directories."""


class GitRepositoryStatus(status.ArtifactSourceStatus):
    """The observed state of a GitRepository."""

    describes = "GitRepository"

    included_artifacts: list[meta.Artifact] | None = None
    """The artifacts of the included GitRepositories used for the artifact."""
    observed_ignore: str | None = None
    """The spec.ignore used for the artifact."""
    observed_recurse_submodules: bool | None = None
    """The spec.recurseSubmodules used for the artifact."""
    observed_include: list[GitRepositoryInclude] | None = None
    """The spec.include used for the artifact."""
    observed_sparse_checkout: list[str] | None = None
    """The spec.sparseCheckout used for the artifact."""
    source_verification_mode: str | None = None
    """What was last verified: HEAD, Tag or TagAndHEAD."""


class GitRepository(objects.ApiObject):
    """A Git repository the source-controller fetches and packages as an artifact."""

    crd: ClassVar[objects.CrdInfo] = objects.CrdInfo(
        group=GROUP,
        version=VERSION,
        kind="GitRepository",
        plural="gitrepositories",
        singular="gitrepository",
        short_names=("gitrepo",),
        categories=CATEGORIES,
        printer_columns=(
            objects.PrinterColumn(name="URL", type="string", json_path=".spec.url"),
            objects.AGE_COLUMN,
            *objects.ready_columns(),
        ),
        status_default=meta.CRD_STATUS_DEFAULT,
        annotations=meta.CRD_ANNOTATIONS,
    )

    api_version: Literal["source.toolkit.fluxcd.io/v1"] = "source.toolkit.fluxcd.io/v1"
    kind: Literal["GitRepository"] = "GitRepository"
    spec: GitRepositorySpec
    status: GitRepositoryStatus | None = None


# --- shared by OCIRepository, HelmRepository and HelmChart -------------------------------

OciProvider = Literal["generic", "aws", "azure", "gcp"]
"""Where registry credentials come from: static (generic) or a cloud identity."""


class OIDCIdentityMatch(objects.ApiModel):
    """Regexes a keyless (Fulcio) signing certificate's identity must match."""

    issuer: str
    """Go regex matched against the OIDC issuer of the certificate."""
    subject: str
    """Go regex matched against the identity subject of the certificate."""


class HelmChartVerification(objects.ApiModel):
    """Cosign or Notation signature verification of an OCI artifact."""

    required_with_default = ("provider",)

    provider: Literal["cosign", "notation"] = "cosign"
    """The signing technology to verify."""
    secret_ref: meta.LocalObjectReference | None = None
    """Secret with trusted public keys (cosign) or trust policy and CA certificates (notation)."""
    match_oidc_identity: list[OIDCIdentityMatch] | None = pydantic.Field(
        default=None, alias="matchOIDCIdentity"
    )
    """Identities accepted for keyless cosign signatures; any one match suffices."""


class OCIRepositoryVerification(HelmChartVerification):
    """Signature verification of an OCI artifact, optionally against a private Sigstore."""

    trusted_root_secret_ref: meta.LocalObjectReference | None = None
    """Secret with a trusted_root.json for a self-hosted Sigstore (Fulcio and Rekor)."""


# --- OCIRepository -----------------------------------------------------------------------

OCI_URL_PATTERN = r"^oci://.*$"


class OCIRepositoryRef(objects.ApiModel):
    """The OCI reference to pull; precedence digest > semver > tag."""

    digest: str | None = None
    """Exact manifest digest (sha256:<hex>) to pull."""
    semver: str | None = None
    """Semver range over the tags; the latest match is pulled."""
    semver_filter: str | None = None
    """Regex restricting the tags considered for the semver range."""
    tag: str | None = None
    """Tag to pull; latest when no field is set."""


class OCILayerSelector(objects.ApiModel):
    """Which layer of the OCI artifact becomes the source artifact, and how."""

    media_type: str | None = None
    """Media type of the layer to select; the first matching layer is used."""
    operation: Literal["extract", "copy"] | None = None
    """Extract the compressed layer into storage (extract), or store it unchanged (copy)."""


class OCIRepositorySpec(objects.ApiModel):
    """Which OCI artifact to pull from a container registry and how."""

    url: Annotated[str, pydantic.Field(pattern=OCI_URL_PATTERN)]
    """Repository address (oci://host/path), without tag or digest."""
    ref: OCIRepositoryRef | None = None
    """Which tag, semver range or digest to pull; tag latest when absent."""
    layer_selector: OCILayerSelector | None = None
    """Which layer to take; the first layer when absent."""
    provider: OciProvider = "generic"
    """How to authenticate to the registry: generic, aws, azure or gcp."""
    secret_ref: meta.LocalObjectReference | None = None
    """A kubernetes.io/dockerconfigjson Secret with registry credentials."""
    verify: OCIRepositoryVerification | None = None
    """Signature verification of the pulled artifact."""
    service_account_name: str | None = None
    """ServiceAccount whose image pull secrets (or cloud identity) authenticate the pull."""
    cert_secret_ref: meta.LocalObjectReference | None = None
    """TLS Secret with a client certificate and key (tls.crt, tls.key) and/or a CA (ca.crt)."""
    proxy_secret_ref: meta.LocalObjectReference | None = None
    """Secret with proxy settings: address, optional username and password."""
    interval: meta.Interval
    """How often to check the registry for a new digest."""
    timeout: meta.Timeout = "60s"
    """Timeout for registry operations such as pulling."""
    ignore: str | None = None
    """.sourceignore patterns replacing the default exclusions (Flux keeps the VCS ones)."""
    insecure: bool | None = None
    """Allow a plain-HTTP registry."""
    suspend: bool | None = None
    """Pause reconciliation."""


class OCIRepositoryStatus(status.ArtifactSourceStatus):
    """The observed state of an OCIRepository."""

    describes = "OCIRepository"
    artifact_description = (
        "The last artifact produced; its metadata carries the OCI manifest annotations."
    )

    url: str | None = None
    """Stable download address of the latest artifact."""
    observed_ignore: str | None = None
    """The spec.ignore used for the artifact."""
    observed_layer_selector: OCILayerSelector | None = None
    """The spec.layerSelector used for the artifact."""


class OCIRepository(objects.ApiObject):
    """An OCI artifact the source-controller pulls and publishes as an artifact."""

    crd: ClassVar[objects.CrdInfo] = objects.CrdInfo(
        group=GROUP,
        version=VERSION,
        kind="OCIRepository",
        plural="ocirepositories",
        singular="ocirepository",
        short_names=("ocirepo",),
        categories=CATEGORIES,
        # NB: Flux shows Age last for this kind only.
        printer_columns=(
            objects.PrinterColumn(name="URL", type="string", json_path=".spec.url"),
            *objects.ready_columns(),
            objects.AGE_COLUMN,
        ),
        status_default=meta.CRD_STATUS_DEFAULT,
        annotations=meta.CRD_ANNOTATIONS,
    )

    api_version: Literal["source.toolkit.fluxcd.io/v1"] = "source.toolkit.fluxcd.io/v1"
    kind: Literal["OCIRepository"] = "OCIRepository"
    spec: OCIRepositorySpec
    status: OCIRepositoryStatus | None = None


# --- HelmRepository ----------------------------------------------------------------------

HELM_URL_PATTERN = r"^(http|https|oci)://.*$"


class HelmRepositorySpec(objects.ApiModel):
    """A Helm chart repository: an HTTP index to fetch, or OCI connection settings."""

    url: Annotated[str, pydantic.Field(pattern=HELM_URL_PATTERN)]
    """Repository URL; must start with oci:// when type is oci."""
    secret_ref: meta.LocalObjectReference | None = None
    """Secret with username and password (its certFile, keyFile, caFile keys are deprecated)."""
    cert_secret_ref: meta.LocalObjectReference | None = None
    """TLS Secret (tls.crt, tls.key, ca.crt); overrides TLS data in secretRef."""
    pass_credentials: bool | None = None
    """Also send the credentials to hosts other than the URL's host."""
    interval: meta.Interval | None = None
    """How often to refresh the index; not needed for type oci."""
    insecure: bool | None = None
    """Allow a plain-HTTP registry; only for type oci."""
    timeout: meta.Timeout | None = None
    """Timeout for the index fetch, and for OCI chart pulls by HelmCharts."""
    suspend: bool | None = None
    """Pause reconciliation."""
    access_from: meta.AccessFrom | None = None
    """Namespaces allowed to refer to this repository (provisional, not enforced)."""
    type: Literal["default", "oci"] | None = None
    """Repository flavour: an HTTP index (default) or an OCI registry."""
    provider: OciProvider = "generic"
    """How to authenticate to an OCI registry: generic, aws, azure or gcp."""


class HelmRepositoryStatus(status.ArtifactSourceStatus):
    """The observed state of a HelmRepository (empty for type oci)."""

    describes = "HelmRepository"
    artifact_description = "The stored index; its revision is the index digest."

    url: str | None = None
    """Stable download address of the stored index."""


class HelmRepository(objects.ApiObject):
    """A Helm repository whose index the source-controller stores, or OCI settings for charts."""

    crd: ClassVar[objects.CrdInfo] = objects.CrdInfo(
        group=GROUP,
        version=VERSION,
        kind="HelmRepository",
        plural="helmrepositories",
        singular="helmrepository",
        short_names=("helmrepo",),
        categories=CATEGORIES,
        printer_columns=(
            objects.PrinterColumn(name="URL", type="string", json_path=".spec.url"),
            objects.AGE_COLUMN,
            *objects.ready_columns(),
        ),
        status_default=meta.CRD_STATUS_DEFAULT,
        annotations=meta.CRD_ANNOTATIONS,
    )

    api_version: Literal["source.toolkit.fluxcd.io/v1"] = "source.toolkit.fluxcd.io/v1"
    kind: Literal["HelmRepository"] = "HelmRepository"
    spec: HelmRepositorySpec
    status: HelmRepositoryStatus | None = None


# --- HelmChart ---------------------------------------------------------------------------


class LocalHelmChartSourceReference(objects.ApiModel):
    """The source a chart is built from, in the HelmChart's namespace."""

    api_version: str | None = None
    """API version of the source."""
    kind: Literal["HelmRepository", "GitRepository", "Bucket"]
    """Kind of the source."""
    name: str
    """Name of the source."""


class HelmChartSpec(objects.ApiModel):
    """Which chart to build, from which source."""

    cel_rules = (
        validation.CelRule(
            rule="!has(self.verify) || self.sourceRef.kind == 'HelmRepository'",
            message="spec.verify is only supported when spec.sourceRef.kind is 'HelmRepository'",
        ),
    )

    chart: str
    """Chart name in a HelmRepository, or chart path in a Git or Bucket artifact."""
    version: str = "*"
    """Semver constraint for HelmRepository sources; ignored for Git and Bucket sources."""
    source_ref: LocalHelmChartSourceReference
    """Where the chart comes from."""
    interval: meta.Interval
    """How often to check the source for a new chart."""
    reconcile_strategy: Literal["ChartVersion", "Revision"] = "ChartVersion"
    """What makes a new artifact: a new chart version, or any new source revision."""
    values_files: list[str] | None = None
    """Values files in the source, merged in order (last wins) as the chart's values."""
    ignore_missing_values_files: bool | None = None
    """Skip missing values files instead of failing."""
    suspend: bool | None = None
    """Pause reconciliation."""
    verify: HelmChartVerification | None = None
    """Signature verification of an OCI chart (HelmRepository sources of type oci only)."""


class HelmChartStatus(status.ArtifactSourceStatus):
    """The observed state of a HelmChart."""

    describes = "HelmChart"
    artifact_description = "The packaged chart; its revision is the chart version."

    observed_source_artifact_revision: str | None = None
    """The source artifact revision seen on the last reconcile."""
    observed_chart_name: str | None = None
    """The chart name resolved from the chart reference."""
    observed_values_files: list[str] | None = None
    """The values files that went into the stored chart."""
    url: str | None = None
    """Stable download address of the latest packaged chart."""


class HelmChart(objects.ApiObject):
    """A Helm chart the source-controller pulls or packages as an artifact."""

    crd: ClassVar[objects.CrdInfo] = objects.CrdInfo(
        group=GROUP,
        version=VERSION,
        kind="HelmChart",
        plural="helmcharts",
        singular="helmchart",
        short_names=("hc",),
        categories=CATEGORIES,
        printer_columns=(
            objects.PrinterColumn(name="Chart", type="string", json_path=".spec.chart"),
            objects.PrinterColumn(name="Version", type="string", json_path=".spec.version"),
            objects.PrinterColumn(
                name="Source Kind", type="string", json_path=".spec.sourceRef.kind"
            ),
            objects.PrinterColumn(
                name="Source Name", type="string", json_path=".spec.sourceRef.name"
            ),
            objects.AGE_COLUMN,
            *objects.ready_columns(),
        ),
        status_default=meta.CRD_STATUS_DEFAULT,
        annotations=meta.CRD_ANNOTATIONS,
    )

    api_version: Literal["source.toolkit.fluxcd.io/v1"] = "source.toolkit.fluxcd.io/v1"
    kind: Literal["HelmChart"] = "HelmChart"
    spec: HelmChartSpec
    status: HelmChartStatus | None = None


# --- Bucket ------------------------------------------------------------------------------

STS_ENDPOINT_PATTERN = r"^(http|https)://.*$"


class BucketSTSSpec(objects.ApiModel):
    """A Security Token Service issuing temporary credentials for the bucket."""

    provider: Literal["aws", "ldap"]
    """The STS flavour."""
    endpoint: Annotated[str, pydantic.Field(pattern=STS_ENDPOINT_PATTERN)]
    """HTTP(S) address of the STS."""
    secret_ref: meta.LocalObjectReference | None = None
    """Secret with username and password for the STS (ldap only)."""
    cert_secret_ref: meta.LocalObjectReference | None = None
    """TLS Secret (tls.crt, tls.key, ca.crt) for the STS connection (ldap only)."""


class BucketSpec(objects.ApiModel):
    """Which object storage bucket to sync and how to reach it."""

    # NB: the rules read self.provider without has(): they rely on the CRD
    # default (generic) having been applied, as the model's default is here.
    cel_rules = (
        validation.CelRule(
            rule="self.provider == 'aws' || self.provider == 'generic' || !has(self.sts)",
            message="STS configuration is only supported for the 'aws' and 'generic' Bucket "
            "providers",
        ),
        validation.CelRule(
            rule="self.provider != 'aws' || !has(self.sts) || self.sts.provider == 'aws'",
            message="'aws' is the only supported STS provider for the 'aws' Bucket provider",
        ),
        validation.CelRule(
            rule="self.provider != 'generic' || !has(self.sts) || self.sts.provider == 'ldap'",
            message="'ldap' is the only supported STS provider for the 'generic' Bucket provider",
        ),
        validation.CelRule(
            rule="!has(self.sts) || self.sts.provider != 'aws' || !has(self.sts.secretRef)",
            message="spec.sts.secretRef is not required for the 'aws' STS provider",
        ),
        validation.CelRule(
            rule="!has(self.sts) || self.sts.provider != 'aws' || !has(self.sts.certSecretRef)",
            message="spec.sts.certSecretRef is not required for the 'aws' STS provider",
        ),
        validation.CelRule(
            rule="self.provider != 'generic' || !has(self.serviceAccountName)",
            message="ServiceAccountName is not supported for the 'generic' Bucket provider",
        ),
        validation.CelRule(
            rule="!has(self.secretRef) || !has(self.serviceAccountName)",
            message="cannot set both .spec.secretRef and .spec.serviceAccountName",
        ),
    )

    provider: Literal["generic", "aws", "gcp", "azure"] = "generic"
    """Storage API and authentication: generic (any S3 API), aws, gcp or azure."""
    bucket_name: str
    """Name of the bucket (or Azure container)."""
    endpoint: str
    """Address of the object storage service."""
    sts: BucketSTSSpec | None = None
    """Security Token Service for temporary credentials (aws and generic providers)."""
    insecure: bool | None = None
    """Connect to the endpoint over plain HTTP."""
    region: str | None = None
    """Region of the bucket, where the provider needs one."""
    prefix: str | None = None
    """Only objects whose keys start with this prefix are fetched."""
    secret_ref: meta.LocalObjectReference | None = None
    """Secret with static credentials; its keys depend on the provider."""
    service_account_name: str | None = None
    """ServiceAccount for cloud workload identity (not with the generic provider)."""
    cert_secret_ref: meta.LocalObjectReference | None = None
    """TLS Secret (tls.crt, tls.key, ca.crt) for the endpoint; generic provider only."""
    proxy_secret_ref: meta.LocalObjectReference | None = None
    """Secret with proxy settings: address, optional username and password."""
    interval: meta.Interval
    """How often to check the bucket for changes."""
    timeout: meta.Timeout = "60s"
    """Timeout for fetch operations."""
    ignore: str | None = None
    """.sourceignore patterns replacing the default exclusions (Flux keeps the VCS ones)."""
    suspend: bool | None = None
    """Pause reconciliation."""


class BucketStatus(status.ArtifactSourceStatus):
    """The observed state of a Bucket."""

    describes = "Bucket"
    artifact_description = (
        "The last artifact produced; its revision is the digest of the object index."
    )

    url: str | None = None
    """Stable download address of the latest artifact."""
    observed_ignore: str | None = None
    """The spec.ignore used for the artifact."""


class Bucket(objects.ApiObject):
    """An object storage bucket the source-controller syncs and packages as an artifact."""

    crd: ClassVar[objects.CrdInfo] = objects.CrdInfo(
        group=GROUP,
        version=VERSION,
        kind="Bucket",
        plural="buckets",
        singular="bucket",
        categories=CATEGORIES,
        printer_columns=(
            objects.PrinterColumn(name="Endpoint", type="string", json_path=".spec.endpoint"),
            objects.AGE_COLUMN,
            *objects.ready_columns(),
        ),
        status_default=meta.CRD_STATUS_DEFAULT,
        annotations=meta.CRD_ANNOTATIONS,
    )

    api_version: Literal["source.toolkit.fluxcd.io/v1"] = "source.toolkit.fluxcd.io/v1"
    kind: Literal["Bucket"] = "Bucket"
    spec: BucketSpec
    status: BucketStatus | None = None


# --- ExternalArtifact --------------------------------------------------------------------


class ExternalArtifactSpec(objects.ApiModel):
    """What a third-party controller published this artifact for."""

    source_ref: meta.NamespacedObjectKindReference | None = None
    """The custom resource the artifact was produced from."""


class ExternalArtifactStatus(objects.ApiModel):
    """The artifact a third-party controller published, and its conditions."""

    artifact: meta.Artifact | None = None
    """The published artifact."""
    conditions: list[meta.Condition] | None = None
    """Conditions set by the producer."""


class ExternalArtifact(objects.ApiObject):
    """An artifact produced by a third-party controller for Flux to consume (not reconciled)."""

    crd: ClassVar[objects.CrdInfo] = objects.CrdInfo(
        group=GROUP,
        version=VERSION,
        kind="ExternalArtifact",
        plural="externalartifacts",
        singular="externalartifact",
        short_names=("ea",),
        categories=CATEGORIES,
        printer_columns=(
            objects.AGE_COLUMN,
            *objects.ready_columns(),
            objects.PrinterColumn(name="Source", type="string", json_path=".spec.sourceRef.name"),
        ),
        # NB: no status default: nothing in Flux reconciles this kind.
        annotations=meta.CRD_ANNOTATIONS,
    )

    api_version: Literal["source.toolkit.fluxcd.io/v1"] = "source.toolkit.fluxcd.io/v1"
    kind: Literal["ExternalArtifact"] = "ExternalArtifact"
    spec: ExternalArtifactSpec
    status: ExternalArtifactStatus | None = None
