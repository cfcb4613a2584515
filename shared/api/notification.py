"""notification.toolkit.fluxcd.io: webhooks in (Receiver), notifications out (Provider, Alert).

Receiver is served as v1; Provider and Alert as v1beta3.

Also the Flux event JSON (fluxcd/pkg ``apis/event/v1beta1``) that every
controller POSTs to the notification-controller's event intake. ``Event`` is a
plain model, not a kind: it has no CRD and the registry ignores it.

Conditions: only the Receiver has a status, with the meta condition types
``meta.READY`` (normal polarity), ``meta.RECONCILING`` and ``meta.STALLED``
(both abnormal-true). Provider and Alert have no status at all; problems with
them surface as Warning events with the event-only reasons below.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

import pydantic

from shared.api import meta, objects, status, validation

GROUP = "notification.toolkit.fluxcd.io"
RECEIVER_VERSION = "v1"
RECEIVER_API_VERSION = f"{GROUP}/{RECEIVER_VERSION}"
PROVIDER_VERSION = "v1beta3"
PROVIDER_API_VERSION = f"{GROUP}/{PROVIDER_VERSION}"
ALERT_VERSION = "v1beta3"
ALERT_API_VERSION = f"{GROUP}/{ALERT_VERSION}"
CATEGORIES = ("all", "fluxcd", "fluxcd-notifications")

RECEIVER_WEBHOOK_PATH_PREFIX = "/hook/"
DEFAULT_OIDC_AUDIENCE = "notification-controller"

# --- reasons -----------------------------------------------------------------------------

INITIALIZED_REASON = "Initialized"
"""Declared by Flux for Receivers but never set by its controller."""
VALIDATION_FAILED_REASON = "ValidationFailed"
"""Ready=False with Stalled=True: the Receiver's secretRef/oidcProviders invariants are broken."""
TOKEN_NOT_FOUND_REASON = "TokenNotFound"
"""Ready=False: the Receiver's Secret is missing or lacks the token key (retried)."""

# Event-only reasons (Warning events on Alerts; never on conditions).
MIGRATION_REASON = "Migration"
INVALID_CONFIG_REASON = "InvalidConfig"
NOTIFICATION_DISPATCH_FAILED_REASON = "NotificationDispatchFailed"
SOURCE_FETCH_FAILED_REASON = "SourceFetchFailed"
METADATA_APPEND_FAILED_REASON = "MetadataAppendFailed"

# --- shared reference --------------------------------------------------------------------

ObjectKind = Literal[
    "Bucket",
    "GitRepository",
    "Kustomization",
    "HelmRelease",
    "HelmChart",
    "HelmRepository",
    "ImageRepository",
    "ImagePolicy",
    "ImageUpdateAutomation",
    "OCIRepository",
    "ArtifactGenerator",
    "ExternalArtifact",
]
"""The Flux kinds a Receiver can trigger and an Alert can watch."""

_ReferenceName = Annotated[str, pydantic.Field(min_length=1, max_length=253)]


class CrossNamespaceObjectReference(objects.ApiModel):
    """A Flux object (or, with name *, every object matching labels), in any namespace."""

    api_version: str | None = None
    """API version of the referent."""
    kind: ObjectKind
    """Kind of the referent."""
    name: _ReferenceName
    """Name of the referent; * targets every object matching matchLabels."""
    namespace: _ReferenceName | None = None
    """Namespace of the referent; the referrer's namespace when absent."""
    match_labels: meta.StringMap | None = None
    """Labels the referents must carry (all of them); meant for name *."""


# --- Receiver ----------------------------------------------------------------------------


class ReceiverResource(CrossNamespaceObjectReference):
    """A resource a Receiver asks to reconcile, with an optional per-resource filter."""

    filter: str | None = None
    """CEL filter over res and req (and claims for generic-oidc), ANDed with resourceFilter."""


class OIDCVariable(objects.ApiModel):
    """A named CEL value over the token claims, available to later expressions as vars.<name>."""

    name: str
    """Variable name; a valid CEL identifier."""
    expression: str
    """CEL expression defining the value."""


class OIDCValidation(objects.ApiModel):
    """A CEL condition over the token claims and variables that must hold."""

    expression: str
    """CEL boolean expression."""
    message: str
    """Returned to the caller when the expression is false."""


