"""helm.toolkit.fluxcd.io/v2: HelmRelease.

Kinds: HelmRelease. The fluxcd/pkg kustomize structs it embeds (Patch, Image,
Selector, CustomHealthCheck) and the shapes it shares with the Kustomization
(ResourceInventory, IgnoreRule, CommonMetadata) come from
``shared.api.kustomize``. The condition types and reasons below are those the
helm-controller sets (fluxcd/helm-controller api/v2); the generic ones
(Ready, Reconciling, Stalled, ArtifactFailed, DependencyNotReady, AccessDenied,
InvalidCELExpression, HealthCheckCanceled, Progressing …) are in ``meta``.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

import pydantic

from shared.api import kustomize, meta, objects, status, validation

GROUP = "helm.toolkit.fluxcd.io"
VERSION = "v2"
API_VERSION = f"{GROUP}/{VERSION}"
CATEGORIES = ("all", "fluxcd", "fluxcd-appliers")

# --- condition types ---------------------------------------------------------------------

RELEASED_CONDITION = "Released"
"""Normal polarity: True when the last install or upgrade succeeded, False when it failed."""
TEST_SUCCESS_CONDITION = "TestSuccess"
"""Normal polarity: True when tests passed, Unknown while awaited; removed when tests are off."""
REMEDIATED_CONDITION = "Remediated"
"""Abnormal: present only after a remediation (rollback/uninstall); removed on the next release."""
DRIFTED_CONDITION = "Drifted"
"""Abnormal-true: True when the cluster drifted from the release; set only with drift detection."""

OWNED_CONDITIONS = (
    RELEASED_CONDITION,
    REMEDIATED_CONDITION,
    TEST_SUCCESS_CONDITION,
    meta.RECONCILING,
    meta.READY,
    meta.STALLED,
)
"""The condition types the status patcher owns on a HelmRelease (Drifted is not among them)."""

# --- reasons -----------------------------------------------------------------------------

INSTALL_SUCCEEDED_REASON = "InstallSucceeded"
INSTALL_FAILED_REASON = "InstallFailed"
UPGRADE_SUCCEEDED_REASON = "UpgradeSucceeded"
UPGRADE_FAILED_REASON = "UpgradeFailed"
TEST_SUCCEEDED_REASON = "TestSucceeded"
TEST_FAILED_REASON = "TestFailed"
ROLLBACK_SUCCEEDED_REASON = "RollbackSucceeded"
ROLLBACK_FAILED_REASON = "RollbackFailed"
UNINSTALL_SUCCEEDED_REASON = "UninstallSucceeded"
UNINSTALL_FAILED_REASON = "UninstallFailed"
PENDING_RELEASE_REASON = "PendingRelease"
AWAITING_TESTS_REASON = "AwaitingTests"
DRIFT_DETECTED_REASON = "DriftDetected"
NO_DRIFT_DETECTED_REASON = "NoDriftDetected"
SOURCE_NOT_READY_REASON = "SourceNotReady"
VALUES_ERROR_REASON = "ValuesError"
CHART_MUTATE_ERROR_REASON = "ChartMutateError"
REST_CLIENT_ERROR_REASON = "RESTClientError"
RESOURCE_MANAGER_ERROR_REASON = "ResourceManagerError"
FACTORY_ERROR_REASON = "FactoryError"
CONFIG_FACTORY_ERROR_REASON = "ConfigFactoryErr"
STATE_ERROR_REASON = "StateError"
RECONCILE_ERROR_REASON = "ReconcileError"
RETRIES_EXCEEDED_REASON = "RetriesExceeded"
MISSING_ROLLBACK_TARGET_REASON = "MissingRollbackTarget"
INIT_FAILED_REASON = "InitFailed"
GET_LAST_RELEASE_FAILED_REASON = "GetLastReleaseFailed"

# Event-only reasons (never on conditions).
INVENTORY_BUILD_FAILED_EVENT_REASON = "InventoryBuildFailed"
NAMESPACE_CHECK_SKIPPED_EVENT_REASON = "NamespaceCheckSkipped"
HELM_CHART_CREATED_EVENT_REASON = "HelmChartCreated"
HELM_CHART_CONFIGURED_EVENT_REASON = "HelmChartConfigured"
HELM_CHART_DELETED_EVENT_REASON = "HelmChartDeleted"
HELM_CHART_SYNC_ERROR_EVENT_REASON = "HelmChartSyncErr"

# --- chart template ----------------------------------------------------------------------


class HelmChartTemplateObjectMeta(objects.ApiModel):
    """Labels and annotations for the generated HelmChart."""

    labels: meta.StringMap | None = None
    """Labels of the generated HelmChart."""
    annotations: meta.StringMap | None = None
    """Annotations of the generated HelmChart."""


class CrossNamespaceObjectReference(objects.ApiModel):
    """The source holding the chart of a chart template."""

    api_version: str | None = None
    """API version of the source."""
    kind: Literal["HelmRepository", "GitRepository", "Bucket"]
    """Kind of the source."""
    name: Annotated[str, pydantic.Field(min_length=1, max_length=253)]
    """Name of the source."""
    namespace: Annotated[str, pydantic.Field(min_length=1, max_length=63)] | None = None
    """Namespace of the source, where the HelmChart is also created."""


class HelmChartTemplateVerification(objects.ApiModel):
    """Signature verification of an OCI Helm chart."""

    required_with_default = ("provider",)

    provider: Literal["cosign", "notation"] = "cosign"
    """The technology the chart is signed with."""
    secret_ref: meta.LocalObjectReference | None = None
    """Secret holding the trusted public keys."""


class HelmChartTemplateSpec(objects.ApiModel):
    """The spec of the HelmChart the controller generates."""

    chart: Annotated[str, pydantic.Field(min_length=1, max_length=2048)]
    """Chart name in a HelmRepository, or chart path in a GitRepository or Bucket."""
    version: str = "*"
    """SemVer range of the chart version; ignored for GitRepository and Bucket sources."""
    source_ref: CrossNamespaceObjectReference
    """The source holding the chart."""
    interval: meta.Interval | None = None
    """How often the HelmChart checks its source; spec.interval when absent."""
    reconcile_strategy: Literal["ChartVersion", "Revision"] = "ChartVersion"
    """What produces a new chart artifact: a new chart version or a new source revision."""
    values_files: list[str] | None = None
    """Values files in the source merged in order in place of values.yaml."""
    ignore_missing_values_files: bool | None = None
    """Skip missing values files instead of failing."""
    verify: HelmChartTemplateVerification | None = None
    """Signature verification; OCI HelmRepository charts only."""


class HelmChartTemplate(objects.ApiModel):
    """The template of the HelmChart the controller creates for the release."""

    metadata: HelmChartTemplateObjectMeta | None = None
    """Labels and annotations of the generated HelmChart."""
    spec: HelmChartTemplateSpec
    """Spec of the generated HelmChart."""


class CrossNamespaceSourceReference(objects.ApiModel):
    """A source object whose artifact is the chart."""

    api_version: str | None = None
    """API version of the source."""
    kind: Literal["OCIRepository", "HelmChart", "ExternalArtifact"]
    """Kind of the source."""
    name: Annotated[str, pydantic.Field(min_length=1, max_length=253)]
    """Name of the source."""
    namespace: Annotated[str, pydantic.Field(min_length=1, max_length=63)] | None = None
    """Namespace of the source; defaults to the HelmRelease's namespace."""


