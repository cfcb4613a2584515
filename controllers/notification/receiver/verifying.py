"""Whether a webhook request is authentic for a Receiver type, and what it announces.

``verify(type, request, secret=…, events=…)`` takes the request as plain
values (case-insensitive headers, the raw body) and the Receiver's Secret
entries; it returns a ``Verified`` (the event, the
line Flux logs, the delivery id used against replays) or raises
``RefusedError`` with Flux's message. No Kubernetes, no I/O.

Per type, as notification-controller checks them:

=============  ===============================================================
github         HMAC of the body in ``X-Hub-Signature-256`` (else the legacy
               sha1 ``X-Hub-Signature``) over a JSON or form-encoded body;
               ``X-GitHub-Event`` filtered by ``spec.events``
bitbucket      the same signature check; ``X-Event-Key`` filtered
gitlab         ``X-Gitlab-Token`` equals the token; ``X-Gitlab-Event`` filtered
generic-hmac   ``X-Signature: sha1|sha256|sha512=<hex>`` of the body
harbor         ``Authorization`` equals the token
nexus          ``X-Nexus-Webhook-Signature``: hex HMAC-SHA1 of the body
generic        nothing beyond the secret path
quay, dockerhub, acr
               nothing beyond the path; the body must decode as the sender's JSON
cdevents       a structurally valid CDEvent; ``Ce-Type`` filtered
gcr            the Secret's ``email`` and ``audience``; the Pub/Sub push body's
               ``message.data`` (base64 JSON: action, digest, tag) is what
               the filters see; the server then checks the Google ID token
               (``oidc.Verifier.verify_google``)
generic-oidc   not here: the server verifies the caller's OIDC token (``oidc``)
=============  ===============================================================

Headwater differences, each stricter or quieter than Flux: every comparison
is constant-time; a github or bitbucket request without a signature is
refused even when the token is empty; a signed GitHub ``ping`` is answered
without reconciling anything, whatever ``spec.events`` says (so GitHub shows
the new hook as working and it triggers no fetch).
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from controllers.notification.receiver import signatures

GITHUB_PING = "ping"


class RefusedError(ValueError):
    """The request is not authentic or not wanted; the message says why (as Flux words it)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Request:
    """A webhook request as plain values; ``headers`` must be case-insensitive."""

    headers: Mapping[str, str]
    body: bytes


@dataclasses.dataclass(frozen=True, kw_only=True)
class Verified:
    """An authentic request: what it carries and how to log it."""

    event: str | None = None
    """The sender's event type, when it has one."""
    log_message: str | None = None
    """The info line Flux logs for it (``handling GitHub event: push``)."""
    delivery: str | None = None
    """The sender's unique delivery id, when it sends one (replays are refused by it)."""
    ping: bool = False
    """A GitHub ping: answered, nothing reconciled."""
    google_identity: tuple[str, str] | None = None
    """gcr: the (email, audience) the request's Google ID token must carry."""
    payload: bytes | None = None
    """What the resource filters see as ``req`` when not the body (gcr's unwrapped event)."""


Verifier = Callable[[Request, str, Mapping[str, bytes], Sequence[str]], Verified]


def verify(
    type_: str, request: Request, *, secret: Mapping[str, bytes], events: Sequence[str] = ()
) -> Verified:
    """Check ``request`` for a Receiver of ``type_`` (see the module docstring)."""
    verifier = _VERIFIERS.get(type_)
    if verifier is None:
        raise RefusedError(f'recevier type "{type_}" not supported')
    token = secret.get("token", b"").decode(errors="replace")
    return verifier(request, token, secret, events)


def _allowed(event: str, events: Sequence[str]) -> bool:
    """``spec.events`` as Flux reads it: empty allows all, else a case-insensitive match."""
    return not events or any(event.casefold() == e.casefold() for e in events)


def _json(body: bytes, fields: Mapping[str, type]) -> dict[str, Any]:
    """The body as a JSON object whose listed fields, when present, have the given types.

    Go's decoder (what Flux uses) accepts ``null`` and unknown fields and fails
    on an empty body, another JSON type or a field of the wrong type; so does this.
    """
    try:
        decoded = json.loads(body)
    except ValueError as error:
        raise ValueError("EOF" if not body.strip() else str(error)) from error
    if decoded is None:
        return {}
    if not isinstance(decoded, dict):
        raise ValueError(f"cannot unmarshal {type(decoded).__name__} into an object")
    for name, expected in fields.items():
        value = decoded.get(name)
        if value is not None and not isinstance(value, expected):
            raise ValueError(f"field {name} is not a {expected.__name__}")
    return decoded


