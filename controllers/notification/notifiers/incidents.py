"""Incident and observability notifiers: alertmanager, grafana, opsgenie."""

from __future__ import annotations

import datetime
import hashlib

from controllers.notification.notifiers import base
from shared.api import notification


def _alertmanager(event: notification.Event, target: base.Target) -> base.Request:
    metadata = dict(event.metadata or {})
    annotations = {"message": event.message}
    if "summary" in metadata:
        annotations["summary"] = metadata.pop("summary")
    obj = event.involved_object
    labels = {
        **metadata,
        "alertname": f"Flux{obj.kind or ''}{event.reason[:1].upper()}{event.reason[1:].lower()}",
        "severity": event.severity,
        "reason": event.reason,
        "kind": obj.kind or "",
        "name": obj.name or "",
        "namespace": obj.namespace or "",
        "reportingcontroller": event.reporting_controller,
    }
    headers = {"Authorization": f"Bearer {target.token}"} if target.token else {}
    if target.username and target.password:
        headers = base.basic_auth(target)
    alert = {
        "status": "firing",
        "labels": labels,
        "annotations": annotations,
        "startsAt": event.timestamp,
        "endsAt": "0001-01-01T00:00:00Z",
    }
    return base.post(base.require_address(target), [alert], headers)


def _grafana(event: notification.Event, target: base.Target) -> base.Request:
    obj = event.involved_object
    tags = ["flux", event.reporting_controller]
    tags += [
        f"{k.replace(':', '|')}: {v.replace(':', '|')}" for k, v in (event.metadata or {}).items()
    ]
    tags += [f"kind: {obj.kind}", f"name: {obj.name}", f"namespace: {obj.namespace}"]
    when = datetime.datetime.fromisoformat(event.timestamp.replace("Z", "+00:00"))
    payload = {"when": int(when.timestamp()), "text": base.author(event), "tags": tags}
    headers = {}
    if target.token:
        headers = {"Authorization": f"Bearer {target.token}"}
    elif target.username and target.password:
        headers = base.basic_auth(target)
    return base.post(base.require_address(target), payload, headers)


def opsgenie_alias(provider_uid: str, event: notification.Event) -> str:
    """The alias that makes Opsgenie de-duplicate one object's alerts of one reason."""
    obj = event.involved_object
    key = f"{provider_uid}/{obj.kind}/{obj.namespace}/{obj.name}/{event.reason}"
    return hashlib.sha256(key.encode()).hexdigest()[:64]


def _opsgenie(event: notification.Event, target: base.Target) -> base.Request:
    if not target.token:
        raise base.NotifierError("empty Opsgenie apikey/token")
    obj = event.involved_object
    payload = {
        "message": f"{obj.kind}/{obj.name}",
        "alias": opsgenie_alias(target.provider_uid, event),
        "description": event.message,
        "details": {**(event.metadata or {}), "severity": event.severity},
    }
    headers = {"Authorization": f"GenieKey {target.token}"}
    return base.post(base.require_address(target), payload, headers)


NOTIFIERS: dict[str, base.Notifier] = {
    "alertmanager": base.single(_alertmanager),
    "grafana": base.single(_grafana),
    "opsgenie": base.single(_opsgenie),
}
