"""source.toolkit.fluxcd.io/v1: where desired state comes from.

Kinds: GitRepository, OCIRepository, HelmRepository, HelmChart, Bucket,
ExternalArtifact. The condition types and reasons below are those the
source-controller sets (fluxcd/source-controller api/v1).
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

import pydantic

from shared.api import meta, objects, validation

GROUP = "source.toolkit.fluxcd.io"
VERSION = "v1"
API_VERSION = f"{GROUP}/{VERSION}"
CATEGORIES = ("all", "fluxcd", "fluxcd-sources")
STATUS_DEFAULT = {"observedGeneration": -1}
CRD_ANNOTATIONS = {meta.SUBSTITUTE_DISABLED_ANNOTATION: "disabled"}

# --- condition types ---------------------------------------------------------------------

ARTIFACT_IN_STORAGE_CONDITION = "ArtifactInStorage"
"""Normal, True-only: an artifact is stored; removed (never False) when there is none."""
ARTIFACT_OUTDATED_CONDITION = "ArtifactOutdated"
"""Abnormal-true: a newer upstream revision or config was seen and not yet stored."""
SOURCE_VERIFIED_CONDITION = "SourceVerified"
"""Bi-polar: True when signatures verified, False when verification failed."""
FETCH_FAILED_CONDITION = "FetchFailed"
"""Abnormal-true: fetching from upstream failed."""
BUILD_FAILED_CONDITION = "BuildFailed"
"""Abnormal-true: building the artifact failed (HelmChart)."""
STORAGE_OPERATION_FAILED_CONDITION = "StorageOperationFailed"
"""Abnormal-true: writing the artifact to storage failed."""
INCLUDE_UNAVAILABLE_CONDITION = "IncludeUnavailable"
"""Abnormal-true: an included GitRepository is missing or has no artifact (GitRepository)."""

# --- reasons -----------------------------------------------------------------------------

URL_INVALID_REASON = "URLInvalid"
AUTHENTICATION_FAILED_REASON = "AuthenticationFailed"
VERIFICATION_ERROR_REASON = "VerificationError"
DIRECTORY_CREATION_FAILED_REASON = "DirectoryCreationFailed"
STAT_OPERATION_FAILED_REASON = "StatOperationFailed"
READ_OPERATION_FAILED_REASON = "ReadOperationFailed"
ACQUIRE_LOCK_FAILED_REASON = "AcquireLockFailed"
INVALID_PATH_REASON = "InvalidPath"
ARCHIVE_OPERATION_FAILED_REASON = "ArchiveOperationFailed"
SYMLINK_UPDATE_FAILED_REASON = "SymlinkUpdateFailed"
ARTIFACT_UP_TO_DATE_REASON = "ArtifactUpToDate"
CACHE_OPERATION_FAILED_REASON = "CacheOperationFailed"
PATCH_OPERATION_FAILED_REASON = "PatchOperationFailed"
INVALID_STS_CONFIGURATION_REASON = "InvalidSTSConfiguration"
INVALID_PROVIDER_CONFIGURATION_REASON = "InvalidProviderConfiguration"
GIT_OPERATION_SUCCEEDED_REASON = "GitOperationSucceeded"
GIT_OPERATION_FAILED_REASON = "GitOperationFailed"
OCI_PULL_FAILED_REASON = "OCIArtifactPullFailed"
OCI_LAYER_OPERATION_FAILED_REASON = "OCIArtifactLayerOperationFailed"
INDEXATION_FAILED_REASON = "IndexationFailed"
CHART_PULL_SUCCEEDED_REASON = "ChartPullSucceeded"
CHART_PACKAGE_SUCCEEDED_REASON = "ChartPackageSucceeded"
BUCKET_OPERATION_SUCCEEDED_REASON = "BucketOperationSucceeded"
BUCKET_OPERATION_FAILED_REASON = "BucketOperationFailed"
NEW_REVISION_REASON = "NewRevision"
INCLUDE_CHANGE_REASON = "IncludeChange"
EMPTY_GIT_REPOSITORY_REASON = "EmptyGitRepository"
INVALID_VERIFICATION_MODE_REASON = "InvalidVerificationMode"
INVALID_GIT_OBJECT_REASON = "InvalidGitObject"
INVALID_TAG_SIGNATURE_REASON = "InvalidTagSignature"
INVALID_COMMIT_SIGNATURE_REASON = "InvalidCommitSignature"
ILLEGAL_PATH_REASON = "IllegalPath"
COPY_FAILURE_REASON = "CopyFailure"
NOT_FOUND_REASON = "NotFound"
NO_ARTIFACT_REASON = "NoArtifact"

# Event-only reasons (never on conditions).
NEW_ARTIFACT_EVENT_REASON = "NewArtifact"
ARTIFACT_VERIFICATION_FAILED_EVENT_REASON = "ArtifactVerificationFailed"
GARBAGE_COLLECTION_SUCCEEDED_EVENT_REASON = "GarbageCollectionSucceeded"
GARBAGE_COLLECTION_FAILED_EVENT_REASON = "GarbageCollectionFailed"


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
    """.sourceignore patterns replacing the default exclusions ("" disables them)."""
    suspend: bool | None = None
    """Pause reconciliation."""
    recurse_submodules: bool | None = None
    """Also clone the repository's submodules."""
    include: list[GitRepositoryInclude] | None = None
    """Other GitRepositories whose artifacts are copied into this one."""
    sparse_checkout: list[str] | None = None
    """Check out only these directories."""


class GitRepositoryStatus(objects.ApiModel):
    """The observed state of a GitRepository."""

    observed_generation: meta.Int64 | None = None
    """The last generation fully reconciled."""
    conditions: list[meta.Condition] | None = None
    """Conditions of the GitRepository."""
    artifact: meta.Artifact | None = None
    """The last artifact produced."""
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
    last_handled_reconcile_at: str | None = None
    """The last reconcile.fluxcd.io/requestedAt value handled."""


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
        status_default=STATUS_DEFAULT,
        annotations=CRD_ANNOTATIONS,
    )

    api_version: Literal["source.toolkit.fluxcd.io/v1"] = "source.toolkit.fluxcd.io/v1"
    kind: Literal["GitRepository"] = "GitRepository"
    spec: GitRepositorySpec
    status: GitRepositoryStatus | None = None
