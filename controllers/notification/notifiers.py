"""What each Provider type sends: HTTP requests built from a notification (pure, no I/O).

``requests(provider_type, notification, target)`` returns the requests one
notification makes, in order, with Flux's payloads and headers:

- generic: POST the event JSON to the address, with the ``gotk-component``
  header and the Secret's headers;
- generic-hmac: the same plus ``X-Signature: sha256=<hex>``, the HMAC-SHA256
  of the body keyed by the token;
- slack, rocket: a Slack attachment (color good or danger, author
  ``kind/name.namespace``, metadata as fields); slack sends
  ``Authorization: Bearer <token>`` when a token is set;
- discord: the Slack payload to the address's ``/slack`` endpoint;
- msteams: an adaptive card (the deprecated MessageCard for
  ``*.webhook.office.com`` addresses);
- googlechat: a card with the object, the message and the metadata;
- alertmanager: one firing alert, labelled with the metadata plus
  ``alertname``, ``severity``, ``reason``, ``kind``, ``name``, ``namespace``
  and ``reportingcontroller``, annotated with ``message`` and ``summary``;
- github: ``POST /repos/<owner>/<repo>/statuses/<sha>`` (``api.github.com``,
  or ``<host>/api/v3`` for GitHub Enterprise) with state success or failure,
  the commit-status context and the reason in lower-case words;
- gitlab: ``POST /api/v4/projects/<url-encoded path>/statuses/<sha>`` with
  ``PRIVATE-TOKEN``, state success or failed.

Commit statuses skip ``Progressing`` events and need the ``revision``
metadata (``<branch>@sha1:<hex>``); ``NotifierError`` says what is missing.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import re
import urllib.parse
from collections.abc import Mapping
from typing import Any

from shared.api import notification

GOTK_COMPONENT_HEADER = "gotk-component"
PROGRESSING_REASON = "Progressing"
MSTEAMS_CARD_VERSION = "1.4"


class NotifierError(Exception):
    """A notification cannot be built: bad address, missing token or revision."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Target:
    """A Provider's resolved settings: its spec merged with its Secret."""

    address: str
    token: str = ""
    username: str = ""
    password: str = ""
    channel: str = ""
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict)
    commit_status: str = ""
    """The commit-status context: ``<kind>/<name>/<first part of the provider UID>``."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Request:
    """One HTTP request to a provider."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes


def event_json(event: notification.Event) -> dict[str, Any]:
    """The event as Flux's Go structs marshal it (field order and omitempty kept)."""
    return event.model_dump(mode="json", by_alias=True, exclude_none=True)


def _post(url: str, payload: Any, headers: Mapping[str, str] | None = None) -> Request:
    return Request(
        method="POST",
        url=url,
        headers={"Content-Type": "application/json", **(headers or {})},
        body=json.dumps(payload, separators=(",", ":")).encode(),
    )


def _require_address(target: Target) -> str:
    parsed = urllib.parse.urlsplit(target.address)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise NotifierError(f"invalid address {target.address!r}: want an http(s) URL")
    return target.address


def _author(event: notification.Event) -> str:
    obj = event.involved_object
    return f"{(obj.kind or '').lower()}/{obj.name}.{obj.namespace}"


def _basic(target: Target) -> dict[str, str]:
    if not (target.username or target.password):
        return {}
    raw = f"{target.username}:{target.password}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def _generic(event: notification.Event, target: Target, *, hmac_key: bytes | None) -> Request:
    headers = {GOTK_COMPONENT_HEADER: event.reporting_controller, **target.headers}
    request = _post(_require_address(target), event_json(event), headers)
    if hmac_key is not None:
        if not hmac_key:
            raise NotifierError("HMAC key is empty: the Secret needs a token")
        digest = hmac.new(hmac_key, request.body, hashlib.sha256).hexdigest()
        request.headers["X-Signature"] = f"sha256={digest}"
    return request


