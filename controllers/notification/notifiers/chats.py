"""Chat and webhook notifiers: generic, generic-hmac, slack, rocket, discord, msteams,
googlechat, webex, matrix, lark, telegram."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import urllib.parse
from typing import Any

from controllers.notification.notifiers import base
from shared.api import notification

MSTEAMS_CARD_VERSION = "1.4"


def _generic(
    event: notification.Event, target: base.Target, *, hmac_key: bytes | None
) -> base.Request:
    headers = {
        "Content-Type": "application/json",
        base.GOTK_COMPONENT_HEADER: event.reporting_controller,
        **target.headers,
    }
    request = base.Request(
        method="POST",
        url=base.require_address(target),
        headers=headers,
        body=base.event_body(event),
    )
    if hmac_key is not None:
        if not hmac_key:
            raise base.NotifierError("HMAC key is empty: the Secret needs a token")
        digest = hmac.new(hmac_key, request.body, hashlib.sha256).hexdigest()
        request.headers["X-Signature"] = f"sha256={digest}"
    return request


def _slack_payload(event: notification.Event, target: base.Target) -> dict[str, Any]:
    author = base.author(event)
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


def _slack(event: notification.Event, target: base.Target) -> base.Request:
    headers = {"Authorization": f"Bearer {target.token}"} if target.token else {}
    return base.post(base.require_address(target), _slack_payload(event, target), headers)


def _discord(event: notification.Event, target: base.Target) -> base.Request:
    url = base.require_address(target)
    if not url.endswith("/slack"):
        parts = urllib.parse.urlsplit(url)
        url = urllib.parse.urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/slack"))
    payload = _slack_payload(event, target)
    del payload["attachments"][0]["fallback"]
    payload["channel"] = ""
    return base.post(url, payload)


def _msteams(event: notification.Event, target: base.Target) -> base.Request:
    url = base.require_address(target)
    name = base.author(event)
    metadata = dict(event.metadata or {})
    error = event.severity == notification.SEVERITY_ERROR
    host = urllib.parse.urlsplit(url).hostname or ""
    if host.endswith(".webhook.office.com"):
        return base.post(
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
    return base.post(
        url,
        {
            "type": "message",
            "attachments": [
                {"contentType": "application/vnd.microsoft.card.adaptive", "content": card}
            ],
        },
    )


def _googlechat(event: notification.Event, target: base.Target) -> base.Request:
    widgets: list[dict[str, Any]] = [{"textParagraph": {"text": event.message}}]
    widgets += [
        {"keyValue": {"topLabel": k, "content": v}} for k, v in (event.metadata or {}).items()
    ]
    payload = {
        "cards": [
            {
                "header": {
                    "title": base.author(event),
                    "subtitle": event.reporting_controller,
                },
                "sections": [{"widgets": widgets}],
            }
        ]
    }
    return base.post(base.require_address(target), payload)


def _webex(event: notification.Event, target: base.Target) -> base.Request:
    emoji = (
        "\N{BOMB}"
        if event.severity == notification.SEVERITY_ERROR
        else "\N{WHITE HEAVY CHECK MARK}"
    )
    lines = [f"{emoji} **{base.author(event)}**", event.message]
    lines += [f">**{k}**: {v}" for k, v in (event.metadata or {}).items()]
    payload = {"markdown": "\n".join(lines) + "\n"}
    if target.channel:
        payload = {"roomId": target.channel, **payload}
    headers = {"Authorization": f"Bearer {target.token}"}
    return base.post(base.require_address(target), payload, headers)


def _rocket(event: notification.Event, target: base.Target) -> base.Request:
    return base.post(base.require_address(target), _slack_payload(event, target))


def _matrix(event: notification.Event, target: base.Target) -> base.Request:
    """A PUT of an ``m.text`` message to the ``channel`` room; the sha1 of the event is the
    transaction id, so a retried notification is stored once."""
    emoji = (
        "\N{POLICE CARS REVOLVING LIGHT}"
        if event.severity == notification.SEVERITY_ERROR
        else "\N{DIZZY SYMBOL}"
    )
    metadata = "".join(f"- {k}: {v}\n" for k, v in (event.metadata or {}).items())
    body = f"{emoji} {base.author(event)}\n{event.message}\n{metadata}"
    transaction = hashlib.sha1(
        json.dumps(base.event_json(event), separators=(",", ":")).encode(), usedforsecurity=False
    ).hexdigest()
    room = urllib.parse.quote(target.channel, safe="!:")
    url = (
        f"{base.require_address(target).rstrip('/')}/_matrix/client/r0/rooms/{room}"
        f"/send/m.room.message/{transaction}"
    )
    request = base.post(url, {"body": body, "msgtype": "m.text"})
    request.headers["Authorization"] = f"Bearer {target.token}"
    return dataclasses.replace(request, method="PUT")


def _lark(event: notification.Event, target: base.Target) -> base.Request:
    error = event.severity == notification.SEVERITY_ERROR
    emoji = "\N{POLICE CARS REVOLVING LIGHT}" if error else "\N{DIZZY SYMBOL}"
    message = f"**{event.message}**\n\n" + "".join(
        f"{k}: {v}\n" for k, v in (event.metadata or {}).items()
    )
    card = {
        "config": {"wide_screen_mode": True},
        "header": {
            "title": {"tag": "plain_text", "content": f"{emoji} {base.author(event)}"},
            "template": "red" if error else "turquoise",
        },
        "elements": [{"tag": "div", "text": {"tag": "lark_md", "content": message}}],
    }
    return base.post(base.require_address(target), {"msg_type": "interactive", "card": card})


TELEGRAM_API = "https://api.telegram.org"
_TELEGRAM_SPECIAL = "\\.-_[]()~>`#+=|{}!*"


def _telegram_escape(text: str) -> str:
    """``text`` with Telegram's MarkdownV2 special characters escaped by a backslash."""
    return "".join("\\" + c if c in _TELEGRAM_SPECIAL else c for c in text)


