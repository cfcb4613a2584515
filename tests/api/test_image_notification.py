"""Behaviour specific to the image and notification models: CEL rules, defaults, events."""

from __future__ import annotations

import typing
from typing import Any

import pydantic
import pytest

from shared.api import crdgen, image, notification, objects, registry

IMAGE_V1 = "image.toolkit.fluxcd.io/v1"
RECEIVER_V1 = "notification.toolkit.fluxcd.io/v1"
NOTIFICATION_V1BETA3 = "notification.toolkit.fluxcd.io/v1beta3"


def _validate(manifest: dict[str, Any]) -> objects.ApiObject:
    return registry.kind_for(manifest["apiVersion"], manifest["kind"]).model_validate(manifest)


def _refusal(manifest: dict[str, Any]) -> str | None:
    """The validation error text for ``manifest``, or None when it is accepted."""
    try:
        _validate(manifest)
    except pydantic.ValidationError as error:
        return str(error)
    return None


# --- ImagePolicy: interval only with, and required by, digestReflectionPolicy Always -------

_ONLY_WITH_ALWAYS = "spec.interval is only accepted when spec.digestReflectionPolicy"
_REQUIRED_WITH_ALWAYS = "spec.interval must be set when spec.digestReflectionPolicy"

IMAGE_POLICY_INTERVAL_CASES = [
    ("no policy, no interval", None, None, None),
    ("no policy, interval", None, "5m", _ONLY_WITH_ALWAYS),
    ("Never, no interval", "Never", None, None),
    ("Never, interval", "Never", "5m", _ONLY_WITH_ALWAYS),
    ("IfNotPresent, interval", "IfNotPresent", "5m", _ONLY_WITH_ALWAYS),
    ("Always, interval", "Always", "5m", None),
    ("Always, no interval", "Always", None, _REQUIRED_WITH_ALWAYS),
]


@pytest.mark.parametrize(
    ("reflection", "interval", "refusal"),
    [case[1:] for case in IMAGE_POLICY_INTERVAL_CASES],
    ids=[case[0] for case in IMAGE_POLICY_INTERVAL_CASES],
)
def test_image_policy_interval_rules(
    reflection: str | None, interval: str | None, refusal: str | None
) -> None:
    spec: dict[str, Any] = {
        "imageRepositoryRef": {"name": "app"},
        "policy": {"semver": {"range": "1.x"}},
    }
    if reflection is not None:
        spec["digestReflectionPolicy"] = reflection
    if interval is not None:
        spec["interval"] = interval
    manifest = {"apiVersion": IMAGE_V1, "kind": "ImagePolicy", "metadata": {}, "spec": spec}

    error = _refusal(manifest)

    if refusal is None:
        assert error is None
    else:
        assert error is not None
        assert refusal in error


# --- Receiver: secretRef for every type but generic-oidc, oidcProviders only for it --------

_OIDC_PROVIDER = {
    "issuerURL": "https://token.actions.githubusercontent.com",
    "validations": [{"expression": "claims.repository_owner == 'org'", "message": "owner"}],
}
_SECRET = {"name": "token"}

RECEIVER_TYPE_CASES: list[tuple[str, str, dict[str, Any], list[str]]] = [
    ("github with secret", "github", {"secretRef": _SECRET}, []),
    (
        "github without secret",
        "github",
        {},
        ["secretRef is required when type is not generic-oidc"],
    ),
    (
        "github with oidc providers",
        "github",
        {"secretRef": _SECRET, "oidcProviders": [_OIDC_PROVIDER]},
        ["oidcProviders can only be set when type is generic-oidc"],
    ),
    ("github with empty oidc providers", "github", {"secretRef": _SECRET, "oidcProviders": []}, []),
    ("generic-oidc with a provider", "generic-oidc", {"oidcProviders": [_OIDC_PROVIDER]}, []),
    (
        "generic-oidc without providers",
        "generic-oidc",
        {},
        ["generic-oidc receivers must define at least one oidcProvider"],
    ),
    (
        "generic-oidc with empty providers",
        "generic-oidc",
        {"oidcProviders": []},
        ["generic-oidc receivers must define at least one oidcProvider"],
    ),
    (
        "generic-oidc with secret",
        "generic-oidc",
        {"secretRef": _SECRET, "oidcProviders": [_OIDC_PROVIDER]},
        ["secretRef cannot be set when type is generic-oidc"],
    ),
]


