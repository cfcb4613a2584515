"""Shared Flux meta types (fluxcd/pkg ``apis/meta`` and ``apis/acl``).

Durations stay strings so they round-trip unchanged; ``parse_duration`` turns
one into a ``timedelta`` where it is used. Condition types and reasons that
every group uses are named constants here, each with its polarity:

- *normal*: True is good (``Ready``, ``Healthy``, ``ArtifactInStorage``);
- *abnormal-true*: present only while True, and True is bad (``Reconciling``,
  ``Stalled``, ``FetchFailed`` …); removed rather than set False;
- *bi-polar*: True and False both carry meaning (``SourceVerified``).
"""

from __future__ import annotations

import datetime
import re
from typing import Annotated, Any, Literal

import pydantic

from shared.api import objects, validation

# --- scalar conventions -----------------------------------------------------------------

INTERVAL_PATTERN = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"
TIMEOUT_PATTERN = r"^([0-9]+(\.[0-9]+)?(ms|s|m))+$"

Interval = Annotated[str, pydantic.Field(pattern=INTERVAL_PATTERN)]
"""A Go duration with units ms, s, m, h (``10m``, ``1h30m``, ``0.5s``)."""

Timeout = Annotated[str, pydantic.Field(pattern=TIMEOUT_PATTERN)]
"""A Go duration without the ``h`` unit (``60m`` is valid, ``1h`` is not)."""

Time = Annotated[str, pydantic.Field(json_schema_extra={"format": "date-time"})]
"""An RFC 3339 timestamp (``metav1.Time``), kept as the string the server sent."""

Int64 = Annotated[int, pydantic.Field(json_schema_extra={"format": "int64"})]
Int32 = Annotated[int, pydantic.Field(json_schema_extra={"format": "int32"})]

StringMap = dict[str, str]

JSONObject = Annotated[
    dict[str, Any],
    pydantic.WithJsonSchema({"type": "object", "x-kubernetes-preserve-unknown-fields": True}),
]
"""Free-form JSON kept verbatim (for example HelmRelease spec.values)."""

_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: str) -> datetime.timedelta:
    """Parse a Flux duration string (the Interval grammar) into a timedelta.

    Raises ValueError for anything the CRD pattern would reject.
    """
    if not re.fullmatch(INTERVAL_PATTERN, value):
        raise ValueError(f"invalid duration {value!r}: want e.g. 30s, 5m, 1h30m")
    seconds = sum(
        float(number) * _UNIT_SECONDS[unit] for number, unit in _DURATION_PART.findall(value)
    )
    return datetime.timedelta(seconds=seconds)


def format_duration(seconds: float) -> str:
    """``seconds`` as Go's ``time.Duration.String()`` writes it, to the nanosecond.

    ``0s``, ``150ns``, ``1.5µs``, ``150ms``, ``1.5s``, ``1m30s``, ``2h0m0s``:
    below a second the largest unit that keeps the integer part non-zero;
    from a second on hours (if any), minutes (if any hour or minute) and
    seconds with the fraction's trailing zeros dropped.
    """
    nanoseconds = round(seconds * 1e9)
    if nanoseconds < 0:
        return "-" + format_duration(-seconds)
    if nanoseconds == 0:
        return "0s"
    if nanoseconds < 1_000:
        return f"{nanoseconds}ns"
    if nanoseconds < 1_000_000:
        return _decimal(nanoseconds, 3) + "µs"
    if nanoseconds < 1_000_000_000:
        return _decimal(nanoseconds, 6) + "ms"
    whole, fraction = divmod(nanoseconds, 1_000_000_000)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    text = _decimal(secs * 1_000_000_000 + fraction, 9) + "s"
    if whole >= 60:
        text = f"{minutes}m{text}"
    if hours:
        text = f"{hours}h{text}"
    return text


def _decimal(value: int, places: int) -> str:
    """``value / 10**places`` without trailing zeros (``1500, 3`` → ``1.5``)."""
    whole, fraction = divmod(value, 10**places)
    digits = f"{fraction:0{places}d}".rstrip("0")
    return f"{whole}.{digits}" if digits else str(whole)


# --- condition types (meta) -------------------------------------------------------------

READY = "Ready"
"""Normal polarity: True when the object is fully reconciled; written only by the summarizer."""
RECONCILING = "Reconciling"
"""Abnormal-true: present only while a reconcile is in progress (or being retried)."""
STALLED = "Stalled"
"""Abnormal-true: present only while the object cannot progress without a spec change."""
HEALTHY = "Healthy"
"""Normal polarity: the applied workloads pass their health checks."""

# --- generic reasons (meta) -------------------------------------------------------------