HelmValues = Annotated[
    dict[str, Any], pydantic.WithJsonSchema({"x-kubernetes-preserve-unknown-fields": True})
]
"""Inline Helm values: free-form JSON with no type in the CRD (apiextensions JSON)."""

# --- actions -----------------------------------------------------------------------------

Strategy = Literal["RemediateOnFailure", "RetryOnFailure"]
CrdsPolicy = Literal["Skip", "Create", "CreateReplace"]
ServerSideApplyMode = Literal["enabled", "disabled", "auto"]


class DriftDetection(objects.ApiModel):
    """Comparison of the release manifest with the cluster."""

    mode: Literal["enabled", "warn", "disabled"] | None = None
    """enabled corrects drift with an upgrade, warn only reports it; disabled when empty."""
    ignore: list[kustomize.IgnoreRule] | None = None
    """JSON pointers left out of the comparison."""


class _ActionStrategy(objects.ApiModel):
    """Fields shared by the install and upgrade strategies."""

    name: Strategy
    """RemediateOnFailure applies the action's remediation; RetryOnFailure retries after a delay."""
    retry_interval: meta.Interval | None = None
    """Delay between retries; only with RetryOnFailure."""


class InstallStrategy(_ActionStrategy):
    """How failed installs are handled."""

    cel_rules = (
        validation.CelRule(
            rule="!has(self.retryInterval) || self.name != 'RemediateOnFailure'",
            message=".retryInterval cannot be set when .name is 'RemediateOnFailure'",
        ),
    )