class OIDCProvider(objects.ApiModel):
    """An OIDC issuer whose tokens authenticate requests to a generic-oidc Receiver."""

    issuer_url: Annotated[str, pydantic.Field(alias="issuerURL", pattern=r"^https?://")]
    """Issuer URL used for discovery; must equal the token's iss claim."""
    audience: str | None = None
    """Expected aud claim; notification-controller when empty."""
    variables: list[OIDCVariable] | None = None
    """Named CEL values evaluated in order."""
    validations: Annotated[list[OIDCValidation], pydantic.Field(min_length=1)]
    """Conditions that must all hold; they should constrain the caller's identity claims."""


_GENERIC_OIDC_NEEDS_PROVIDER = "generic-oidc receivers must define at least one oidcProvider"
_OIDC_PROVIDERS_ONLY_GENERIC_OIDC = "oidcProviders can only be set when type is generic-oidc"
_GENERIC_OIDC_NO_SECRET = "secretRef cannot be set when type is generic-oidc"
_SECRET_REQUIRED = "secretRef is required when type is not generic-oidc"


class ReceiverSpec(objects.ApiModel):
    """How to authenticate an incoming webhook and which objects it asks to reconcile."""

    cel_rules = (
        validation.CelRule(
            rule=(
                "self.type != 'generic-oidc' || "
                "(has(self.oidcProviders) && size(self.oidcProviders) > 0)"
            ),
            message=_GENERIC_OIDC_NEEDS_PROVIDER,
        ),
        validation.CelRule(
            rule=(
                "self.type == 'generic-oidc' || !has(self.oidcProviders) || "
                "size(self.oidcProviders) == 0"
            ),
            message=_OIDC_PROVIDERS_ONLY_GENERIC_OIDC,
        ),
        validation.CelRule(
            rule="self.type != 'generic-oidc' || !has(self.secretRef)",
            message=_GENERIC_OIDC_NO_SECRET,
        ),
        validation.CelRule(
            rule="self.type == 'generic-oidc' || has(self.secretRef)",
            message=_SECRET_REQUIRED,
        ),
    )

    type: Literal[
        "generic",
        "generic-hmac",
        "generic-oidc",
        "github",
        "gitlab",
        "bitbucket",
        "harbor",
        "dockerhub",
        "quay",
        "gcr",
        "nexus",
        "acr",
        "cdevents",
    ]
    """Webhook sender: decides how the request is authenticated and decoded."""
    interval: meta.Interval = "10m"
    """How often to reconcile the Receiver with its Secret."""
    events: list[str] | None = None
    """Event types to handle (github, gitlab, bitbucket, cdevents), e.g. push; all when empty."""
    resources: list[ReceiverResource]
    """Objects annotated with reconcile.fluxcd.io/requestedAt when a webhook arrives."""
    resource_filter: str | None = None
    """CEL filter over res and req (and claims for generic-oidc) that each resource must pass."""
    secret_ref: meta.LocalObjectReference | None = None
    """Secret with the token key (gcr also needs email and audience); not for generic-oidc."""
    oidc_providers: (
        Annotated[
            list[OIDCProvider],
            pydantic.Field(
                json_schema_extra={
                    "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["issuerURL"],
                }
            ),
        ]
        | None
    ) = None
    """OIDC issuers trusted by a generic-oidc Receiver."""
    suspend: bool | None = None
    """Refuse webhooks (HTTP 503) while true."""


class ReceiverStatus(status.ObjectStatus):
    """The observed state of a Receiver."""

    describes = "Receiver"

    webhook_path: str | None = None
    """The webhook path: /hook/ then the hex sha256 of token, name and namespace."""


class Receiver(objects.ApiObject):
    """An incoming webhook that asks Flux objects to reconcile."""

    crd: ClassVar[objects.CrdInfo] = objects.CrdInfo(
        group=GROUP,
        version=RECEIVER_VERSION,
        kind="Receiver",
        plural="receivers",
        singular="receiver",
        categories=CATEGORIES,
        printer_columns=(objects.AGE_COLUMN, *objects.ready_columns()),
        status_default=meta.CRD_STATUS_DEFAULT,
        annotations=meta.CRD_ANNOTATIONS,
    )

    api_version: Literal["notification.toolkit.fluxcd.io/v1"] = "notification.toolkit.fluxcd.io/v1"
    kind: Literal["Receiver"] = "Receiver"
    spec: ReceiverSpec
    status: ReceiverStatus | None = None


# --- Provider ----------------------------------------------------------------------------

