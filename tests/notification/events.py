"""Flux events and Alerts as tests build them."""

from __future__ import annotations

from typing import Any

from shared.api import notification

KUSTOMIZE = "kustomize.toolkit.fluxcd.io"


def event(
    *,
    kind: str = "Kustomization",
    name: str = "apps",
    namespace: str = "flux-system",
    severity: str = "info",
    reason: str = "ReconciliationSucceeded",
    message: str = "Applied revision: main@sha1:" + "a" * 40,
    metadata: dict[str, str] | None = None,
    group: str = KUSTOMIZE,
) -> dict[str, Any]:
    """An event body as the controllers POST it."""
    body: dict[str, Any] = {
        "involvedObject": {
            "kind": kind,
            "namespace": namespace,
            "name": name,
            "uid": "0f1e2d3c-0000-4000-8000-000000000000",
            "apiVersion": f"{group}/v1",
            "resourceVersion": "7",
        },
        "severity": severity,
        "timestamp": "2026-12-06T03:50:00Z",
        "message": message,
        "reason": reason,
        "reportingController": "kustomize-controller",
        "reportingInstance": "kustomize-controller-0",
    }
    if metadata is not None:
        body["metadata"] = metadata
    return body


def parsed(**kwargs: Any) -> notification.Event:
    return notification.Event.model_validate(event(**kwargs))


def alert(
    spec: dict[str, Any], *, name: str = "on-apps", namespace: str = "flux-system"
) -> dict[str, Any]:
    """An Alert object; ``spec`` gets a providerRef and eventSources unless it has them."""
    full = {
        "providerRef": {"name": "hook"},
        "eventSources": [{"kind": "Kustomization", "name": "*"}],
        **spec,
    }
    return {
        "apiVersion": notification.ALERT_API_VERSION,
        "kind": "Alert",
        "metadata": {"name": name, "namespace": namespace, "resourceVersion": "1"},
        "spec": full,
    }
