"""kustomize.toolkit.fluxcd.io/v1: Kustomization, and the fluxcd/pkg kustomize types.

Kinds: Kustomization. Besides the kind, this module holds the structs of
fluxcd/pkg ``apis/kustomize`` (Selector, Patch, Image, CustomHealthCheck) and
the types both appliers share (ResourceInventory, IgnoreRule,
CommonMetadata); ``shared.api.helm`` imports them rather than redefining them.

Conditions: the kustomize-controller sets only the generic ``meta.READY``,
``meta.RECONCILING``, ``meta.STALLED`` and ``meta.HEALTHY`` types, with the
generic ``meta`` reasons (ReconciliationSucceeded, ArtifactFailed, BuildFailed,
PruneFailed, HealthCheckFailed, DependencyNotReady …) plus the one below.

Inventory ids: ``format_inventory_id`` and ``parse_inventory_id`` implement
the ``<namespace>_<name>_<group>_<kind>`` format of ``status.inventory``
entries, the same in both appliers.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, ClassVar, Literal

import pydantic

from shared.api import meta, objects, status

GROUP = "kustomize.toolkit.fluxcd.io"
VERSION = "v1"
API_VERSION = f"{GROUP}/{VERSION}"
CATEGORIES = ("all", "fluxcd", "fluxcd-appliers")

# --- conditions and reasons --------------------------------------------------------------

OWNED_CONDITIONS = (meta.READY, meta.RECONCILING, meta.STALLED, meta.HEALTHY)
"""The condition types the status patcher owns on a Kustomization."""

DIRECTORY_CREATION_FAILED_REASON = "DirectoryCreationFailed"
"""Ready=False: the temporary build directory could not be created."""

# --- fluxcd/pkg apis/kustomize -------------------------------------------------------------


class Selector(objects.ApiModel):
    """Selects objects; an object matches when it meets every field that is set."""

    group: str | None = None
    """API group of the objects to select."""
    version: str | None = None
    """API version of the objects to select."""
    kind: str | None = None
    """Kind of the objects to select."""
    namespace: str | None = None
    """Namespace of the objects to select."""
    name: str | None = None
    """Name of the objects to select."""
    annotation_selector: str | None = None
    """Label-selector expression matched against the objects' annotations."""
    label_selector: str | None = None
    """Label-selector expression matched against the objects' labels."""


class Patch(objects.ApiModel):
    """An inline strategic-merge or JSON 6902 patch and the objects it applies to."""

    patch: str
    """The patch document: a strategic-merge patch or a JSON 6902 operation list, as YAML."""
    target: Selector | None = None
    """The objects to patch; a strategic-merge patch without it targets by its own metadata."""


class Image(objects.ApiModel):
    """A container image override: new name, tag or digest for a tag-less image name."""

    name: str
    """Tag-less image name to match."""
    new_name: str | None = None
    """Replacement image name."""
    new_tag: str | None = None
    """Replacement tag; ignored when digest is set."""
    digest: str | None = None
    """Replacement digest; takes precedence over newTag."""


class CustomHealthCheck(objects.ApiModel):
    """CEL expressions deciding the health of objects of a custom kind."""

    api_version: str
    """API version of the custom kind; only its group is used for matching."""
    kind: str | None = None
    """Kind to match; when empty every kind of the group matches."""
    current: str
    """CEL expression that is true when the object is healthy (Current)."""
    in_progress: str | None = None
    """CEL expression that is true while the object is progressing; evaluated first."""
    failed: str | None = None
    """CEL expression that is true when the object has failed; evaluated second."""


# --- shared by Kustomization and HelmRelease ----------------------------------------------


class ResourceRef(objects.ApiModel):
    """One applied object: its inventory id and API version."""

    id: str
    """Object id in the format <namespace>_<name>_<group>_<kind>."""
    v: str
    """API version of the object's kind, without the group (v1, v2)."""


class ResourceInventory(objects.ApiModel):
    """The objects applied by the last successful reconciliation, in apply order."""

    entries: list[ResourceRef]
    """The applied objects."""


class CommonMetadata(objects.ApiModel):
    """Labels and annotations stamped on every applied object, overriding its own."""

    annotations: meta.StringMap | None = None
    """Annotations to add to every object."""
    labels: meta.StringMap | None = None
    """Labels to add to every object."""


class IgnoreRule(objects.ApiModel):
    """JSON pointers left out of drift detection and apply for the selected objects."""

    paths: list[str]
    """RFC 6901 JSON pointers to ignore."""
    target: Selector | None = None
    """The objects the rule covers; every object when absent."""


