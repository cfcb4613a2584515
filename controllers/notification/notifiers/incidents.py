"""Incident and observability notifiers: alertmanager, grafana, opsgenie, pagerduty, datadog,
sentry."""

from __future__ import annotations

import datetime
import hashlib
import json
import urllib.parse
from typing import Any

from controllers.notification.notifiers import base, gitstatuses
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


def _host(target: base.Target) -> str:
    parts = urllib.parse.urlsplit(base.require_address(target))
    return f"{parts.scheme}://{parts.netloc}"


def _pagerduty(event: notification.Event, target: base.Target) -> list[base.Request]:
    """An incident event (trigger on errors, else resolve) and, for info, a change event.

    The routing key is the Provider's ``channel``; ``Progressing`` is skipped.
    """
    if event.reason == gitstatuses.PROGRESSING_REASON:
        return []
    endpoint = _host(target)
    obj = event.involved_object
    summary = f"{gitstatuses.words(event.reason)}: {(obj.kind or '').lower()}/{obj.name}"
    source = f"Flux {event.reporting_controller}"
    details = {"message": event.message, "metadata": dict(event.metadata or {})}
    incident: dict[str, Any] = {
        "routing_key": target.channel,
        "event_action": "resolve",
        "dedup_key": obj.uid or "",
    }
    if event.severity == notification.SEVERITY_ERROR:
        incident["event_action"] = "trigger"
        incident["payload"] = {
            "summary": summary,
            "source": source,
            "severity": "error",
            "timestamp": event.timestamp,
            "component": obj.name,
            "group": obj.kind,
            "custom_details": details,
        }
    requests = [base.post(f"{endpoint}/v2/enqueue", incident)]
    if event.severity == notification.SEVERITY_INFO:
        change = {
            "routing_key": target.channel,
            "payload": {
                "summary": summary,
                "source": source,
                "timestamp": event.timestamp,
                "custom_details": details,
            },
        }
        requests.append(base.post(f"{endpoint}/v2/change/enqueue", change))
    return requests


def _datadog(event: notification.Event, target: base.Target) -> base.Request:
    if not target.token:
        raise base.NotifierError("token cannot be empty")
    obj = event.involved_object
    tags = [
        f"flux_reporting_controller:{event.reporting_controller}",
        f"flux_reason:{event.reason}",
        f"kube_kind:{obj.kind}",
        f"kube_name:{obj.name}",
        f"kube_namespace:{obj.namespace}",
    ]
    tags += [f"{k}:{v}" for k, v in (event.metadata or {}).items()]
    when = datetime.datetime.fromisoformat(event.timestamp.replace("Z", "+00:00"))
    payload = {
        "title": f"Events from the {obj.kind} {obj.name}/{obj.namespace}",
        "text": event.message,
        "tags": [tag.lower() for tag in tags],
        "source_type_name": "fluxcd",
        "date_happened": int(when.timestamp()),
        "alert_type": "error" if event.severity == notification.SEVERITY_ERROR else "info",
    }
    return base.post(f"{_host(target)}/api/v1/events", payload, {"DD-API-KEY": target.token})


SENTRY_CLIENT = "headwater.notification/1"


def _sentry_store(dsn: str) -> tuple[str, str]:
    """The envelope endpoint and the ``X-Sentry-Auth`` header of a Sentry DSN.

    A DSN is ``<scheme>://<public key>[:<secret>]@<host>[/<path>]/<project id>``.
    """
    parts = urllib.parse.urlsplit(dsn)
    path, _, project = parts.path.rpartition("/")
    if parts.scheme not in ("http", "https") or not parts.hostname or not parts.username:
        raise base.NotifierError(f"invalid Sentry DSN {dsn!r}: want <scheme>://<key>@<host>/<id>")
    if not project.isdigit():
        raise base.NotifierError(f"invalid Sentry DSN {dsn!r}: the project id is not a number")
    host = parts.netloc.rpartition("@")[2]
    auth = f"Sentry sentry_version=7, sentry_client={SENTRY_CLIENT}, sentry_key={parts.username}"
    if parts.password:
        auth += f", sentry_secret={parts.password}"
    return f"{parts.scheme}://{host}{path}/api/{project}/envelope/", auth


def _sentry(event: notification.Event, target: base.Target) -> list[base.Request]:
    """An error event for errors, a transaction with one span for info, nothing for trace.

    The DSN is the address, the environment the ``channel``. Ids derive from
    the event, so a retried notification is one event to Sentry.
    """
    if not target.address:
        raise base.NotifierError("DSN cannot be empty")
    url, auth = _sentry_store(target.address)
    if event.severity not in (notification.SEVERITY_INFO, notification.SEVERITY_ERROR):
        return []
    digest = hashlib.sha256(
        json.dumps(base.event_json(event), separators=(",", ":")).encode()
    ).hexdigest()
    event_id, span_id = digest[:32], digest[32:48]
    obj = event.involved_object
    metadata = dict(event.metadata or {})
    payload: dict[str, Any] = {
        "event_id": event_id,
        "platform": "other",
        "timestamp": event.timestamp,
        "transaction": f"{obj.kind}: {obj.namespace}/{obj.name}",
        "message": event.message,
    }
    if event.severity == notification.SEVERITY_ERROR:
        item = "event"
        payload |= {
            "level": "error",
            "server_name": event.reporting_controller,
            "contexts": {"metadata": metadata},
        }
    else:
        item = "transaction"
        tags = {
            "flux_involved_object_kind": obj.kind or "",
            "flux_involved_object_namespace": obj.namespace or "",
            "flux_involved_object_name": obj.name or "",
            "flux_reporting_controller": event.reporting_controller,
            "flux_reporting_instance": event.reporting_instance or "",
            "flux_reason": event.reason,
            **metadata,
        }
        trace = {"trace_id": event_id, "span_id": span_id, "op": "event"}
        span = {**trace, "start_timestamp": event.timestamp, "timestamp": event.timestamp}
        payload |= {
            "type": "transaction",
            "start_timestamp": event.timestamp,
            "contexts": {"trace": trace},
            "tags": tags,
            "spans": [{**span, "tags": tags}],
        }
    if target.channel:
        payload["environment"] = target.channel
    body = json.dumps(payload, separators=(",", ":")).encode()
    header = {"event_id": event_id, "dsn": target.address}
    envelope = b"\n".join(
        [
            json.dumps(header, separators=(",", ":")).encode(),
            json.dumps({"type": item, "length": len(body)}, separators=(",", ":")).encode(),
            body,
        ]
    )
    headers = {"Content-Type": "application/x-sentry-envelope", "X-Sentry-Auth": auth}
    return [base.Request(method="POST", url=url, headers=headers, body=envelope + b"\n")]


NOTIFIERS: dict[str, base.Notifier] = {
    "sentry": _sentry,
    "alertmanager": base.single(_alertmanager),
    "grafana": base.single(_grafana),
    "opsgenie": base.single(_opsgenie),
    "pagerduty": _pagerduty,
    "datadog": base.single(_datadog),
}
