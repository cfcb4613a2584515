"""image.toolkit.fluxcd.io/v1: which container images exist, which is latest, and updating Git.

Kinds: ImageRepository and ImagePolicy (image-reflector-controller),
ImageUpdateAutomation (image-automation-controller).

Conditions: these kinds carry only the meta condition types ``meta.READY``
(normal polarity), ``meta.RECONCILING`` and ``meta.STALLED`` (both
abnormal-true). The reasons below are the ones the two controllers put on
them, besides the generic meta reasons (``Succeeded``, ``Failed``,
``Progressing``, ``ProgressingWithRetry``, ``DependencyNotReady``,
``AccessDenied``, ``FeatureGateDisabled``).
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

import pydantic

from shared.api import meta, objects, source, status, validation

GROUP = "image.toolkit.fluxcd.io"
VERSION = "v1"
API_VERSION = f"{GROUP}/{VERSION}"
CATEGORIES = ("all", "fluxcd", "fluxcd-images")

# --- reasons (image-reflector-controller) ------------------------------------------------

IMAGE_URL_INVALID_REASON = "ImageURLInvalid"
"""Ready=False with Stalled=True: spec.image cannot be parsed, has a scheme or has a tag."""
AUTHENTICATION_FAILED_REASON = "AuthenticationFailed"
"""Ready=False: registry credentials could not be built (retried)."""
READ_OPERATION_FAILED_REASON = "ReadOperationFailed"
"""Ready=False: listing tags or writing the tag database failed (retried)."""
INTERVAL_NOT_CONFIGURED_REASON = "IntervalNotConfigured"
"""Ready=False with Stalled=True: digestReflectionPolicy Always without an interval."""
INVALID_POLICY_REASON = "InvalidPolicy"
"""Ready=False with Stalled=True: no or an invalid policy, or an invalid tag filter regex."""
FAILURE_REASON = "Failure"
"""Ready=False: any other failure (metav1.StatusFailure), e.g. no tag satisfied the policy."""

# --- reasons (image-automation-controller) -----------------------------------------------

GIT_OPERATION_FAILED_REASON = "GitOperationFailed"
"""Ready=False: checkout, commit or push failed (retried)."""
UPDATE_FAILED_REASON = "UpdateFailed"
"""Ready=False: applying the setters to the checked-out files failed (retried)."""
SOURCE_MANAGER_FAILED_REASON = "SourceManagerFailed"
"""Ready=False: the Git configuration (GitRepository, Secrets) could not be built (retried)."""
INVALID_SOURCE_CONFIG_REASON = "InvalidSourceConfiguration"
"""Ready=False with Stalled=True: unsupported source kind, spec.git missing, bad GitHub App data."""
INVALID_POLICY_SELECTOR_REASON = "InvalidPolicySelector"
"""Ready=False with Stalled=True: spec.policySelector does not parse."""
INVALID_UPDATE_STRATEGY_REASON = "InvalidUpdateStrategy"
"""Ready=False with Stalled=True: no or an unsupported update strategy."""
REMOVED_TEMPLATE_FIELD_REASON = "RemovedTemplateField"
"""Ready=False with Stalled=True: the commit message template uses a removed field."""

DEFAULT_EXCLUSION_LIST = ("^.*\\.sig$",)
"""Tags dropped when spec.exclusionList is empty: cosign signature tags."""


# --- ImageRepository ---------------------------------------------------------------------


class ImageRepositorySpec(objects.ApiModel):
    """Which image repository to scan and how to authenticate to its registry."""

    image: str
    """Image repository to scan, without scheme or tag, e.g. ghcr.io/org/app."""
    interval: meta.Interval
    """Time to wait between scans of the image repository."""
    timeout: meta.Timeout | None = None
    """Timeout of one scan, authentication included; the interval when empty."""
    secret_ref: meta.LocalObjectReference | None = None
    """Secret with registry credentials in the docker config format."""
    proxy_secret_ref: meta.LocalObjectReference | None = None
    """Secret with proxy settings: address, optional username and password."""
    service_account_name: Annotated[str, pydantic.Field(max_length=253)] | None = None
    """ServiceAccount whose image pull secrets (generic provider) or workload identity is used."""
    cert_secret_ref: meta.LocalObjectReference | None = None
    """Secret with a client certificate and key (tls.crt, tls.key) and/or a CA (ca.crt)."""
    suspend: bool | None = None
    """Stop future scans; a scan already running is not cancelled."""
    access_from: meta.AccessFrom | None = None
    """Namespaces whose ImagePolicies may refer to this repository."""
    exclusion_list: Annotated[list[str], pydantic.Field(max_length=25)] = list(
        DEFAULT_EXCLUSION_LIST
    )
    """Regular expressions; tags matching any of them are neither stored nor counted."""
    provider: Literal["generic", "aws", "azure", "gcp"] = "generic"
    """Cloud provider used to log in to the registry; generic uses the Secret."""
    insecure: bool | None = None
    """Allow a registry served over plain HTTP."""


class ScanResult(objects.ApiModel):
    """What the last scan of an image repository found."""

    revision: str | None = None
    """Opaque, stable checksum of the scanned tag set."""
    tag_count: int
    """Number of tags left after the exclusion list."""
    scan_time: meta.Time | None = None
    """When the last scan ran."""
    latest_tags: list[str] | None = None
    """Up to ten tags: the first ones in descending string order."""


class ImageRepositoryStatus(status.ObjectStatus):
    """The observed state of an ImageRepository."""

    describes = "ImageRepository"

    canonical_image_name: str | None = None
    """The image repository made explicit, e.g. index.docker.io/library/alpine for alpine."""
    last_scan_result: ScanResult | None = None
    """The result of the last successful scan."""
    observed_exclusion_list: list[str] | None = None
    """The exclusion list in effect for the last scan result."""


class ImageRepository(objects.ApiObject):
    """An image repository whose tags the image-reflector-controller scans and stores."""

    crd: ClassVar[objects.CrdInfo] = objects.CrdInfo(
        group=GROUP,
        version=VERSION,
        kind="ImageRepository",
        plural="imagerepositories",
        singular="imagerepository",
        short_names=("imgrepo", "imagerepo"),
        categories=CATEGORIES,
        printer_columns=(
            objects.PrinterColumn(name="Image", type="string", json_path=".spec.image"),
            # NB: Flux declares the tag count column as a string.
            objects.PrinterColumn(
                name="Tags", type="string", json_path=".status.lastScanResult.tagCount"
            ),
            *objects.ready_columns(),
            objects.PrinterColumn(
                name="Last scan",
                type="string",
                json_path=".status.lastScanResult.scanTime",
                priority=1,
            ),
            objects.AGE_COLUMN,
        ),
        status_default=meta.CRD_STATUS_DEFAULT,
    )

    api_version: Literal["image.toolkit.fluxcd.io/v1"] = "image.toolkit.fluxcd.io/v1"
    kind: Literal["ImageRepository"] = "ImageRepository"
    spec: ImageRepositorySpec
    status: ImageRepositoryStatus | None = None


# --- ImagePolicy -------------------------------------------------------------------------


class SemVerPolicy(objects.ApiModel):
    """Elect the highest tag that is a semantic version within a range."""

    range: str
    """Semver constraint (Masterminds syntax), e.g. >=1.0.0 <2.0.0 or 1.x."""


class AlphabeticalPolicy(objects.ApiModel):
    """Elect a tag by lexical order."""

    order: Literal["asc", "desc"] = "asc"
    """Sort order: asc elects the last tag (Z), desc the first (A)."""


class NumericalPolicy(objects.ApiModel):
    """Elect a tag by numerical order of the tags parsed as numbers."""

    order: Literal["asc", "desc"] = "asc"
    """Sort order: asc elects the largest number, desc the smallest."""


class ImagePolicyChoice(objects.ApiModel):
    """The ordering rule; when several are set, semver wins over alphabetical over numerical."""

    semver: SemVerPolicy | None = None
    """Semantic version range the tags are checked against."""
    alphabetical: AlphabeticalPolicy | None = None
    """Alphabetical ordering of the tags."""
    numerical: NumericalPolicy | None = None
    """Numerical ordering of the tags."""


class TagFilter(objects.ApiModel):
    """Which tags are considered, and what part of them is compared."""

    pattern: str | None = None
    """Regular expression a tag must match to be considered."""
    extract: str | None = None
    """Replacement template ($1, $name) whose expansion is compared instead of the tag."""


class ImageRef(objects.ApiModel):
    """An image reference: repository name, tag and optional digest."""

    name: str
    """The bare image name, as written in the ImageRepository."""
    tag: str
    """The image tag (the original tag, not an extracted value)."""
    digest: str | None = None
    """The image digest, e.g. sha256:…."""


_INTERVAL_ONLY_WITH_ALWAYS = (
    "spec.interval is only accepted when spec.digestReflectionPolicy is set to 'Always'"
)
_INTERVAL_REQUIRED_WITH_ALWAYS = (
    "spec.interval must be set when spec.digestReflectionPolicy is set to 'Always'"
)


class ImagePolicySpec(objects.ApiModel):
    """How to elect the latest image among an ImageRepository's tags."""

    cel_rules = (
        validation.CelRule(
            rule=(
                "!has(self.interval) || (has(self.digestReflectionPolicy) && "
                "self.digestReflectionPolicy == 'Always')"
            ),
            message=_INTERVAL_ONLY_WITH_ALWAYS,
        ),
        validation.CelRule(
            rule=(
                "has(self.interval) || !has(self.digestReflectionPolicy) || "
                "self.digestReflectionPolicy != 'Always'"
            ),
            message=_INTERVAL_REQUIRED_WITH_ALWAYS,
        ),
    )

    image_repository_ref: meta.NamespacedObjectReference
    """The ImageRepository whose tags are used; another namespace needs its accessFrom."""
    policy: ImagePolicyChoice
    """The rule electing the latest tag."""
    filter_tags: TagFilter | None = None
    """Filter applied to the tags before the policy; all tags when absent."""
    digest_reflection_policy: Literal["Always", "IfNotPresent", "Never"] = "Never"
    """When to set status.latestRef.digest: always, once per elected tag, or never."""
    interval: meta.Interval | None = None
    """How often to refresh the digest; only with digestReflectionPolicy Always."""
    suspend: bool | None = None
    """Suspend future reconciliations."""


