"""What every notifier shares: the resolved target, the request or message, the JSON POST."""

from __future__ import annotations

import base64
import dataclasses
import json
import urllib.parse
from collections.abc import Awaitable, Callable, Mapping, Sequence
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


@dataclasses.dataclass(frozen=True)
class Response:
    """A provider's successful (2xx) answer to a ``Request``."""

    status: int
    body: bytes

    def json(self) -> Any:
        """The body as JSON; ``NotifierError`` when it is not."""
        try:
            return json.loads(self.body)
        except ValueError as error:
            raise NotifierError(f"unexpected answer, not JSON: {error}") from error


Exchange = Callable[[Request], Awaitable[Response]]
"""Sends a request (with the delivery's retries) and returns its 2xx answer."""


@dataclasses.dataclass(frozen=True)
class Conversation:
    """Requests that depend on earlier answers (read the comments, then edit or create one).

    ``run(exchange)`` does no I/O of its own: every request goes through
    ``exchange``, so the delivery's retries, proxy and TLS apply to each.
    """

    run: Callable[[Exchange], Awaitable[None]]


Message = Request | Publish | Conversation
"""What a notifier sends: an HTTP request, a NATS message, or a conversation of requests."""


def event_json(event: notification.Event) -> dict[str, Any]:
    """The event as Flux's Go structs marshal it (field order and omitempty kept)."""
    return event.model_dump(mode="json", by_alias=True, exclude_none=True)


def event_body(event: notification.Event) -> bytes:
    """``event_json`` serialized, compact and in UTF-8 as Go marshals it.

    NB: pydantic writes it in one pass; ``json.dumps`` of ``event_json`` costs
    twice as much, on the path every generic notification takes.
    """
    return event.model_dump_json(by_alias=True, exclude_none=True).encode()


def post(
    url: str, payload: Any, headers: Mapping[str, str] | None = None, *, method: str = "POST"
) -> Request:
    """A JSON POST (or ``method``) of ``payload`` (compact, as Go marshals it) with ``headers``."""
    return Request(
        method=method,
        url=url,
        headers={"Content-Type": "application/json", **(headers or {})},
        body=json.dumps(payload, separators=(",", ":")).encode(),
    )


def get(url: str, headers: Mapping[str, str] | None = None) -> Request:
    """A GET of ``url`` that accepts JSON."""
    return Request(
        method="GET", url=url, headers={"Accept": "application/json", **(headers or {})}, body=b""
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