class UpgradeStrategy(_ActionStrategy):
    """How failed upgrades are handled."""

    cel_rules = (
        validation.CelRule(
            rule="!has(self.retryInterval) || self.name == 'RetryOnFailure'",
            message=".retryInterval can only be set when .name is 'RetryOnFailure'",
        ),
    )


class InstallRemediation(objects.ApiModel):
    """What to do when an install fails: uninstall, then retry."""

    retries: int | None = None
    """Retries, with a remediation between each; negative means unlimited."""
    ignore_test_failures: bool | None = None
    """Do not remediate failed tests; test.ignoreFailures when unset."""
    remediate_last_failure: bool | None = None
    """Also remediate the last failure when no retries remain."""


class UpgradeRemediation(InstallRemediation):
    """What to do when an upgrade fails: roll back or uninstall, then retry."""

    strategy: Literal["rollback", "uninstall"] | None = None
    """How to remediate; rollback when unset (remediateLastFailure then defaults to retries > 0)."""


class _ReleaseAction(objects.ApiModel):
    """Fields shared by the install and upgrade actions."""

    timeout: meta.Interval | None = None
    """Timeout of each Kubernetes operation of the action; spec.timeout when absent."""
    disable_take_ownership: bool | None = None
    """Do not adopt existing objects."""
    disable_wait: bool | None = None
    """Do not wait for the objects to become ready; hooks are still waited on."""
    disable_wait_for_jobs: bool | None = None
    """Do not wait for Jobs to complete."""
    disable_hooks: bool | None = None
    """Do not run chart hooks."""
    disable_open_api_validation: bool | None = pydantic.Field(
        default=None, alias="disableOpenAPIValidation"
    )
    """Do not validate rendered objects against the Kubernetes OpenAPI schema."""
    disable_schema_validation: bool | None = None
    """Do not validate the values against the chart's JSON schema."""


class Install(_ReleaseAction):
    """Configuration of Helm install actions."""

    strategy: InstallStrategy | None = None
    """How failed installs are handled."""
    remediation: InstallRemediation | None = None
    """Remediation of failed installs under RemediateOnFailure."""
    replace: bool | None = None
    """Reuse the name of a deleted release kept in history."""
    skip_crds: bool | None = pydantic.Field(default=None, alias="skipCRDs")
    """Deprecated: use crds Skip."""
    crds: CrdsPolicy | None = None
    """Policy for the chart's crds directory; Create when empty."""
    create_namespace: bool | None = None
    """Create targetNamespace if missing; it is never deleted."""
    server_side_apply: bool | None = None
    """Install with server-side apply."""


