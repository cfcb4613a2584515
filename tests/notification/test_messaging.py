"""Telegram and Sentry notifications, field by field, as a local server receives them.

Telegram's Bot API host is fixed, so its request is checked for its URL and
then rebased onto the recording server (``webhooks.rebased``); Sentry's DSN
names the local server itself.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from controllers.notification import notifiers
from shared.api import notification
from tests.notification import events, webhooks

METADATA = {"kubernetes.io/somekey": "some.value", "test": "metadata"}


def _event(**kwargs: Any) -> notification.Event:
    return events.parsed(metadata=dict(METADATA), **kwargs)


@pytest.mark.parametrize(
    ("channel", "chat", "thread"), [("-1001", "-1001", None), ("-1001:42", "-1001", "42")]
)
async def test_telegram_sends_a_markdown_v2_message(
    channel: str, chat: str, thread: str | None
) -> None:
    target = notifiers.Target(address="", channel=channel, token="123:abc")
    (request,) = notifiers.requests("telegram", _event(message="Applied (1) rev."), target)
    assert isinstance(request, notifiers.Request)
    assert request.url == "https://api.telegram.org/bot123:abc/sendMessage"
    async with webhooks.serving() as server:
        await webhooks.deliver([webhooks.rebased(request, server.url)])
        (received,) = server.received
    assert received.path == "/bot123:abc/sendMessage"
    assert received.headers["Content-Type"] == "application/json"
    body = received.json()
    assert body.pop("message_thread_id", None) == thread
    assert body.pop("chat_id") == chat
    assert body.pop("parse_mode") == "MarkdownV2"
    assert body.pop("text").split("\n") == [
        "*\N{DIZZY SYMBOL} kustomization/apps/flux\\-system*",
        "Applied \\(1\\) rev\\.",
        "\\- *kubernetes\\.io/somekey*: some\\.value",
        "\\- *test*: metadata",
        "",
    ]
    assert body == {}


@pytest.mark.parametrize(
    ("target", "error"),
    [({"token": "t"}, "empty Telegram channel"), ({"channel": "c"}, "empty Telegram token")],
)
def test_telegram_needs_a_channel_and_a_token(target: dict[str, str], error: str) -> None:
    with pytest.raises(notifiers.NotifierError, match=error):
        notifiers.requests(
            "telegram",
            _event(),
            notifiers.Target(
                address="", channel=target.get("channel", ""), token=target.get("token", "")
            ),
        )


def _envelope(body: bytes) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    header, item, payload, end = body.split(b"\n")
    assert end == b""
    item_header = json.loads(item)
    assert item_header["length"] == len(payload)
    return json.loads(header), item_header, json.loads(payload)


async def test_sentry_sends_an_error_event_to_the_dsn_project() -> None:
    async with webhooks.serving() as server:
        dsn = server.url.replace("http://", "http://pubkey@") + "/sentry/42"
        target = notifiers.Target(address=dsn, channel="production")
        event = _event(severity="error", reason="HealthCheckFailed", message="timeout")
        await webhooks.deliver(notifiers.requests("sentry", event, target))
        (received,) = server.received
    assert received.path == "/sentry/api/42/envelope/"
    assert received.headers["Content-Type"] == "application/x-sentry-envelope"
    auth = received.headers["X-Sentry-Auth"]
    assert auth.startswith("Sentry sentry_version=7, ")
    assert "sentry_key=pubkey" in auth
    header, item, payload = _envelope(received.body)
    assert header["dsn"] == dsn
    assert item["type"] == "event"
    assert len(payload.pop("event_id")) == 32 == len(header["event_id"])
    assert payload == {
        "platform": "other",
        "timestamp": "2026-12-06T03:50:00Z",
        "transaction": "Kustomization: flux-system/apps",
        "message": "timeout",
        "level": "error",
        "server_name": "kustomize-controller",
        "contexts": {"metadata": METADATA},
        "environment": "production",
    }


async def test_sentry_records_an_info_event_as_a_transaction_with_one_span() -> None:
    async with webhooks.serving() as server:
        dsn = server.url.replace("http://", "http://pubkey@") + "/7"
        await webhooks.deliver(
            notifiers.requests("sentry", _event(), notifiers.Target(address=dsn))
        )
        (received,) = server.received
    assert received.path == "/api/7/envelope/"
    _, item, payload = _envelope(received.body)
    assert item["type"] == "transaction"
    assert payload["type"] == "transaction"
    assert payload["start_timestamp"] == payload["timestamp"] == "2026-12-06T03:50:00Z"
    assert payload["tags"] == {
        "flux_involved_object_kind": "Kustomization",
        "flux_involved_object_namespace": "flux-system",
        "flux_involved_object_name": "apps",
        "flux_reporting_controller": "kustomize-controller",
        "flux_reporting_instance": "kustomize-controller-0",
        "flux_reason": "ReconciliationSucceeded",
        **METADATA,
    }
    trace = payload["contexts"]["trace"]
    assert trace["op"] == "event"
    (span,) = payload["spans"]
    assert span["trace_id"] == trace["trace_id"]
    assert span["span_id"] == trace["span_id"]
    assert "environment" not in payload


def test_sentry_skips_trace_events_and_refuses_a_bad_dsn() -> None:
    target = notifiers.Target(address="https://key@sentry.example/1")
    assert notifiers.requests("sentry", _event(severity="trace"), target) == []
    with pytest.raises(notifiers.NotifierError, match="DSN cannot be empty"):
        notifiers.requests("sentry", _event(), notifiers.Target(address=""))
    with pytest.raises(notifiers.NotifierError, match="invalid Sentry DSN"):
        notifiers.requests("sentry", _event(), notifiers.Target(address="https://sentry.example/1"))