class ImagePolicyStatus(status.ObjectStatus):
    """The observed state of an ImagePolicy."""

    describes = "ImagePolicy"

    latest_ref: ImageRef | None = None
    """The image elected by the policy."""
    observed_previous_ref: ImageRef | None = None
    """The previously elected image; updated only when the elected image changes."""


class ImagePolicy(objects.ApiObject):
    """A rule electing the latest image tag of an ImageRepository."""

    crd: ClassVar[objects.CrdInfo] = objects.CrdInfo(
        group=GROUP,
        version=VERSION,
        kind="ImagePolicy",
        plural="imagepolicies",
        singular="imagepolicy",
        short_names=("imgpol", "imagepol"),
        categories=CATEGORIES,
        printer_columns=(
            objects.PrinterColumn(name="Image", type="string", json_path=".status.latestRef.name"),
            objects.PrinterColumn(name="Tag", type="string", json_path=".status.latestRef.tag"),
            *objects.ready_columns(),
            objects.AGE_COLUMN,
        ),
        status_default=meta.CRD_STATUS_DEFAULT,
    )

    api_version: Literal["image.toolkit.fluxcd.io/v1"] = "image.toolkit.fluxcd.io/v1"
    kind: Literal["ImagePolicy"] = "ImagePolicy"
    spec: ImagePolicySpec
    status: ImagePolicyStatus | None = None