def _check_github_signature(request: Request, token: str) -> None:
    """go-github's payload validation: a JSON or form body, its signature checked raw."""
    headers = request.headers
    signature = headers.get("X-Hub-Signature-256") or headers.get("X-Hub-Signature") or ""
    content_type = headers.get("Content-Type", "").split(";")[0].strip().lower()
    if not content_type:
        raise signatures.SignatureError("mime: no media type")
    if content_type not in ("application/json", "application/x-www-form-urlencoded"):
        raise signatures.SignatureError(
            f'webhook request has unsupported Content-Type "{content_type}"'
        )
    signatures.check_prefixed(signature, request.body, token.encode())


def _event(
    request: Request, events: Sequence[str], *, sender: str, header: str, delivery: str = ""
) -> Verified:
    """An authentic request's event type from ``header``, refused unless ``spec.events`` has it."""
    event = request.headers.get(header, "")
    if not _allowed(event, events):
        raise RefusedError(f'the {sender} "{event}" is not authorised')
    return Verified(
        event=event,
        delivery=request.headers.get(delivery) or None if delivery else None,
        log_message=f"handling {sender}: {event}",
    )


def _hub_signed(request: Request, token: str, *, sender: str) -> None:
    try:
        _check_github_signature(request, token)
    except signatures.SignatureError as error:
        raise RefusedError(f"the {sender} signature header is invalid, err: {error}") from error


def _github(
    request: Request, token: str, _: Mapping[str, bytes], events: Sequence[str]
) -> Verified:
    _hub_signed(request, token, sender="GitHub")
    if request.headers.get("X-GitHub-Event") == GITHUB_PING:
        return dataclasses.replace(
            _event(request, (), sender="GitHub event", header="X-GitHub-Event",
                   delivery="X-GitHub-Delivery"),
            ping=True,
        )  # fmt: skip
    return _event(
        request, events, sender="GitHub event", header="X-GitHub-Event",
        delivery="X-GitHub-Delivery",
    )  # fmt: skip


def _bitbucket(
    request: Request, token: str, _: Mapping[str, bytes], events: Sequence[str]
) -> Verified:
    _hub_signed(request, token, sender="Bitbucket server")
    return _event(
        request, events, sender="Bitbucket server event", header="X-Event-Key",
        delivery="X-Request-UUID",
    )  # fmt: skip


def _gitlab(
    request: Request, token: str, _: Mapping[str, bytes], events: Sequence[str]
) -> Verified:
    if not signatures.equal(request.headers.get("X-Gitlab-Token", ""), token):
        raise RefusedError("the X-Gitlab-Token header value does not match the receiver token")
    return _event(
        request, events, sender="GitLab event", header="X-Gitlab-Event",
        delivery="X-Gitlab-Event-UUID",
    )  # fmt: skip


def _generic(request: Request, token: str, _: Mapping[str, bytes], __: Sequence[str]) -> Verified:
    return Verified()


def _generic_hmac(
    request: Request, token: str, _: Mapping[str, bytes], __: Sequence[str]
) -> Verified:
    try:
        signatures.check_prefixed(
            request.headers.get("X-Signature", ""), request.body, token.encode()
        )
    except signatures.SignatureError as error:
        raise RefusedError(f"unable to validate HMAC signature: {error}") from error
    return Verified()


def _harbor(request: Request, token: str, _: Mapping[str, bytes], __: Sequence[str]) -> Verified:
    if not signatures.equal(request.headers.get("Authorization", ""), token):
        raise RefusedError(
            "the Harbor Authorization header value does not match the receiver token"
        )
    return Verified(log_message="handling Harbor event")


def _nexus(request: Request, token: str, _: Mapping[str, bytes], __: Sequence[str]) -> Verified:
    signature = request.headers.get("X-Nexus-Webhook-Signature", "")
    if not signature:
        raise RefusedError("the Nexus signature is missing from header")
    if not signatures.check_sha1_hex(signature, request.body, token.encode()):
        raise RefusedError("invalid Nexus signature")
    try:
        payload = _json(request.body, {"action": str, "repositoryName": str})
    except ValueError as error:
        raise RefusedError(f"cannot decode Nexus webhook payload: {error}") from error
    return Verified(
        log_message=f"handling Nexus event from {payload.get('repositoryName') or ''}",
    )