SUCCEEDED_REASON = "Succeeded"
FAILED_REASON = "Failed"
PROGRESSING_REASON = "Progressing"
PROGRESSING_WITH_RETRY_REASON = "ProgressingWithRetry"
SUSPENDED_REASON = "Suspended"
DEPENDENCY_NOT_READY_REASON = "DependencyNotReady"
INVALID_PATH_REASON = "InvalidPath"
INVALID_URL_REASON = "InvalidURL"
INSECURE_CONNECTIONS_DISALLOWED_REASON = "InsecureConnectionsDisallowed"
UNSUPPORTED_CONNECTION_TYPE_REASON = "UnsupportedConnectionType"
PRUNE_FAILED_REASON = "PruneFailed"
ARTIFACT_FAILED_REASON = "ArtifactFailed"
BUILD_FAILED_REASON = "BuildFailed"
HEALTH_CHECK_FAILED_REASON = "HealthCheckFailed"
HEALTH_CHECK_CANCELED_REASON = "HealthCheckCanceled"
RECONCILIATION_SUCCEEDED_REASON = "ReconciliationSucceeded"
RECONCILIATION_FAILED_REASON = "ReconciliationFailed"
INVALID_CEL_EXPRESSION_REASON = "InvalidCELExpression"
FEATURE_GATE_DISABLED_REASON = "FeatureGateDisabled"

# acl
ACCESS_DENIED_CONDITION = "AccessDenied"
"""Abnormal-true: a cross-namespace reference was refused by the ACL."""
ACCESS_DENIED_REASON = "AccessDenied"

# --- annotations and finalizer ----------------------------------------------------------

FINALIZER = "finalizers.fluxcd.io"
RECONCILE_REQUEST_ANNOTATION = "reconcile.fluxcd.io/requestedAt"
FORCE_REQUEST_ANNOTATION = "reconcile.fluxcd.io/forceAt"
RESET_REQUEST_ANNOTATION = "reconcile.fluxcd.io/resetAt"
SUBSTITUTE_DISABLED_ANNOTATION = "kustomize.toolkit.fluxcd.io/substitute"
EVENT_METADATA_PREFIX = "event.toolkit.fluxcd.io/"

# --- what Flux's CRDs share ---------------------------------------------------------------

CRD_STATUS_DEFAULT = {"observedGeneration": -1}
"""The CRD default of ``status`` on every kind a controller reconciles."""
CRD_ANNOTATIONS = {SUBSTITUTE_DISABLED_ANNOTATION: "disabled"}
"""The annotations on Flux's CRDs: a Kustomization applying them must not substitute ``${…}``."""

# --- shared structs ---------------------------------------------------------------------

CONDITION_TYPE_PATTERN = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$"
)
CONDITION_REASON_PATTERN = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"
MAX_CONDITION_MESSAGE_LENGTH = 32768


class Condition(objects.ApiModel):
    """A metav1.Condition: one aspect of an object's current state."""

    type: Annotated[str, pydantic.Field(max_length=316, pattern=CONDITION_TYPE_PATTERN)]
    """Type of condition in CamelCase or in foo.example.com/CamelCase."""
    status: Literal["True", "False", "Unknown"]
    """Status of the condition, one of True, False, Unknown."""
    observed_generation: Annotated[Int64, pydantic.Field(ge=0)] | None = None
    """The .metadata.generation that the condition was set based upon."""
    last_transition_time: Time
    """Last time the condition transitioned from one status to another."""
    reason: Annotated[
        str, pydantic.Field(min_length=1, max_length=1024, pattern=CONDITION_REASON_PATTERN)
    ]
    """A programmatic identifier indicating the reason for the condition's last transition."""
    message: Annotated[str, pydantic.Field(max_length=MAX_CONDITION_MESSAGE_LENGTH)]
    """A human readable message indicating details about the transition."""


ARTIFACT_DIGEST_PATTERN = r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$"


class Artifact(objects.ApiModel):
    """The output of a source reconciliation: a file served over HTTP."""

    path: str
    """Path of the file relative to the storage root: <kind>/<namespace>/<name>/<file>."""
    url: str
    """HTTP address from which consumers download the file."""
    revision: str
    """Human-readable origin identifier, e.g. main@sha1:<commit>."""
    digest: Annotated[str, pydantic.Field(pattern=ARTIFACT_DIGEST_PATTERN)]
    """<algorithm>:<checksum> of the file, e.g. sha256:…."""
    last_update_time: Time
    """When the artifact last changed."""
    size: Int64 | None = None
    """Size of the file in bytes."""
    metadata: StringMap | None = None
    """Upstream annotations, e.g. OCI manifest annotations."""