# --- ImageUpdateAutomation ---------------------------------------------------------------


class CrossNamespaceSourceReference(objects.ApiModel):
    """The Git source to update; only GitRepository is supported."""

    required_with_default = ("kind",)

    api_version: str | None = None
    """API version of the referent."""
    kind: Literal["GitRepository"] = "GitRepository"
    """Kind of the referent."""
    name: str
    """Name of the referent."""
    namespace: str | None = None
    """Namespace of the referent; defaults to the automation's namespace."""


class GitCheckoutSpec(objects.ApiModel):
    """What to clone; the GitRepository's own reference is used when absent."""

    ref: source.GitRepositoryRef
    """Branch, tag, semver range, reference name or commit to check out."""


class CommitUser(objects.ApiModel):
    """The author of the commits."""

    name: str | None = None
    """Author name."""
    email: str
    """Author email."""


class SigningKey(objects.ApiModel):
    """A key in a Secret used to sign the commits."""

    secret_ref: meta.LocalObjectReference
    """Secret in the automation's namespace: git.asc for gpg, identity for ssh."""
    type: Literal["gpg", "ssh"] | None = None
    """Signing key format; the controller uses gpg when empty."""


class CommitSpec(objects.ApiModel):
    """How to write the commits."""

    author: CommitUser
    """Author of the commits."""
    signing_key: SigningKey | None = None
    """Key used to sign the commits."""
    message_template: str | None = None
    """Go text/template of the commit message, given the changes made."""
    message_template_values: meta.StringMap | None = None
    """Extra values available to the template as .Values."""