def _telegram(event: notification.Event, target: base.Target) -> base.Request:
    """A MarkdownV2 ``sendMessage`` to the ``channel`` chat (``<chat>:<thread>`` for a topic).

    The Bot API host is fixed, as in Flux: the address is not used.
    """
    if not target.channel:
        raise base.NotifierError("empty Telegram channel")
    if not target.token:
        raise base.NotifierError("empty Telegram token")
    emoji = (
        "\N{POLICE CARS REVOLVING LIGHT}"
        if event.severity == notification.SEVERITY_ERROR
        else "\N{DIZZY SYMBOL}"
    )
    obj = event.involved_object
    heading = f"{emoji} {(obj.kind or '').lower()}/{obj.name}/{obj.namespace}"
    metadata = "".join(
        f"\\- *{_telegram_escape(k)}*: {_telegram_escape(v)}\n"
        for k, v in (event.metadata or {}).items()
    )
    text = f"*{_telegram_escape(heading)}*\n{_telegram_escape(event.message)}\n{metadata}"
    chat, has_thread, thread = target.channel.partition(":")
    payload = {"chat_id": chat, "text": text, "parse_mode": "MarkdownV2"}
    if has_thread and thread:
        payload = {"chat_id": chat, "message_thread_id": thread, **payload}
    return base.post(f"{TELEGRAM_API}/bot{target.token}/sendMessage", payload)


NOTIFIERS: dict[str, base.Notifier] = {
    "telegram": base.single(_telegram),
    "lark": base.single(_lark),
    "matrix": base.single(_matrix),
    "generic": lambda event, target: [_generic(event, target, hmac_key=None)],
    "generic-hmac": lambda event, target: [_generic(event, target, hmac_key=target.token.encode())],
    "slack": base.single(_slack),
    "rocket": base.single(_rocket),
    "discord": base.single(_discord),
    "msteams": base.single(_msteams),
    "googlechat": base.single(_googlechat),
    "webex": base.single(_webex),
}