COMMIT_STATUS_PROVIDER_TYPES = (
    "github",
    "gitlab",
    "gitea",
    "bitbucketserver",
    "bitbucket",
    "azuredevops",
)
"""Provider types that set Git commit statuses (and may use commitStatusExpr)."""
CHANGE_REQUEST_PROVIDER_TYPES = (
    "githubpullrequestcomment",
    "gitlabmergerequestcomment",
    "giteapullrequestcomment",
)
"""Provider types that comment on pull or merge requests."""

_COMMIT_STATUS_EXPR_TYPES = (
    "spec.commitStatusExpr is only supported for the 'github', 'gitlab', 'gitea', "
    "'bitbucketserver', 'bitbucket', 'azuredevops' provider types"
)


class ProviderSpec(objects.ApiModel):
    """Where and how notifications are sent."""

    cel_rules = (
        validation.CelRule(
            rule=(
                "self.type == 'github' || self.type == 'gitlab' || self.type == 'gitea' || "
                "self.type == 'bitbucketserver' || self.type == 'bitbucket' || "
                "self.type == 'azuredevops' || !has(self.commitStatusExpr)"
            ),
            message=_COMMIT_STATUS_EXPR_TYPES,
        ),
    )

    type: Literal[
        "slack",
        "discord",
        "msteams",
        "rocket",
        "generic",
        "generic-hmac",
        "github",
        "gitlab",
        "gitea",
        "giteapullrequestcomment",
        "bitbucketserver",
        "bitbucket",
        "azuredevops",
        "googlechat",
        "googlepubsub",
        "webex",
        "sentry",
        "azureeventhub",
        "telegram",
        "lark",
        "matrix",
        "opsgenie",
        "alertmanager",
        "grafana",
        "githubdispatch",
        "githubpullrequestcomment",
        "gitlabmergerequestcomment",
        "pagerduty",
        "datadog",
        "nats",
        "zulip",
        "otel",
        "zoom",
        "incident.io",
    ]
    """Which notifier implementation to use."""
    interval: meta.Interval | None = None
    """Deprecated and unused in v1beta3."""
    channel: Annotated[str, pydantic.Field(max_length=2048)] | None = None
    """Destination channel, room, topic or chat, depending on the type."""
    username: Annotated[str, pydantic.Field(max_length=2048)] | None = None
    """Name under which notifications are posted."""
    address: Annotated[str, pydantic.Field(max_length=2048)] | None = None
    """Endpoint: an HTTP(S) address for most types, a project or namespace for others."""
    timeout: meta.Timeout | None = None
    """Timeout of one dispatch; 15s when empty."""
    proxy: (
        Annotated[str, pydantic.Field(max_length=2048, pattern=r"^(http|https)://.*$")] | None
    ) = None
    """Deprecated proxy address; use proxySecretRef."""
    proxy_secret_ref: meta.LocalObjectReference | None = None
    """Secret with proxy settings: address, optional username and password."""
    secret_ref: meta.LocalObjectReference | None = None
    """Secret with credentials: address, token, username, password, headers, type-specific keys."""
    service_account_name: str | None = None
    """ServiceAccount for workload identity (azureeventhub, azuredevops, googlepubsub)."""
    cert_secret_ref: meta.LocalObjectReference | None = None
    """Secret with TLS material: ca.crt, and/or tls.crt with tls.key."""
    suspend: bool | None = None
    """Stop sending notifications through this Provider."""
    commit_status_expr: str | None = None
    """CEL string expression over event, provider and alert: the commit status key."""


class Provider(objects.ApiObject):
    """A notification destination: a chat, a webhook, a Git host's commit statuses."""

    crd: ClassVar[objects.CrdInfo] = objects.CrdInfo(
        group=GROUP,
        version=PROVIDER_VERSION,
        kind="Provider",
        plural="providers",
        singular="provider",
        categories=CATEGORIES,
        printer_columns=(objects.AGE_COLUMN,),
        annotations=meta.CRD_ANNOTATIONS,
        status_subresource=False,
    )

    api_version: Literal["notification.toolkit.fluxcd.io/v1beta3"] = (
        "notification.toolkit.fluxcd.io/v1beta3"
    )
    kind: Literal["Provider"] = "Provider"
    spec: ProviderSpec


# --- Alert -------------------------------------------------------------------------------