@pytest.mark.parametrize(
    ("receiver_type", "extra", "refusals"),
    [case[1:] for case in RECEIVER_TYPE_CASES],
    ids=[case[0] for case in RECEIVER_TYPE_CASES],
)
def test_receiver_type_rules(
    receiver_type: str, extra: dict[str, Any], refusals: list[str]
) -> None:
    spec = {"type": receiver_type, "resources": [{"kind": "GitRepository", "name": "app"}], **extra}
    manifest = {"apiVersion": RECEIVER_V1, "kind": "Receiver", "metadata": {}, "spec": spec}

    error = _refusal(manifest)

    if not refusals:
        assert error is None
    else:
        assert error is not None
        for refusal in refusals:
            assert refusal in error


# --- Provider: commitStatusExpr only for the commit-status types ---------------------------

PROVIDER_TYPES = typing.get_args(notification.ProviderSpec.model_fields["type"].annotation)


@pytest.mark.parametrize("provider_type", PROVIDER_TYPES)
def test_commit_status_expr_only_for_commit_status_types(provider_type: str) -> None:
    manifest = {
        "apiVersion": NOTIFICATION_V1BETA3,
        "kind": "Provider",
        "metadata": {},
        "spec": {"type": provider_type, "commitStatusExpr": "event.involvedObject.name"},
    }

    error = _refusal(manifest)

    if provider_type in notification.COMMIT_STATUS_PROVIDER_TYPES:
        assert error is None
    else:
        assert error is not None
        assert "spec.commitStatusExpr is only supported" in error


# --- defaults: CRD defaults and nothing controller-side ------------------------------------

DEFAULT_CASES = [
    (
        "ImageRepository",
        {"apiVersion": IMAGE_V1, "kind": "ImageRepository"},
        {"image": "ghcr.io/org/app", "interval": "5m"},
        {
            "image": "ghcr.io/org/app",
            "interval": "5m",
            "exclusionList": ["^.*\\.sig$"],
            "provider": "generic",
        },
    ),
    (
        "ImagePolicy",
        {"apiVersion": IMAGE_V1, "kind": "ImagePolicy"},
        {"imageRepositoryRef": {"name": "app"}, "policy": {"alphabetical": {}, "numerical": {}}},
        {
            "imageRepositoryRef": {"name": "app"},
            "policy": {"alphabetical": {"order": "asc"}, "numerical": {"order": "asc"}},
            "digestReflectionPolicy": "Never",
        },
    ),
    (
        "ImageUpdateAutomation",
        {"apiVersion": IMAGE_V1, "kind": "ImageUpdateAutomation"},
        {"interval": "10m", "sourceRef": {"name": "fleet"}},
        {
            "interval": "10m",
            "sourceRef": {"kind": "GitRepository", "name": "fleet"},
            "update": {"strategy": "Setters"},
        },
    ),
    (
        "ImageUpdateAutomation with an empty update",
        {"apiVersion": IMAGE_V1, "kind": "ImageUpdateAutomation"},
        {"interval": "10m", "sourceRef": {"name": "fleet"}, "update": {"path": "./apps"}},
        {
            "interval": "10m",
            "sourceRef": {"kind": "GitRepository", "name": "fleet"},
            "update": {"path": "./apps", "strategy": "Setters"},
        },
    ),
    (
        "Receiver",
        {"apiVersion": RECEIVER_V1, "kind": "Receiver"},
        {"type": "generic", "secretRef": _SECRET, "resources": [{"kind": "Bucket", "name": "b"}]},
        {
            "type": "generic",
            "secretRef": _SECRET,
            "resources": [{"kind": "Bucket", "name": "b"}],
            "interval": "10m",
        },
    ),
    (
        "Provider (timeout stays empty: 15s is controller-side)",
        {"apiVersion": NOTIFICATION_V1BETA3, "kind": "Provider"},
        {"type": "generic"},
        {"type": "generic"},
    ),
    (
        "Alert",
        {"apiVersion": NOTIFICATION_V1BETA3, "kind": "Alert"},
        {"providerRef": {"name": "p"}, "eventSources": [{"kind": "Kustomization", "name": "*"}]},
        {
            "providerRef": {"name": "p"},
            "eventSources": [{"kind": "Kustomization", "name": "*"}],
            "eventSeverity": "info",
        },
    ),
]


@pytest.mark.parametrize(
    ("head", "spec", "defaulted"),
    [case[1:] for case in DEFAULT_CASES],
    ids=[case[0] for case in DEFAULT_CASES],
)
def test_minimal_spec_gains_only_crd_defaults(
    head: dict[str, str], spec: dict[str, Any], defaulted: dict[str, Any]
) -> None:
    dumped = objects.dump(_validate({**head, "metadata": {"name": "x"}, "spec": spec}))

    assert dumped["spec"] == defaulted


# --- generated schema details the models express through extra schema keys -----------------


def _schema_at(kind: type[objects.ApiObject], *path: str) -> dict[str, Any]:
    node = crdgen.openapi_schema(kind)
    for step in path:
        node = node["items"] if step == "[]" else node["properties"][step]
    return node


