"""Each Provider type's request, field by field, as a local server receives it.

The requests are sent by ``delivery.Dispatcher`` to a recording server
(``webhooks.serving``) that stands in for the service; each case checks what
the service documents: the path, the headers and the JSON body.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

import pytest

from controllers.notification import notifiers
from shared.api import notification
from tests.notification import events, webhooks

SHA = "a" * 40
REVISION = f"main@sha1:{SHA}"
METADATA = {"revision": REVISION, "summary": "prod cluster"}


def _event(**kwargs: Any) -> notification.Event:
    event = events.parsed(**kwargs)
    return event.model_copy(update={"metadata": dict(METADATA)})


async def _deliver(provider_type: str, target: notifiers.Target, event: notification.Event) -> None:
    await webhooks.deliver(notifiers.requests(provider_type, event, target))


def _generic(received: webhooks.Received) -> None:
    assert received.path == "/hook"
    assert received.headers["Content-Type"] == "application/json"
    assert received.headers["gotk-component"] == "kustomize-controller"
    assert received.headers["X-Team"] == "platform"
    assert "X-Signature" not in received.headers
    body = received.json()
    assert list(body) == [
        "involvedObject", "severity", "timestamp", "message", "reason", "metadata",
        "reportingController", "reportingInstance",
    ]  # fmt: skip
    assert body["involvedObject"]["kind"] == "Kustomization"
    assert body["involvedObject"]["apiVersion"] == "kustomize.toolkit.fluxcd.io/v1"
    assert body["metadata"] == METADATA
    assert body["severity"] == "info"


def _generic_hmac(received: webhooks.Received) -> None:
    want = hmac.new(b"s3cret", received.body, hashlib.sha256).hexdigest()
    assert received.headers["X-Signature"] == f"sha256={want}"
    assert received.json()["reason"] == "ReconciliationSucceeded"


def _slack(received: webhooks.Received) -> None:
    assert received.path == "/api/chat.postMessage"
    assert received.headers["Authorization"] == "Bearer xoxb-1"
    body = received.json()
    assert body["channel"] == "#flux"
    assert body["username"] == "kustomize-controller"
    (attachment,) = body["attachments"]
    assert attachment["color"] == "good"
    assert attachment["author_name"] == "kustomization/apps.flux-system"
    assert attachment["text"] == f"Applied revision: {REVISION}"
    assert attachment["fallback"] == f"kustomization/apps.flux-system: Applied revision: {REVISION}"
    assert attachment["mrkdwn_in"] == ["text"]
    assert {f["title"]: f["value"] for f in attachment["fields"]} == METADATA


def _discord(received: webhooks.Received) -> None:
    assert received.path == "/api/webhooks/1/t/slack"
    body = received.json()
    assert body["username"] == "flux"
    assert "fallback" not in body["attachments"][0]
    assert body["attachments"][0]["color"] == "danger"


def _msteams(received: webhooks.Received) -> None:
    body = received.json()
    assert body["type"] == "message"
    (attachment,) = body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard"
    assert card["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    assert card["msteams"] == {"width": "Full"}
    title, message, facts = card["body"][0]["items"]
    assert title["text"] == "kustomization/apps.flux-system"
    assert title["weight"] == "bolder"
    assert message["text"] == f"Applied revision: {REVISION}"
    assert "color" not in message
    # summary first, the rest sorted by key
    assert facts["facts"] == [
        {"title": "summary", "value": "prod cluster"},
        {"title": "revision", "value": REVISION},
    ]


def _googlechat(received: webhooks.Received) -> None:
    (card,) = received.json()["cards"]
    assert card["header"]["title"] == "kustomization/apps.flux-system"
    widgets = card["sections"][0]["widgets"]
    assert widgets[0] == {"textParagraph": {"text": f"Applied revision: {REVISION}"}}
    assert {"keyValue": {"topLabel": "revision", "content": REVISION}} in widgets


def _alertmanager(received: webhooks.Received) -> None:
    assert received.path == "/api/v2/alerts"
    assert received.headers["Authorization"] == "Bearer am-token"
    (alert,) = received.json()
    assert alert["status"] == "firing"
    assert alert["startsAt"] == "2026-12-06T03:50:00Z"
    assert alert["annotations"] == {
        "message": f"Applied revision: {REVISION}",
        "summary": "prod cluster",
    }
    assert alert["labels"] == {
        "revision": REVISION,
        "alertname": "FluxKustomizationReconciliationsucceeded",
        "severity": "info",
        "reason": "ReconciliationSucceeded",
        "kind": "Kustomization",
        "name": "apps",
        "namespace": "flux-system",
        "reportingcontroller": "kustomize-controller",
    }


def _github(received: webhooks.Received) -> None:
    assert received.method == "POST"
    assert received.path == f"/api/v3/repos/org/app/statuses/{SHA}"
    assert received.headers["Authorization"] == "Bearer ghp-1"
    assert received.json() == {
        "state": "success",
        "description": "reconciliation succeeded",
        "context": "kustomization/apps/0f1e2d3c",
    }


def _gitlab(received: webhooks.Received) -> None:
    assert received.path == f"/api/v4/projects/group%2Fsub%2Fapp/statuses/{SHA}"
    assert received.headers["PRIVATE-TOKEN"] == "glpat-1"
    assert received.json() == {
        "state": "failed",
        "name": "kustomization/apps/0f1e2d3c",
        "description": "health check failed",
    }


def _webex(received: webhooks.Received) -> None:
    assert received.headers["Authorization"] == "Bearer wx-1"
    assert received.json() == {
        "roomId": "room-1",
        "markdown": "\N{WHITE HEAVY CHECK MARK} **kustomization/apps.flux-system**\n"
        f"Applied revision: {REVISION}\n>**revision**: {REVISION}\n>**summary**: prod cluster\n",
    }


def _grafana(received: webhooks.Received) -> None:
    assert received.path == "/api/annotations"
    assert received.headers["Authorization"] == "Bearer gf-1"
    assert received.json() == {
        "when": 1796529000,  # 2026-12-06T03:50:00Z in seconds, as Flux sends it
        "text": "kustomization/apps.flux-system",
        "tags": [
            "flux", "kustomize-controller", "revision: main@sha1|" + SHA,
            "summary: prod cluster", "kind: Kustomization", "name: apps",
            "namespace: flux-system",
        ],
    }  # fmt: skip


def _opsgenie(received: webhooks.Received) -> None:
    assert received.path == "/v2/alerts"
    assert received.headers["Authorization"] == "GenieKey og-1"
    key = "0f1e2d3c-uid/Kustomization/flux-system/apps/HealthCheckFailed"
    assert received.json() == {
        "message": "Kustomization/apps",
        "alias": hashlib.sha256(key.encode()).hexdigest(),
        "description": "Health check failed",
        "details": {**METADATA, "severity": "error"},
    }


def _gitea(received: webhooks.Received) -> None:
    assert received.path == f"/api/v1/repos/org/app/statuses/{SHA}"
    assert received.headers["Authorization"] == "token gt-1"
    assert received.json() == {
        "state": "pending",
        "target_url": "",
        "description": "progressing",
        "context": "kustomization/apps/0f1e2d3c",
    }


def _githubdispatch(received: webhooks.Received) -> None:
    assert received.path == "/api/v3/repos/org/app/dispatches"
    assert received.headers["Authorization"] == "Bearer ghp-1"
    body = received.json()
    assert body["event_type"] == "Kustomization/apps.flux-system"
    assert body["client_payload"]["involvedObject"]["name"] == "apps"
    assert body["client_payload"]["metadata"] == METADATA


def _pagerduty(received: webhooks.Received) -> None:
    assert received.path == "/v2/enqueue"
    assert received.json() == {
        "routing_key": "rk-1",
        "event_action": "trigger",
        "dedup_key": "0f1e2d3c-0000-4000-8000-000000000000",
        "payload": {
            "summary": "health check failed: kustomization/apps",
            "source": "Flux kustomize-controller",
            "severity": "error",
            "timestamp": "2026-12-06T03:50:00Z",
            "component": "apps",
            "group": "Kustomization",
            "custom_details": {"message": "Health check failed", "metadata": METADATA},
        },
    }


def _datadog(received: webhooks.Received) -> None:
    assert received.path == "/api/v1/events"
    assert received.headers["DD-API-KEY"] == "dd-1"
    assert received.json() == {
        "title": "Events from the Kustomization apps/flux-system",
        "text": f"Applied revision: {REVISION}",
        "tags": [
            "flux_reporting_controller:kustomize-controller",
            "flux_reason:reconciliationsucceeded",
            "kube_kind:kustomization",
            "kube_name:apps",
            "kube_namespace:flux-system",
            f"revision:{REVISION}",
            "summary:prod cluster",
        ],
        "source_type_name": "fluxcd",
        "date_happened": 1796529000,
        "alert_type": "info",
    }


def _matrix(received: webhooks.Received) -> None:
    assert received.method == "PUT"
    prefix = "/_matrix/client/r0/rooms/!room:example.org/send/m.room.message/"
    assert received.path.startswith(prefix)
    assert len(received.path.removeprefix(prefix)) == 40  # the event's sha1
    assert received.headers["Authorization"] == "Bearer mx-1"
    assert received.json() == {
        "body": "\N{DIZZY SYMBOL} kustomization/apps.flux-system\n"
        f"Applied revision: {REVISION}\n- revision: {REVISION}\n- summary: prod cluster\n",
        "msgtype": "m.text",
    }


def _bitbucketserver(received: webhooks.Received) -> None:
    assert (
        received.path == f"/bitbucket/rest/api/latest/projects/PRJ/repos/app/commits/{SHA}/builds"
    )
    assert received.headers["Authorization"] == "Basic " + base64.b64encode(b"u:p").decode()
    assert received.headers["x-atlassian-token"] == "no-check"
    assert received.headers["x-requested-with"] == "XMLHttpRequest"
    body = received.json()
    assert body.pop("url").endswith("/bitbucket/scm/PRJ/app.git")
    assert body == {
        "description": "reconciliation succeeded",
        "key": hashlib.sha1(b"kustomization/apps/0f1e2d3c").hexdigest(),
        "name": "kustomization/apps",
        "state": "SUCCESSFUL",
    }


def _lark(received: webhooks.Received) -> None:
    assert received.json() == {
        "msg_type": "interactive",
        "card": {
            "config": {"wide_screen_mode": True},
            "header": {
                "title": {
                    "tag": "plain_text",
                    "content": "\N{POLICE CARS REVOLVING LIGHT} kustomization/apps.flux-system",
                },
                "template": "red",
            },
            "elements": [
                {
                    "tag": "div",
                    "text": {
                        "tag": "lark_md",
                        "content": "**Health check failed**\n\n"
                        f"revision: {REVISION}\nsummary: prod cluster\n",
                    },
                }
            ],
        },
    }


CASES: list[
    tuple[str, str, dict[str, Any], dict[str, Any], Callable[[webhooks.Received], None]]
] = [
    ("generic", "/hook", {"headers": {"X-Team": "platform"}}, {}, _generic),
    ("generic-hmac", "/hook", {"token": "s3cret"}, {}, _generic_hmac),
    ("slack", "/api/chat.postMessage", {"token": "xoxb-1", "channel": "#flux"}, {}, _slack),
    ("discord", "/api/webhooks/1/t", {"username": "flux"}, {"severity": "error"}, _discord),
    ("msteams", "/webhookb2/x", {}, {}, _msteams),
    ("googlechat", "/v1/spaces/x/messages", {}, {}, _googlechat),
    ("alertmanager", "/api/v2/alerts", {"token": "am-token"}, {}, _alertmanager),
    (
        "github",
        "/org/app.git",
        {"token": "ghp-1", "commit_status": "kustomization/apps/0f1e2d3c"},
        {},
        _github,
    ),
    (
        "gitlab",
        "/group/sub/app",
        {"token": "glpat-1", "commit_status": "kustomization/apps/0f1e2d3c"},
        {"severity": "error", "reason": "HealthCheckFailed"},
        _gitlab,
    ),
    ("webex", "/v1/messages", {"token": "wx-1", "channel": "room-1"}, {}, _webex),
    ("grafana", "/api/annotations", {"token": "gf-1"}, {}, _grafana),
    (
        "opsgenie",
        "/v2/alerts",
        {"token": "og-1", "provider_uid": "0f1e2d3c-uid"},
        {"severity": "error", "reason": "HealthCheckFailed", "message": "Health check failed"},
        _opsgenie,
    ),
    (
        "gitea",
        "/org/app",
        {"token": "gt-1", "commit_status": "kustomization/apps/0f1e2d3c"},
        {"reason": "Progressing"},
        _gitea,
    ),
    ("githubdispatch", "/org/app", {"token": "ghp-1"}, {}, _githubdispatch),
    (
        "pagerduty",
        "/ignored/path",
        {"channel": "rk-1"},
        {"severity": "error", "reason": "HealthCheckFailed", "message": "Health check failed"},
        _pagerduty,
    ),
    ("datadog", "/", {"token": "dd-1"}, {}, _datadog),
    (
        "lark",
        "/open-apis/bot/v2/hook/x",
        {},
        {"severity": "error", "message": "Health check failed"},
        _lark,
    ),
    (
        "bitbucketserver",
        "/bitbucket/scm/PRJ/app.git",
        {"username": "u", "password": "p", "commit_status": "kustomization/apps/0f1e2d3c"},
        {},
        _bitbucketserver,
    ),
    ("matrix", "", {"token": "mx-1", "channel": "!room:example.org"}, {}, _matrix),
]


async def test_pagerduty_resolves_the_incident_and_records_a_change_for_info_events() -> None:
    async with webhooks.serving() as server:
        await _deliver("pagerduty", notifiers.Target(address=server.url, channel="rk"), _event())
        resolve, change = server.received
    assert resolve.path == "/v2/enqueue"
    assert resolve.json() == {
        "routing_key": "rk",
        "event_action": "resolve",
        "dedup_key": "0f1e2d3c-0000-4000-8000-000000000000",
    }
    assert change.path == "/v2/change/enqueue"
    assert change.json()["payload"]["summary"] == "reconciliation succeeded: kustomization/apps"


@pytest.mark.parametrize(
    ("provider_type", "path", "target", "event", "check"),
    CASES,
    ids=[case[0] for case in CASES],
)
async def test_provider_request(
    provider_type: str,
    path: str,
    target: dict[str, Any],
    event: dict[str, Any],
    check: Callable[[webhooks.Received], None],
) -> None:
    async with webhooks.serving() as server:
        await _deliver(
            provider_type,
            notifiers.Target(address=server.url + path, **target),
            _event(**event),
        )
        (received,) = server.received
        check(received)


def test_generic_hmac_without_a_token_is_refused() -> None:
    with pytest.raises(notifiers.NotifierError, match="HMAC key is empty"):
        notifiers.requests("generic-hmac", _event(), notifiers.Target(address="http://h/"))


def test_commit_statuses_skip_progressing_events() -> None:
    target = notifiers.Target(address="https://github.com/org/app", commit_status="c", token="t")
    assert notifiers.requests("github", _event(reason="Progressing"), target) == []


def test_github_dot_com_uses_the_public_api() -> None:
    target = notifiers.Target(address="https://github.com/org/app", commit_status="c", token="t")
    (request,) = notifiers.requests("github", _event(), target)
    assert isinstance(request, notifiers.Request)
    assert request.url == f"https://api.github.com/repos/org/app/statuses/{SHA}"
    assert json.loads(request.body)["context"] == "c"


@pytest.mark.parametrize(
    ("revision", "sha"),
    [
        (f"main@sha1:{SHA}", SHA),
        (f"feature/x@sha1:{SHA}", SHA),
        (SHA, SHA),
        (f"main/{SHA}", SHA),
        ("v1.0.0@sha256:" + "b" * 64, "b" * 64),
    ],
)
def test_commit_sha(revision: str, sha: str) -> None:
    assert notifiers.commit_sha(revision) == sha


def test_a_revision_without_a_commit_is_refused() -> None:
    with pytest.raises(notifiers.NotifierError, match="failed to extract commit hash"):
        notifiers.commit_sha("latest@sha256:short")