class AlertSpec(objects.ApiModel):
    """Which events to forward to which Provider."""

    provider_ref: meta.LocalObjectReference
    """The Provider, in the Alert's namespace, to send through."""
    event_severity: Literal["info", "error"] = "info"
    """info forwards every event; error forwards only error events."""
    event_sources: list[CrossNamespaceObjectReference]
    """Objects whose events are forwarded, by kind, name (or *), namespace and labels."""
    inclusion_list: list[str] | None = None
    """Regular expressions; when set, a message must match one of them."""
    event_metadata: meta.StringMap | None = None
    """Extra metadata added to each notification; the emitter's own keys win on conflict."""
    exclusion_list: list[str] | None = None
    """Regular expressions; a message matching any of them is dropped."""
    summary: Annotated[str, pydantic.Field(max_length=255)] | None = None
    """Deprecated short description; use eventMetadata.summary."""
    suspend: bool | None = None
    """Skip this Alert."""


class Alert(objects.ApiObject):
    """A rule forwarding the events of some Flux objects to a Provider."""

    crd: ClassVar[objects.CrdInfo] = objects.CrdInfo(
        group=GROUP,
        version=ALERT_VERSION,
        kind="Alert",
        plural="alerts",
        singular="alert",
        categories=CATEGORIES,
        printer_columns=(objects.AGE_COLUMN,),
        annotations=meta.CRD_ANNOTATIONS,
        status_subresource=False,
    )

    api_version: Literal["notification.toolkit.fluxcd.io/v1beta3"] = (
        "notification.toolkit.fluxcd.io/v1beta3"
    )
    kind: Literal["Alert"] = "Alert"
    spec: AlertSpec


# --- Event (POSTed to the event intake) --------------------------------------------------

EVENT_GROUP = "event.toolkit.fluxcd.io"

SEVERITY_TRACE = "trace"
"""Recorded as a Normal Kubernetes event only; never POSTed."""
SEVERITY_INFO = "info"
"""A Normal event: something changed."""
SEVERITY_ERROR = "error"
"""A Warning event: something went wrong."""

# Metadata key suffixes; on the wire they follow "<emitter group>/" (or the
# event group for keys copied from event.toolkit.fluxcd.io/ annotations).
META_REVISION_KEY = "revision"
META_ORIGIN_REVISION_KEY = "originRevision"
META_CHECKSUM_KEY = "checksum"
"""Deprecated in favour of META_DIGEST_KEY."""
META_DIGEST_KEY = "digest"
META_TOKEN_KEY = "token"
"""Opaque de-duplication token; part of the rate-limit key, never shown."""
META_COMMIT_KEY = "commit"
META_CHANGE_REQUEST_KEY = "change_request"
META_COMMIT_STATUS_KEY = "commit_status"
META_COMMIT_STATUS_UPDATE_VALUE = "update"

MAX_EVENT_MESSAGE_LENGTH = 39000

RFC3339_PATTERN = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})$"
)
"""What Go's time.Parse(time.RFC3339) accepts, as metav1.Time decodes it."""

# NB: the intake decodes events with Go's encoding/json, which drops unknown
# fields rather than refusing them; these models do the same, so an event
# from a newer emitter is still accepted.
_EVENT_CONFIG = pydantic.ConfigDict(extra="ignore")


class ObjectReference(objects.ApiModel):
    """A core/v1 ObjectReference: the object an event is about."""

    model_config = _EVENT_CONFIG

    kind: str | None = None
    """Kind of the object."""
    namespace: str | None = None
    """Namespace of the object."""
    name: str | None = None
    """Name of the object."""
    uid: str | None = None
    """UID of the object."""
    api_version: str | None = None
    """API version of the object; the intake derives the object's group from it."""
    resource_version: str | None = None
    """Resource version of the object when the event was emitted."""
    field_path: str | None = None
    """Part of the object the event is about, if not the whole object."""


class Event(objects.ApiModel):
    """A Flux event as controllers POST it (JSON) to the notification-controller."""

    model_config = _EVENT_CONFIG

    involved_object: ObjectReference
    """The object this event is about."""
    severity: Literal["trace", "info", "error"]
    """Severity: Warning events are error, Trace events trace, the rest info."""
    timestamp: Annotated[str, pydantic.Field(pattern=RFC3339_PATTERN)]
    """When the event was recorded (RFC 3339)."""
    message: Annotated[str, pydantic.Field(max_length=MAX_EVENT_MESSAGE_LENGTH)]
    """Human-readable description."""
    reason: str
    """Machine-readable CamelCase reason, usually the Ready condition's reason."""
    metadata: meta.StringMap | None = None
    """Context, keyed <emitter group>/<key> or event.toolkit.fluxcd.io/<key>."""
    reporting_controller: str
    """Name of the emitting controller, e.g. image-reflector-controller."""
    reporting_instance: str | None = None
    """Emitting instance (pod hostname)."""