SCHEMA_CASES: list[tuple[str, type[objects.ApiObject], tuple[str, ...], dict[str, Any]]] = [
    (
        "oidcProviders is a list map keyed by issuerURL",
        notification.Receiver,
        ("spec", "oidcProviders"),
        {"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["issuerURL"]},
    ),
    (
        "issuerURL keeps its acronym spelling and is required",
        notification.Receiver,
        ("spec", "oidcProviders", "[]"),
        {"required": ["issuerURL", "validations"]},
    ),
    (
        "policySelector is an atomic map",
        image.ImageUpdateAutomation,
        ("spec", "policySelector"),
        {"x-kubernetes-map-type": "atomic"},
    ),
    (
        "sourceRef.kind is required and defaulted",
        image.ImageUpdateAutomation,
        ("spec", "sourceRef"),
        {"required": ["kind", "name"]},
    ),
    (
        "update defaults to the Setters strategy",
        image.ImageUpdateAutomation,
        ("spec", "update"),
        {"default": {"strategy": "Setters"}},
    ),
    (
        "Receiver spec requires type and resources only (secretRef is a CEL rule)",
        notification.Receiver,
        ("spec",),
        {"required": ["resources", "type"]},
    ),
]


@pytest.mark.parametrize(
    ("kind", "path", "expected"),
    [case[1:] for case in SCHEMA_CASES],
    ids=[case[0] for case in SCHEMA_CASES],
)
def test_generated_schema_detail(
    kind: type[objects.ApiObject], path: tuple[str, ...], expected: dict[str, Any]
) -> None:
    node = _schema_at(kind, *path)

    assert {key: node.get(key) for key in expected} == expected


@pytest.mark.parametrize("kind", [notification.Provider, notification.Alert])
def test_provider_and_alert_have_no_status(kind: type[objects.ApiObject]) -> None:
    assert "status" not in crdgen.openapi_schema(kind)["properties"]


# --- the event JSON POSTed to the notification-controller ----------------------------------

EVENT: dict[str, Any] = {
    "involvedObject": {
        "kind": "ImagePolicy",
        "namespace": "apps",
        "name": "web",
        "uid": "5b1f0c0e-7d1a-4c61-9a7e-0b8f3c1d2e4f",
        "apiVersion": "image.toolkit.fluxcd.io/v1",
        "resourceVersion": "123",
    },
    "severity": "info",
    "timestamp": "2026-08-07T12:00:00Z",
    "message": (
        "Latest image tag for ghcr.io/org/web resolved to 1.2.3 (previously ghcr.io/org/web:1.2.2)"
    ),
    "reason": "Succeeded",
    "metadata": {"event.toolkit.fluxcd.io/team": "web"},
    "reportingController": "image-reflector-controller",
    "reportingInstance": "image-reflector-controller-6d8f7c9b5-x2x7q",
}


def _json(value: dict[str, Any]) -> bytes:
    """``value`` as the JSON bytes a controller would POST."""
    return pydantic.TypeAdapter(dict[str, Any]).dump_json(value)


def test_event_round_trips_the_wire_json() -> None:
    event = notification.Event.model_validate_json(_json(EVENT))

    assert event.involved_object.api_version == "image.toolkit.fluxcd.io/v1"
    assert event.severity == notification.SEVERITY_INFO
    assert objects.dump(event) == EVENT


def _without(key: str) -> dict[str, Any]:
    return {k: v for k, v in EVENT.items() if k != key}


EVENT_REFUSALS = [
    ("severity warning", {**EVENT, "severity": "warning"}, "severity"),
    ("no involved object", _without("involvedObject"), "involvedObject"),
    ("no reporting controller", _without("reportingController"), "reportingController"),
    ("no reason", _without("reason"), "reason"),
    ("timestamp not RFC 3339", {**EVENT, "timestamp": "2026-08-07 12:00"}, "timestamp"),
    ("message too long", {**EVENT, "message": "x" * 39001}, "at most 39000 characters"),
    ("metadata value not a string", {**EVENT, "metadata": {"k": 1}}, "metadata.k"),
]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [case[1:] for case in EVENT_REFUSALS],
    ids=[case[0] for case in EVENT_REFUSALS],
)
def test_event_refuses_invalid_json(body: dict[str, Any], fragment: str) -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        notification.Event.model_validate_json(_json(body))

    assert fragment in str(caught.value)


def test_event_ignores_unknown_fields_like_the_go_decoder() -> None:
    body = {**EVENT, "involvedObject": {**EVENT["involvedObject"], "extra": 1}, "future": "x"}

    event = notification.Event.model_validate_json(_json(body))

    assert objects.dump(event) == EVENT