class Snapshot(objects.ApiModel):
    """One entry of a reconcile history (fluxcd/pkg meta.History): a digest and its outcome."""

    digest: str
    """Checksum <algo>:<hex> of the reconciled manifests."""
    first_reconciled: meta.Time
    """First time this digest and status pair was reconciled."""
    last_reconciled: meta.Time
    """Most recent time this digest and status pair was reconciled."""
    last_reconciled_duration: str
    """How long the most recent reconciliation took, as a Go duration."""
    last_reconciled_status: str
    """The Ready reason of the most recent reconciliation."""
    total_reconciliations: meta.Int64
    """How many times this digest and status pair was reconciled."""
    metadata: meta.StringMap | None = None
    """Extra facts such as revision and originRevision."""


# --- Kustomization -----------------------------------------------------------------------

DeletionPolicy = Literal["MirrorPrune", "Delete", "WaitForTermination", "Orphan"]


class CrossNamespaceSourceReference(objects.ApiModel):
    """The source whose artifact a Kustomization builds."""

    api_version: str | None = None
    """API version of the source."""
    kind: Literal["OCIRepository", "GitRepository", "Bucket", "ExternalArtifact"]
    """Kind of the source."""
    name: str
    """Name of the source."""
    namespace: str | None = None
    """Namespace of the source; defaults to the Kustomization's namespace."""


class Decryption(objects.ApiModel):
    """How to decrypt SOPS-encrypted manifests before applying them."""

    provider: Literal["sops"]
    """The decryption engine."""
    service_account_name: str | None = None
    """ServiceAccount for secret-less authentication with cloud KMS services."""
    secret_ref: meta.LocalObjectReference | None = None
    """Secret holding decryption keys or KMS credentials; its static credentials win."""


class SubstituteReference(objects.ApiModel):
    """A ConfigMap or Secret whose data keys become substitution variables."""

    kind: Literal["Secret", "ConfigMap"]
    """Kind of the referent."""
    name: Annotated[str, pydantic.Field(min_length=1, max_length=253)]
    """Name of the referent, in the Kustomization's namespace."""
    optional: bool = False
    """Treat a missing referent as present and empty instead of failing."""


class PostBuild(objects.ApiModel):
    """Variable substitution on the YAML built by kustomize."""

    substitute_strategy: Literal["WithVariables", "Always"] | None = None
    """WithVariables substitutes only when a variable is defined; Always substitutes anyway."""
    substitute: meta.StringMap | None = None
    """Inline variables; they override values from substituteFrom."""
    substitute_from: list[SubstituteReference] | None = None
    """ConfigMaps and Secrets holding variables; later entries override earlier ones."""


class KustomizationSpec(objects.ApiModel):
    """How to fetch, build and apply a kustomize overlay or plain manifests."""

    common_metadata: CommonMetadata | None = None
    """Labels and annotations applied to every object, overriding the objects' own."""
    depends_on: list[meta.DependencyReference] | None = None
    """Kustomizations that must be ready before this one is reconciled."""
    decryption: Decryption | None = None
    """Decrypt SOPS-encrypted Secrets before applying them."""
    interval: meta.Interval
    """How often to reconcile; subject to jitter."""
    retry_interval: meta.Interval | None = None
    """How long to wait before retrying a failed reconciliation; interval when absent."""
    kube_config: meta.KubeConfigReference | None = None
    """Apply to a remote cluster instead of the one the controller runs in."""
    path: str | None = None
    """Artifact directory with a kustomization.yaml or plain manifests; the root by default."""
    post_build: PostBuild | None = None
    """Actions to run on the built YAML."""
    prune: bool
    """Delete objects that are no longer in the build."""
    deletion_policy: DeletionPolicy | None = None
    """What happens to the applied objects on deletion; MirrorPrune when empty."""
    health_checks: list[meta.NamespacedObjectKindReference] | None = None
    """Objects whose health is assessed after apply when wait is false."""
    name_prefix: Annotated[str, pydantic.Field(min_length=1, max_length=200)] | None = None
    """Prefix added to the names of all objects."""
    name_suffix: Annotated[str, pydantic.Field(min_length=1, max_length=200)] | None = None
    """Suffix added to the names of all objects."""
    patches: list[Patch] | None = None
    """Strategic-merge and JSON 6902 patches with their targets."""
    images: list[Image] | None = None
    """Container image name, tag and digest overrides."""
    service_account_name: str | None = None
    """ServiceAccount to impersonate when applying and pruning."""
    source_ref: CrossNamespaceSourceReference
    """The source whose artifact is built."""
    suspend: bool | None = None
    """Skip reconciliations; already started ones finish."""
    target_namespace: Annotated[str, pydantic.Field(min_length=1, max_length=63)] | None = None
    """Namespace set on every namespaced object built."""
    timeout: meta.Interval | None = None
    """Time limit for build, apply and health checks."""
    force: bool = False
    """Recreate objects whose apply fails on an immutable field change."""
    wait: bool | None = None
    """Health-check every applied object; healthChecks is then ignored."""
    components: list[str] | None = None
    """Paths of kustomize Components, relative to path."""
    ignore_missing_components: bool | None = None
    """Drop component paths missing from the source instead of failing."""
    health_check_exprs: list[CustomHealthCheck] | None = None
    """CEL health rules for custom kinds, used when wait or healthChecks is set."""
    build_metadata: list[Literal["originAnnotations", "transformerAnnotations"]] | None = None
    """Annotations kustomize adds to each object about its origin or transformers."""
    ignore: list[IgnoreRule] | None = None
    """JSON pointers left out of drift detection and apply."""


