"""What every notifier shares: the resolved target, the request or message, the JSON POST."""

from __future__ import annotations

import base64
import dataclasses
import json
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from shared.api import notification

GOTK_COMPONENT_HEADER = "gotk-component"


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
    provider_uid: str = ""
    commit_status: str = ""
    """The commit-status context: ``<kind>/<name>/<first part of the provider UID>``."""
    secret_data: Mapping[str, bytes] = dataclasses.field(default_factory=dict)
    """The ``secretRef`` Secret's data, for type-specific keys (nats: ``creds``, ``nkey``)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Request:
    """One HTTP request to a provider."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes


@dataclasses.dataclass(frozen=True, kw_only=True)
class Publish:
    """One message to a NATS subject, with the credentials to connect (the first set wins)."""

    server: str
    subject: str
    payload: bytes
    creds: str = ""
    """The contents of a ``.creds`` file: a user JWT and its NKey seed."""
    nkey_seed: str = ""
    username: str = ""
    password: str = ""


Message = Request | Publish
"""What a notifier sends: an HTTP request, or a NATS message."""


def event_json(event: notification.Event) -> dict[str, Any]:
    """The event as Flux's Go structs marshal it (field order and omitempty kept)."""
    return event.model_dump(mode="json", by_alias=True, exclude_none=True)


def post(url: str, payload: Any, headers: Mapping[str, str] | None = None) -> Request:
    """A JSON POST of ``payload`` (compact, as Go marshals it) with ``headers``."""
    return Request(
        method="POST",
        url=url,
        headers={"Content-Type": "application/json", **(headers or {})},
        body=json.dumps(payload, separators=(",", ":")).encode(),
    )


def require_address(target: Target) -> str:
    """The target's address; ``NotifierError`` unless it is an http(s) URL."""
    parsed = urllib.parse.urlsplit(target.address)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise NotifierError(f"invalid address {target.address!r}: want an http(s) URL")
    return target.address


def author(event: notification.Event) -> str:
    """``kind/name.namespace``, as the chat notifiers title an event."""
    obj = event.involved_object
    return f"{(obj.kind or '').lower()}/{obj.name}.{obj.namespace}"


def basic_auth(target: Target) -> dict[str, str]:
    """``Authorization: Basic`` from the username and password, when either is set."""
    if not (target.username or target.password):
        return {}
    raw = f"{target.username}:{target.password}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


Notifier = Callable[[notification.Event, Target], Sequence[Message]]
"""The requests one notification makes through one Provider type (none: nothing to send)."""


def single(build: Callable[[notification.Event, Target], Request]) -> Notifier:
    """A ``Notifier`` from a function that builds exactly one request."""
    return lambda event, target: [build(event, target)]