def _slack_payload(event: notification.Event, target: Target) -> dict[str, Any]:
    author = _author(event)
    payload: dict[str, Any] = {
        "channel": target.channel,
        "username": target.username or event.reporting_controller,
        "icon_url": "",
        "icon_emoji": "",
        "attachments": [
            {
                "fallback": f"{author}: {event.message.split(chr(10))[0]}",
                "color": "danger" if event.severity == notification.SEVERITY_ERROR else "good",
                "author_name": author,
                "text": event.message,
                "mrkdwn_in": ["text"],
                "fields": [
                    {"title": k, "value": v, "short": False}
                    for k, v in (event.metadata or {}).items()
                ],
            }
        ],
    }
    return payload


def _slack(event: notification.Event, target: Target) -> Request:
    headers = {"Authorization": f"Bearer {target.token}"} if target.token else {}
    return _post(_require_address(target), _slack_payload(event, target), headers)


def _discord(event: notification.Event, target: Target) -> Request:
    url = _require_address(target)
    if not url.endswith("/slack"):
        parts = urllib.parse.urlsplit(url)
        url = urllib.parse.urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/slack"))
    payload = _slack_payload(event, target)
    del payload["attachments"][0]["fallback"]
    payload["channel"] = ""
    return _post(url, payload)


def _msteams(event: notification.Event, target: Target) -> Request:
    url = _require_address(target)
    name = _author(event)
    metadata = dict(event.metadata or {})
    error = event.severity == notification.SEVERITY_ERROR
    host = urllib.parse.urlsplit(url).hostname or ""
    if host.endswith(".webhook.office.com"):
        return _post(
            url,
            {
                "@type": "MessageCard",
                "@context": "http://schema.org/extensions",
                "themeColor": "FF0000" if error else "0076D7",
                "summary": name,
                "sections": [
                    {
                        "activityTitle": event.message,
                        "activitySubtitle": name,
                        "facts": [{"name": k, "value": v} for k, v in metadata.items()],
                    }
                ],
            },
        )
    facts = []
    if notification_summary := metadata.pop("summary", None):
        facts.append({"title": "summary", "value": notification_summary})
    facts += [{"title": k, "value": metadata[k]} for k in sorted(metadata)]
    message: dict[str, Any] = {"type": "TextBlock", "text": event.message, "wrap": True}
    if error:
        message["color"] = "attention"
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": MSTEAMS_CARD_VERSION,
        "body": [
            {
                "type": "Container",
                "items": [
                    {
                        "type": "TextBlock",
                        "text": name,
                        "size": "large",
                        "weight": "bolder",
                        "wrap": True,
                    },
                    message,
                    {"type": "FactSet", "facts": facts},
                ],
            }
        ],
        "msteams": {"width": "Full"},
    }
    return _post(
        url,
        {
            "type": "message",
            "attachments": [
                {"contentType": "application/vnd.microsoft.card.adaptive", "content": card}
            ],
        },
    )


def _googlechat(event: notification.Event, target: Target) -> Request:
    widgets: list[dict[str, Any]] = [{"textParagraph": {"text": event.message}}]
    widgets += [
        {"keyValue": {"topLabel": k, "content": v}} for k, v in (event.metadata or {}).items()
    ]
    payload = {
        "cards": [
            {
                "header": {
                    "title": _author(event),
                    "subtitle": event.reporting_controller,
                },
                "sections": [{"widgets": widgets}],
            }
        ]
    }
    return _post(_require_address(target), payload)


def _alertmanager(event: notification.Event, target: Target) -> Request:
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
        headers = _basic(target)
    alert = {
        "status": "firing",
        "labels": labels,
        "annotations": annotations,
        "startsAt": event.timestamp,
        "endsAt": "0001-01-01T00:00:00Z",
    }
    return _post(_require_address(target), [alert], headers)


_SHA = re.compile(r"(?:^|@|:)(?:sha1:|sha256:)?([0-9a-f]{40}|[0-9a-f]{64})$")


def commit_sha(revision: str) -> str:
    """The commit hash of a Flux revision (``main@sha1:<hex>``, ``<hex>``, ``main/<hex>``)."""
    found = _SHA.search(revision.replace("/", ":"))
    if found is None:
        raise NotifierError(f"failed to extract commit hash from '{revision}' revision")
    return found.group(1)