class Upgrade(_ReleaseAction):
    """Configuration of Helm upgrade actions."""

    strategy: UpgradeStrategy | None = None
    """How failed upgrades are handled."""
    remediation: UpgradeRemediation | None = None
    """Remediation of failed upgrades under RemediateOnFailure."""
    force: bool | None = None
    """Replace objects instead of a three-way merge; ignored with server-side apply."""
    preserve_values: bool | None = None
    """Reuse the previous release's values and merge the new ones in."""
    cleanup_on_fail: bool | None = None
    """Delete objects created by a failed upgrade."""
    crds: CrdsPolicy | None = None
    """Policy for the chart's crds directory."""
    server_side_apply: ServerSideApplyMode | None = None
    """Apply method; auto follows the previous release."""
    chart_name_change_strategy: Literal["InPlaceUpdate", "Reinstall"] | None = None
    """What to do when the chart name changes; Reinstall when empty."""


class Filter(objects.ApiModel):
    """Selects or excludes one Helm test by name."""

    name: Annotated[str, pydantic.Field(min_length=1, max_length=253)]
    """Name of the test."""
    exclude: bool | None = None
    """Exclude the test instead of selecting it."""


class Test(objects.ApiModel):
    """Configuration of Helm test actions."""

    enable: bool | None = None
    """Run the chart's tests after an install or upgrade."""
    timeout: meta.Interval | None = None
    """Timeout of each Kubernetes operation of the tests; spec.timeout when absent."""
    ignore_failures: bool | None = None
    """Test failures neither remediate nor make the release not ready."""
    filters: list[Filter] | None = None
    """Tests to run or exclude."""


class Rollback(objects.ApiModel):
    """Configuration of Helm rollback actions."""

    timeout: meta.Interval | None = None
    """Timeout of each Kubernetes operation of the rollback; spec.timeout when absent."""
    disable_wait: bool | None = None
    """Do not wait for the objects to become ready."""
    disable_wait_for_jobs: bool | None = None
    """Do not wait for Jobs to complete."""
    disable_hooks: bool | None = None
    """Do not run chart hooks."""
    recreate: bool | None = None
    """Deprecated and without effect."""
    force: bool | None = None
    """Replace objects instead of a three-way merge."""
    cleanup_on_fail: bool | None = None
    """Delete objects created by a failed rollback."""
    server_side_apply: ServerSideApplyMode | None = None
    """Apply method; auto follows the release rolled back to."""


class Uninstall(objects.ApiModel):
    """Configuration of Helm uninstall actions."""

    timeout: meta.Interval | None = None
    """Timeout of each Kubernetes operation of the uninstall; spec.timeout when absent."""
    disable_hooks: bool | None = None
    """Do not run chart hooks."""
    keep_history: bool | None = None
    """Keep the release history, marked deleted."""
    disable_wait: bool | None = None
    """Do not wait for the deletions to finish."""
    deletion_propagation: Literal["background", "foreground", "orphan"] = "background"
    """Deletion propagation policy of the uninstall."""


class KustomizePostRenderer(objects.ApiModel):
    """Kustomize patches and image overrides applied to the rendered manifests."""

    patches: list[kustomize.Patch] | None = None
    """Strategic-merge and JSON 6902 patches with their targets."""
    images: list[kustomize.Image] | None = None
    """Container image name, tag and digest overrides."""


class PostRenderer(objects.ApiModel):
    """One Helm post-renderer."""

    kustomize: KustomizePostRenderer | None = None
    """Kustomize post-renderer."""


class WaitStrategy(objects.ApiModel):
    """How Helm waits for the released objects."""

    name: Literal["poller", "legacy"]
    """poller uses kstatus; legacy uses Helm 3's waiter."""