class KustomizationStatus(status.ObjectStatus):
    """The observed state of a Kustomization."""

    describes = "Kustomization"
    generation_description = "The last generation reconciled to Ready or to a terminal stall."

    last_applied_revision: str | None = None
    """Artifact revision of the last successful reconciliation."""
    last_applied_origin_revision: str | None = None
    """Origin revision (org.opencontainers.image.revision) of the last applied artifact."""
    last_attempted_revision: str | None = None
    """Artifact revision of the last reconciliation attempt."""
    inventory: ResourceInventory | None = None
    """Objects applied by the last successful apply."""
    history: list[Snapshot] | None = None
    """The last reconciliation attempts, most recent first."""


class Kustomization(objects.ApiObject):
    """Builds a source artifact with kustomize and applies it to a cluster."""

    crd: ClassVar[objects.CrdInfo] = objects.CrdInfo(
        group=GROUP,
        version=VERSION,
        kind="Kustomization",
        plural="kustomizations",
        singular="kustomization",
        short_names=("ks",),
        categories=CATEGORIES,
        printer_columns=(objects.AGE_COLUMN, *objects.ready_columns()),
        status_default=meta.CRD_STATUS_DEFAULT,
        annotations=meta.CRD_ANNOTATIONS,
    )

    api_version: Literal["kustomize.toolkit.fluxcd.io/v1"] = "kustomize.toolkit.fluxcd.io/v1"
    kind: Literal["Kustomization"] = "Kustomization"
    spec: KustomizationSpec
    status: KustomizationStatus | None = None


# --- inventory ids -----------------------------------------------------------------------

_FIELD_SEPARATOR = "_"
_COLON_TRANSLATION = "__"
_RBAC_GROUP = "rbac.authorization.k8s.io"
_RBAC_KINDS = frozenset({"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"})


class InvalidInventoryIdError(ValueError):
    """A string is not an inventory id of the form <namespace>_<name>_<group>_<kind>."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class InventoryId:
    """The identity of an applied object; namespace and group are empty when not applicable."""

    namespace: str
    name: str
    group: str
    kind: str


def _is_rbac(group: str, kind: str) -> bool:
    return group == _RBAC_GROUP and kind in _RBAC_KINDS


def format_inventory_id(*, namespace: str, name: str, group: str, kind: str) -> str:
    """The inventory id of an object, as Flux writes it.

    Colons in the names of RBAC objects (system:controller:foo) are written
    as ``__`` because ``_`` separates the fields; other names are kept as they
    are (Kubernetes names other than RBAC ones cannot hold ``_`` or ``:``).
    """
    if _is_rbac(group, kind):
        name = name.replace(":", _COLON_TRANSLATION)
    return _FIELD_SEPARATOR.join((namespace, name, group, kind))


def parse_inventory_id(value: str) -> InventoryId:
    """Parse an inventory id back into its fields, as Flux does.

    The namespace ends at the first ``_``, the kind and group are the last two
    fields; what remains is the name, with ``__`` turned back into ``:`` for
    RBAC kinds. Raises ``InvalidInventoryIdError`` when a field is missing or
    the name still holds a ``_`` (an id with too many fields).
    """
    namespace, separator, rest = value.partition(_FIELD_SEPARATOR)
    if not separator:
        raise InvalidInventoryIdError(f"inventory id {value!r} has no {_FIELD_SEPARATOR!r}")
    rest, separator, kind = rest.rpartition(_FIELD_SEPARATOR)
    if not separator:
        raise InvalidInventoryIdError(f"inventory id {value!r} lacks the kind field")
    name, separator, group = rest.rpartition(_FIELD_SEPARATOR)
    if not separator:
        raise InvalidInventoryIdError(f"inventory id {value!r} lacks the group field")
    if _is_rbac(group, kind):
        name = name.replace(_COLON_TRANSLATION, ":")
    if _FIELD_SEPARATOR in name:
        raise InvalidInventoryIdError(f"inventory id {value!r} has too many fields")
    return InventoryId(namespace=namespace, name=name, group=group, kind=kind)