def _quay(request: Request, token: str, _: Mapping[str, bytes], __: Sequence[str]) -> Verified:
    try:
        payload = _json(request.body, {"docker_url": str, "updated_tags": list})
    except ValueError as error:
        raise RefusedError(f"cannot decode Quay webhook payload: {error}") from error
    return Verified(log_message=f"handling Quay event from {payload.get('docker_url') or ''}")


def _dockerhub(request: Request, token: str, _: Mapping[str, bytes], __: Sequence[str]) -> Verified:
    try:
        payload = _json(request.body, {"push_data": dict, "repository": dict})
    except ValueError as error:
        raise RefusedError("cannot decode DockerHub webhook payload") from error
    tag = (payload.get("push_data") or {}).get("tag") or ""
    url = (payload.get("repository") or {}).get("repo_url") or ""
    return Verified(log_message=f"handling DockerHub event from {url} for tag {tag}")


def _acr(request: Request, token: str, _: Mapping[str, bytes], __: Sequence[str]) -> Verified:
    try:
        payload = _json(request.body, {"action": str, "target": dict})
    except ValueError as error:
        raise RefusedError(f"cannot decode ACR webhook payload: {error}") from error
    target = payload.get("target") or {}
    return Verified(
        log_message=(
            f"handling ACR event from {target.get('repository') or ''}"
            f" for tag {target.get('tag') or ''}"
        ),
    )


def _gcr(request: Request, token: str, secret: Mapping[str, bytes], __: Sequence[str]) -> Verified:
    if not secret.get("email"):
        raise RefusedError("invalid secret data: required field 'email' for GCR receiver")
    if not secret.get("audience"):
        raise RefusedError("invalid secret data: required field 'audience' for GCR receiver")
    try:
        pushed = _json(request.body, {"message": dict})
        data = base64.b64decode((pushed.get("message") or {}).get("data") or "")
    except (ValueError, TypeError) as error:
        raise RefusedError(f"cannot decode GCR webhook payload: {error}") from error
    try:
        event = _json(data, {"action": str, "digest": str, "tag": str})
    except ValueError as error:
        raise RefusedError(f"cannot decode GCR webhook body: {error}") from error
    unwrapped = {k: event.get(k, "") for k in ("action", "digest", "tag")}
    return Verified(
        log_message=f"handling GCR event from {unwrapped['digest']} for tag {unwrapped['tag']}",
        google_identity=(secret["email"].decode(errors="replace"),
                         secret["audience"].decode(errors="replace")),
        payload=json.dumps(unwrapped, separators=(",", ":")).encode(),
    )  # fmt: skip


def _generic_oidc(
    request: Request, token: str, _: Mapping[str, bytes], __: Sequence[str]
) -> Verified:
    raise RefusedError("generic-oidc receivers are not supported")


def _cdevent(body: bytes) -> dict[str, Any]:
    """A structurally valid CDEvent: a context (id, source, type, timestamp) and a subject id."""
    event = _json(body, {"context": dict, "subject": dict})
    context = event.get("context") or {}
    for field in ("id", "source", "type", "timestamp"):
        if not isinstance(context.get(field), str) or not context[field]:
            raise ValueError(f"context.{field} is required")
    if not context["type"].startswith("dev.cdevents."):
        raise ValueError(f"unknown CDEvent type {context['type']!r}")
    try:
        datetime.datetime.fromisoformat(context["timestamp"])
    except ValueError as error:
        raise ValueError(f"context.timestamp is not a timestamp: {error}") from error
    subject = event.get("subject") or {}
    if not isinstance(subject.get("id"), str) or not subject["id"]:
        raise ValueError("subject.id is required")
    return event


def _cdevents(
    request: Request, token: str, _: Mapping[str, bytes], events: Sequence[str]
) -> Verified:
    try:
        _cdevent(request.body)
    except ValueError as error:
        raise RefusedError(f"unable to validate CDEvent event: {error}") from error
    return _event(request, events, sender="CDEvent", header="Ce-Type")


_VERIFIERS: dict[str, Verifier] = {
    "generic": _generic,
    "generic-hmac": _generic_hmac,
    "generic-oidc": _generic_oidc,
    "github": _github,
    "gitlab": _gitlab,
    "bitbucket": _bitbucket,
    "harbor": _harbor,
    "dockerhub": _dockerhub,
    "quay": _quay,
    "gcr": _gcr,
    "nexus": _nexus,
    "acr": _acr,
    "cdevents": _cdevents,
}