REFSPEC_PATTERN = r"^$|^[^+:]"
"""No refspec that force-updates (+) or deletes (:dst) a reference."""


class PushSpec(objects.ApiModel):
    """Where to push the commits; to the checkout branch when absent."""

    branch: str | None = None
    """Branch to push to; created from the checkout reference when missing."""
    refspec: Annotated[str, pydantic.Field(pattern=REFSPEC_PATTERN)] | None = None
    """Refspec pushed in addition to the branch, e.g. refs/heads/auto:refs/heads/main."""
    options: meta.StringMap | None = None
    """Git push options sent to the server (git push -o key=value)."""


class GitSpec(objects.ApiModel):
    """Git-specific settings: checkout, commit and push."""

    checkout: GitCheckoutSpec | None = None
    """What to clone; the GitRepository's spec.ref when absent."""
    commit: CommitSpec
    """How to commit the changes."""
    push: PushSpec | None = None
    """Where to push the commits; the checkout branch when absent."""


class UpdateStrategy(objects.ApiModel):
    """How to update the files in the repository."""

    strategy: Literal["Setters"] = "Setters"
    """The update strategy: Setters rewrites fields marked with image policy setter comments."""
    path: str | None = None
    """Directory to update, relative to the repository root; the root when empty."""


class ImageUpdateAutomationSpec(objects.ApiModel):
    """Which Git source to update from which image policies, and how often."""

    source_ref: CrossNamespaceSourceReference
    """The Git source to update."""
    git: GitSpec | None = None
    """Git settings; required in practice since GitRepository is the only source kind."""
    interval: meta.Interval
    """Lower bound of the time between two runs."""
    policy_selector: (
        Annotated[
            meta.LabelSelector,
            pydantic.Field(json_schema_extra={"x-kubernetes-map-type": "atomic"}),
        ]
        | None
    ) = None
    """Selects the ImagePolicies of the automation's namespace to apply; all when absent."""
    update: UpdateStrategy | None = pydantic.Field(
        default_factory=UpdateStrategy,
        json_schema_extra={"default": {"strategy": "Setters"}},
    )
    """How to update the files; the Setters strategy when absent."""
    suspend: bool | None = None
    """Stop running this automation until unset."""


class ImageUpdateAutomationStatus(status.ObjectStatus):
    """The observed state of an ImageUpdateAutomation."""

    describes = "ImageUpdateAutomation"

    last_automation_run_time: meta.Time | None = None
    """When the last run started, whether or not it changed anything."""
    last_push_commit: str | None = None
    """SHA-1 of the last commit pushed."""
    last_push_time: meta.Time | None = None
    """When the last commit was pushed."""
    observed_policies: dict[str, ImageRef] | None = None
    """The latest image of each ImagePolicy (by name) considered by the last run."""
    observed_source_revision: str | None = None
    """The last source revision seen, e.g. main@sha1:<commit>."""


class ImageUpdateAutomation(objects.ApiObject):
    """Commits the images elected by ImagePolicies into a Git repository."""

    crd: ClassVar[objects.CrdInfo] = objects.CrdInfo(
        group=GROUP,
        version=VERSION,
        kind="ImageUpdateAutomation",
        plural="imageupdateautomations",
        singular="imageupdateautomation",
        short_names=("iua", "imgupd", "imgauto"),
        categories=CATEGORIES,
        printer_columns=(
            *objects.ready_columns(),
            objects.PrinterColumn(
                name="Last run",
                type="string",
                json_path=".status.lastAutomationRunTime",
                priority=1,
            ),
            objects.AGE_COLUMN,
        ),
        status_default=meta.CRD_STATUS_DEFAULT,
        # NB: image-reflector-controller's CRDs carry no annotations; this one does.
        annotations=meta.CRD_ANNOTATIONS,
    )

    api_version: Literal["image.toolkit.fluxcd.io/v1"] = "image.toolkit.fluxcd.io/v1"
    kind: Literal["ImageUpdateAutomation"] = "ImageUpdateAutomation"
    spec: ImageUpdateAutomationSpec
    status: ImageUpdateAutomationStatus | None = None