class HelmReleaseSpec(objects.ApiModel):
    """The desired state of a Helm release."""

    cel_rules = (
        validation.CelRule(
            rule=(
                "(has(self.chart) && !has(self.chartRef)) || "
                "(!has(self.chart) && has(self.chartRef))"
            ),
            message="either chart or chartRef must be set",
        ),
    )

    chart: HelmChartTemplate | None = None
    """Template of the HelmChart the controller creates; exclusive with chartRef."""
    chart_ref: CrossNamespaceSourceReference | None = None
    """Source object whose artifact is the chart; exclusive with chart."""
    interval: meta.Interval
    """How often to reconcile; subject to jitter."""
    kube_config: meta.KubeConfigReference | None = None
    """Release to a remote cluster instead of the one the controller runs in."""
    suspend: bool | None = None
    """Skip reconciliations; a suspended release is not uninstalled on delete."""
    release_name: Annotated[str, pydantic.Field(min_length=1, max_length=53)] | None = None
    """Helm release name; [targetNamespace-]name when empty."""
    target_namespace: Annotated[str, pydantic.Field(min_length=1, max_length=63)] | None = None
    """Namespace the chart is installed into; the HelmRelease's namespace when empty."""
    storage_namespace: Annotated[str, pydantic.Field(min_length=1, max_length=63)] | None = None
    """Namespace of the Helm storage; the HelmRelease's namespace when empty."""
    depends_on: list[meta.DependencyReference] | None = None
    """HelmReleases that must be ready before this one is reconciled."""
    timeout: meta.Interval | None = None
    """Timeout of each Kubernetes operation of a Helm action; 5m when empty."""
    max_history: int | None = None
    """Release revisions Helm keeps; 0 means unlimited, 5 when unset."""
    service_account_name: Annotated[str, pydantic.Field(min_length=1, max_length=253)] | None = None
    """ServiceAccount to impersonate."""
    persistent_client: bool | None = None
    """Reuse one Kubernetes client for the whole reconciliation; true when unset."""
    drift_detection: DriftDetection | None = None
    """Detection and correction of cluster drift from the release manifest."""
    install: Install | None = None
    """Configuration of install actions."""
    upgrade: Upgrade | None = None
    """Configuration of upgrade actions."""
    test: Test | None = None
    """Configuration of test actions."""
    rollback: Rollback | None = None
    """Configuration of rollback actions."""
    uninstall: Uninstall | None = None
    """Configuration of uninstall actions."""
    values_from: list[meta.ValuesReference] | None = None
    """ConfigMaps and Secrets holding values, merged in order."""
    values: HelmValues | None = None
    """Inline values, merged last."""
    post_renderers: list[PostRenderer] | None = None
    """Post-renderers applied in order."""
    post_render_strategy: Literal["nohooks", "combined", "separate"] | None = None
    """Whether and how hooks pass through the post-renderers."""
    common_metadata: kustomize.CommonMetadata | None = None
    """Labels and annotations stamped on every rendered object."""
    wait_strategy: WaitStrategy | None = None
    """How Helm waits for the released objects."""
    health_check_exprs: list[kustomize.CustomHealthCheck] | None = None
    """CEL health rules for custom kinds, used by the poller wait strategy."""


# --- status ------------------------------------------------------------------------------


class TestHookStatus(objects.ApiModel):
    """A test hook as observed by the controller."""

    last_started: meta.Time | None = None
    """When the hook last started."""
    last_completed: meta.Time | None = None
    """When the hook last completed."""
    phase: str | None = None
    """Helm hook phase: Unknown, Running, Succeeded or Failed."""