class LocalObjectReference(objects.ApiModel):
    """A reference to an object in the referrer's namespace."""

    name: str
    """Name of the referent."""


class NamespacedObjectReference(objects.ApiModel):
    """A reference to an object, by default in the referrer's namespace."""

    name: str
    """Name of the referent."""
    namespace: str | None = None
    """Namespace of the referent; defaults to the referrer's namespace."""


class NamespacedObjectKindReference(objects.ApiModel):
    """A reference to an object of a given kind, by default in the referrer's namespace."""

    api_version: str | None = None
    """API version of the referent; empty means the preferred version."""
    kind: str
    """Kind of the referent."""
    name: str
    """Name of the referent."""
    namespace: str | None = None
    """Namespace of the referent; defaults to the referrer's namespace."""


class SecretKeyReference(objects.ApiModel):
    """A reference to a key of a Secret in the referrer's namespace."""

    name: str
    """Name of the Secret."""
    key: str | None = None
    """Key in the Secret; when empty an implementation-specific default applies."""


class DependencyReference(objects.ApiModel):
    """A dependency on another object of the same kind."""

    name: str
    """Name of the dependency."""
    namespace: str | None = None
    """Namespace of the dependency; defaults to the referrer's namespace."""
    ready_expr: str | None = None
    """CEL expression over dep and self deciding readiness instead of Ready=True."""


class ValuesReference(objects.ApiModel):
    """A reference to values (Helm values, substitution variables) in a Secret or ConfigMap."""

    kind: Literal["Secret", "ConfigMap"]
    """Kind of the values referent."""
    name: Annotated[str, pydantic.Field(min_length=1, max_length=253)]
    """Name of the values referent, in the referrer's namespace."""
    values_key: (
        Annotated[str, pydantic.Field(max_length=253, pattern=r"^[\-._a-zA-Z0-9]+$")] | None
    ) = None
    """Data key where the values are found; defaults to values.yaml."""
    target_path: (
        Annotated[
            str,
            pydantic.Field(max_length=250, pattern=r"^([a-zA-Z0-9_\-.\\\/]|\[[0-9]{1,5}\])+$"),
        ]
        | None
    ) = None
    """YAML dot-notation path at which to merge the value."""
    optional: bool | None = None
    """Tolerate a missing referent or key."""
    literal: bool | None = None
    """With targetPath, set the value verbatim (like helm --set-literal)."""


_KUBECONFIG_EXACTLY_ONE = (
    "exactly one of spec.kubeConfig.configMapRef or spec.kubeConfig.secretRef must be specified"
)


class KubeConfigReference(objects.ApiModel):
    """Where to find the kubeconfig of a remote cluster: a ConfigMap or a Secret."""

    cel_rules = (
        validation.CelRule(
            rule="has(self.configMapRef) || has(self.secretRef)",
            message=_KUBECONFIG_EXACTLY_ONE,
        ),
        validation.CelRule(
            rule="!has(self.configMapRef) || !has(self.secretRef)",
            message=_KUBECONFIG_EXACTLY_ONE,
        ),
    )

    config_map_ref: LocalObjectReference | None = None
    """ConfigMap describing a cloud provider connection (provider, cluster, …)."""
    secret_ref: SecretKeyReference | None = None
    """Secret holding a kubeconfig (key value or value.yaml by default)."""


class NamespaceSelector(objects.ApiModel):
    """Selects namespaces by labels (all labels must match; empty matches all)."""

    match_labels: StringMap | None = None
    """Labels a namespace must carry."""


class AccessFrom(objects.ApiModel):
    """The namespaces allowed to refer to an object (selectors are OR-ed)."""

    namespace_selectors: list[NamespaceSelector]
    """Namespace selectors; an object in a namespace matching any of them may refer."""


_ATOMIC_LIST = pydantic.Field(json_schema_extra={"x-kubernetes-list-type": "atomic"})


class LabelSelectorRequirement(objects.ApiModel):
    """One matchExpressions entry of a label selector."""

    key: str
    """The label key the selector applies to."""
    operator: str
    """One of In, NotIn, Exists and DoesNotExist."""
    values: Annotated[list[str], _ATOMIC_LIST] | None = None
    """Values for In and NotIn; empty for Exists and DoesNotExist."""


class LabelSelector(objects.ApiModel):
    """A metav1.LabelSelector: labels and expressions that must all match."""

    model_config = pydantic.ConfigDict(json_schema_extra={"x-kubernetes-map-type": "atomic"})

    match_labels: StringMap | None = None
    """Labels that must be present with these values."""
    match_expressions: Annotated[list[LabelSelectorRequirement], _ATOMIC_LIST] | None = None
    """Requirements that must all hold."""