def _words(reason: str) -> str:
    """A CamelCase reason in lower-case words, as Flux describes commit statuses."""
    return " ".join(
        re.findall(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+|[^A-Za-z0-9]+", reason)
    ).lower()


def _git_address(address: str) -> tuple[str, str]:
    """The host URL and the repository path (``owner/repo``) of a Git address."""
    if address.startswith("git@"):
        host, _, path = address[4:].partition(":")
        base = f"https://{host}"
    else:
        parts = urllib.parse.urlsplit(address)
        scheme = "https" if parts.scheme == "ssh" else parts.scheme
        if scheme not in ("http", "https") or not parts.netloc:
            raise NotifierError(f"invalid Git address {address!r}")
        base, path = f"{scheme}://{parts.netloc.rpartition('@')[2]}", parts.path
    path = path.strip("/").removesuffix(".git")
    if not path:
        raise NotifierError(f"invalid Git address {address!r}: no repository path")
    return base, path


def _commit_status(event: notification.Event, target: Target) -> tuple[str, str, str]:
    if not target.commit_status:
        raise NotifierError("commit status cannot be empty")
    revision = (event.metadata or {}).get(notification.META_REVISION_KEY)
    if revision is None:
        raise NotifierError("missing revision metadata")
    if event.severity not in (notification.SEVERITY_INFO, notification.SEVERITY_ERROR):
        raise NotifierError(f"can't convert severity {event.severity!r} to a commit state")
    return commit_sha(revision), _words(event.reason), event.severity


def _github(event: notification.Event, target: Target) -> Request:
    sha, description, severity = _commit_status(event, target)
    base, repo = _git_address(target.address)
    if repo.count("/") != 1:
        raise NotifierError(f"invalid GitHub repository {repo!r}: want owner/name")
    api = "https://api.github.com" if base == "https://github.com" else f"{base}/api/v3"
    headers = {"Accept": "application/vnd.github+json"}
    if target.token:
        headers["Authorization"] = f"Bearer {target.token}"
    state = "success" if severity == notification.SEVERITY_INFO else "failure"
    payload = {"state": state, "description": description, "context": target.commit_status}
    return _post(f"{api}/repos/{repo}/statuses/{sha}", payload, headers)


def _gitlab(event: notification.Event, target: Target) -> Request:
    if not target.token:
        raise NotifierError("gitlab token cannot be empty")
    sha, description, severity = _commit_status(event, target)
    base, project = _git_address(target.address)
    project_id = urllib.parse.quote(project, safe="")
    state = "success" if severity == notification.SEVERITY_INFO else "failed"
    payload = {"state": state, "name": target.commit_status, "description": description}
    return _post(
        f"{base}/api/v4/projects/{project_id}/statuses/{sha}",
        payload,
        {"PRIVATE-TOKEN": target.token},
    )


SUPPORTED = (
    "generic",
    "generic-hmac",
    "slack",
    "rocket",
    "discord",
    "msteams",
    "googlechat",
    "alertmanager",
    "github",
    "gitlab",
)
"""The Provider types this notification-controller delivers to."""


def requests(provider_type: str, event: notification.Event, target: Target) -> list[Request]:
    """The requests ``event`` makes through a Provider of ``provider_type``.

    An empty list means nothing to send (commit statuses skip Progressing).
    """
    if provider_type in notification.COMMIT_STATUS_PROVIDER_TYPES and (
        event.reason == PROGRESSING_REASON
    ):
        return []
    match provider_type:
        case "generic":
            return [_generic(event, target, hmac_key=None)]
        case "generic-hmac":
            return [_generic(event, target, hmac_key=target.token.encode())]
        case "slack":
            return [_slack(event, target)]
        case "rocket":
            return [_post(_require_address(target), _slack_payload(event, target))]
        case "discord":
            return [_discord(event, target)]
        case "msteams":
            return [_msteams(event, target)]
        case "googlechat":
            return [_googlechat(event, target)]
        case "alertmanager":
            return [_alertmanager(event, target)]
        case "github":
            return [_github(event, target)]
        case "gitlab":
            return [_gitlab(event, target)]
    raise NotifierError(f"provider type {provider_type!r} is not supported by Headwater yet")