class Snapshot(objects.ApiModel):
    """A Helm release made for this HelmRelease, as observed in storage."""

    api_version: str | None = None
    """Version of the snapshot format."""
    digest: str
    """Checksum <algo>:<hex> of the release object in storage."""
    name: str
    """Release name."""
    namespace: str
    """Release namespace."""
    version: int
    """Helm release revision."""
    status: str
    """Helm release status (deployed, superseded, failed …)."""
    action: str | None = None
    """Action that produced the release (install, upgrade, rollback …)."""
    chart_name: str
    """Name of the chart."""
    chart_version: str
    """Version of the chart, with a +<digest> suffix for OCI charts."""
    app_version: str | None = None
    """App version of the chart."""
    config_digest: str
    """Checksum <algo>:<hex> of the release values."""
    first_deployed: meta.Time
    """When the release was first deployed."""
    last_deployed: meta.Time
    """When the release was last deployed."""
    deleted: meta.Time | None = None
    """When the release was deleted."""
    test_hooks: dict[str, TestHookStatus | None] | None = None
    """Test hooks as observed; empty when tested with no tests, absent when not tested."""
    oci_digest: str | None = None
    """Digest of the OCI artifact the chart came from."""


class HelmReleaseStatus(status.ObjectStatus):
    """The observed state of a HelmRelease."""

    describes = "HelmRelease"
    generation_description = "The last generation reconciled to Ready or to a terminal stall."

    observed_post_renderers_digest: str | None = None
    """Digest of spec.postRenderers at the last reconciliation."""
    observed_common_metadata_digest: str | None = None
    """Digest of spec.commonMetadata at the last reconciliation."""
    last_attempted_generation: meta.Int64 | None = None
    """Generation of the last release attempt."""
    helm_chart: str | None = None
    """<namespace>/<name> of the generated HelmChart."""
    storage_namespace: Annotated[str, pydantic.Field(min_length=1, max_length=63)] | None = None
    """Namespace of the Helm storage of the current release."""
    history: list[Snapshot] | None = None
    """Helm releases made for this HelmRelease, newest version first."""
    inventory: kustomize.ResourceInventory | None = None
    """Objects of the release manifest and chart CRDs, hooks excluded."""
    last_attempted_release_action: Literal["install", "upgrade"] | None = None
    """The last release action attempted; selects the active remediation."""
    last_attempted_release_action_duration: str | None = None
    """How long the last release action took, as a Go duration."""
    failures: meta.Int64 | None = None
    """Failed actions of any kind against the current desired state."""
    install_failures: meta.Int64 | None = None
    """Failed installs against the current desired state."""
    upgrade_failures: meta.Int64 | None = None
    """Failed upgrades against the current desired state."""
    last_attempted_revision: str | None = None
    """Chart version of the last attempt, with +<digest> for digest-carrying sources."""
    last_attempted_revision_digest: str | None = None
    """Source digest of the last attempt."""
    last_attempted_values_checksum: str | None = None
    """Deprecated: use lastAttemptedConfigDigest."""
    last_release_revision: int | None = None
    """Deprecated: use history."""
    last_attempted_config_digest: str | None = None
    """Digest of the merged values of the last attempt."""
    last_handled_force_at: str | None = None
    """The last reconcile.fluxcd.io/forceAt value handled."""
    last_handled_reset_at: str | None = None
    """The last reconcile.fluxcd.io/resetAt value handled."""


class HelmRelease(objects.ApiObject):
    """A Helm release the helm-controller installs, upgrades, tests and keeps in sync."""

    crd: ClassVar[objects.CrdInfo] = objects.CrdInfo(
        group=GROUP,
        version=VERSION,
        kind="HelmRelease",
        plural="helmreleases",
        singular="helmrelease",
        short_names=("hr",),
        categories=CATEGORIES,
        printer_columns=(objects.AGE_COLUMN, *objects.ready_columns()),
        status_default=meta.CRD_STATUS_DEFAULT,
        annotations=meta.CRD_ANNOTATIONS,
    )

    api_version: Literal["helm.toolkit.fluxcd.io/v2"] = "helm.toolkit.fluxcd.io/v2"
    kind: Literal["HelmRelease"] = "HelmRelease"
    spec: HelmReleaseSpec
    status: HelmReleaseStatus | None = None
