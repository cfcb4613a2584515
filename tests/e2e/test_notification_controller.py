"""notification-controller as a process: events posted as the controllers post them reach
Providers through Alerts, filtered, signed, as commit statuses, and retried."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import pathlib
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from shared.api import kustomize, notification
from shared.runtime import events
from tests.e2e import objects
from tests.fixtures import devcluster as devcluster_fixtures
from tests.fixtures import processes
from tests.fixtures.polling import eventually
from tests.notification import webhooks

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SHA = "c" * 40
REVISION = f"main@sha1:{SHA}"


async def _metric_lines(metrics_url: str, prefix: str) -> list[str]:
    async with aiohttp.ClientSession() as session, session.get(metrics_url) as response:
        return [line for line in (await response.text()).splitlines() if line.startswith(prefix)]


@contextlib.contextmanager
def _notification_controller(
    cluster: devcluster_fixtures.Devcluster, namespace: str, tmp_path: pathlib.Path, *flags: str
) -> Iterator[tuple[str, str]]:
    """The controller's event intake URL and metrics URL while it runs."""
    addr = f"127.0.0.1:{devcluster_fixtures.free_port()}"
    with processes.start_controller(
        "controllers.notification",
        ["--kubeconfig", str(cluster.kubeconfig), "--events-addr", addr, *flags],
        log=tmp_path / "notification-controller.log",
        env={"RUNTIME_NAMESPACE": namespace},
    ) as controller:
        yield f"http://{addr}/", f"http://{controller.metrics_addr}/metrics"


def _kustomization(cluster: devcluster_fixtures.Devcluster, namespace: str) -> dict[str, Any]:
    objects.apply(
        cluster,
        {
            "apiVersion": kustomize.API_VERSION,
            "kind": "Kustomization",
            "metadata": {"name": "apps", "namespace": namespace, "labels": {"team": "a"}},
            "spec": {
                "interval": "10m",
                "path": "./",
                "prune": True,
                "sourceRef": {"kind": "GitRepository", "name": "apps"},
            },
        },
    )
    found = objects.get(cluster, namespace, "kustomization", "apps")
    assert found is not None
    return found


def _provider(namespace: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": notification.PROVIDER_API_VERSION,
        "kind": "Provider",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def _alert(namespace: str, name: str, provider: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": notification.ALERT_API_VERSION,
        "kind": "Alert",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "providerRef": {"name": provider},
            "eventSources": [{"kind": "Kustomization", "name": "*"}],
            **spec,
        },
    }


def _secret(namespace: str, name: str, data: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }


def _github_provider(
    cluster: devcluster_fixtures.Devcluster, namespace: str, name: str, kind: str, address: str
) -> None:
    """A GitHub Provider ``name`` of type ``kind`` (token in Secret ``github``), alerted on
    every Kustomization by Alert ``name``."""
    objects.apply(cluster, _secret(namespace, "github", {"token": "ghp-1"}))
    spec = {"type": kind, "address": address, "secretRef": {"name": "github"}}
    objects.apply(cluster, _provider(namespace, name, spec))
    objects.apply(cluster, _alert(namespace, name, name))


async def _post(
    url: str,
    obj: dict[str, Any],
    *,
    severity: str,
    message: str,
    reason: str = "ReconciliationSucceeded",
    metadata: dict[str, str] | None = None,
) -> int:
    """POST an event about ``obj`` exactly as the controllers' recorder builds it."""
    body = events.flux_event(
        obj,
        severity=severity,
        reason=reason,
        message=message,
        metadata=metadata if metadata is not None else {"revision": REVISION},
        controller="kustomize-controller",
        instance="kustomize-controller-0",
        timestamp="2026-12-06T03:50:00Z",
    )
    async with aiohttp.ClientSession() as session, session.post(url, json=body) as response:
        return response.status


async def _post_raw(url: str, body: bytes) -> int:
    async with aiohttp.ClientSession() as session, session.post(url, data=body) as response:
        return response.status


def _messages(provider: webhooks.Provider) -> list[str]:
    return sorted(r.json()["message"] for r in provider.received)


async def test_events_reach_generic_and_hmac_providers_filtered(
    cluster: devcluster_fixtures.Devcluster, namespace: str, tmp_path: pathlib.Path
) -> None:
    async with webhooks.serving() as generic, webhooks.serving() as signed:
        kustomization = _kustomization(cluster, namespace)
        for manifest in (
            _secret(namespace, "hmac", {"token": "s3cret"}),
            _secret(namespace, "headers", {"headers": "X-Team: platform\n"}),
            _provider(namespace, "generic", {"type": "generic", "address": generic.url + "/in",
                                             "secretRef": {"name": "headers"}}),
            _provider(namespace, "signed", {"type": "generic-hmac", "address": signed.url,
                                            "secretRef": {"name": "hmac"}}),
            _alert(
                namespace, "infos", "generic",
                eventSources=[{"kind": "Kustomization", "name": "*", "matchLabels": {"team": "a"}}],
                inclusionList=["^Applied", "failed"], exclusionList=["ignored"],
                eventMetadata={"cluster": "prod"},
            ),
            _alert(namespace, "errors", "signed", eventSeverity="error"),
            _alert(
                namespace, "other-team", "signed",
                eventSources=[{"kind": "Kustomization", "name": "*", "matchLabels": {"team": "b"}}],
            ),
        ):  # fmt: skip
            objects.apply(cluster, manifest)
        with _notification_controller(cluster, namespace, tmp_path) as (url, metrics):
            applied = f"Applied revision: {REVISION}"
            assert await _post(url, kustomization, severity="info", message=applied) == 202
            assert await _post(url, kustomization, severity="info", message=applied) == 429
            for severity, message in (
                ("info", f"Applied revision: {REVISION} (ignored)"),
                ("info", "Dependencies do not meet ready condition"),
                ("error", "Health check failed"),
            ):
                assert await _post(url, kustomization, severity=severity, message=message) == 202
            await eventually(lambda: len(generic.received) >= 2 and len(signed.received) >= 1)
            assert await _post_raw(url, b'{"severity": "info"}') == 400
            assert await _post_raw(url, b"x" * (3 * 1024 * 1024 + 1)) == 413
            counts = await _metric_lines(metrics, "gotk_event_http_request_duration_seconds_count")
        assert _messages(generic) == sorted([applied, "Health check failed"])
        assert _messages(signed) == ["Health check failed"]
        labels = 'handler="/",method="POST",service=""'
        assert (
            f'gotk_event_http_request_duration_seconds_count{{code="202",{labels}}} 4.0' in counts
        )
        assert (
            f'gotk_event_http_request_duration_seconds_count{{code="429",{labels}}} 1.0' in counts
        )
        first = generic.received[0]
        assert first.path == "/in"
        assert first.headers["gotk-component"] == "kustomize-controller"
        assert first.headers["X-Team"] == "platform"
        assert first.json()["metadata"] == {"revision": REVISION, "cluster": "prod"}
        (received,) = signed.received
        digest = hmac.new(b"s3cret", received.body, hashlib.sha256).hexdigest()
        assert received.headers["X-Signature"] == f"sha256={digest}"
        assert received.json()["severity"] == "error"


async def test_a_kustomization_revision_sets_a_github_commit_status(
    cluster: devcluster_fixtures.Devcluster, namespace: str, tmp_path: pathlib.Path
) -> None:
    async with webhooks.serving() as github:
        kustomization = _kustomization(cluster, namespace)
        _github_provider(cluster, namespace, "github", "github", f"{github.url}/org/app.git")
        provider = objects.get(cluster, namespace, "provider", "github")
        assert provider is not None
        with _notification_controller(cluster, namespace, tmp_path) as (url, _):
            # kustomize-controller's apply event: the revision and commit_status=update.
            metadata = {"revision": REVISION, "commit_status": "update"}
            status = await _post(
                url, kustomization, severity="info", message="Applied", metadata=metadata
            )
            assert status == 202
            await eventually(lambda: github.received)
        (received,) = github.received
        assert received.method == "POST"
        assert received.path == f"/api/v3/repos/org/app/statuses/{SHA}"
        assert received.headers["Authorization"] == "Bearer ghp-1"
        assert received.json() == {
            "state": "success",
            "description": "reconciliation succeeded",
            "context": f"kustomization/apps/{provider['metadata']['uid'].split('-')[0]}",
        }


async def test_a_provider_that_is_down_is_retried_and_does_not_delay_another(
    cluster: devcluster_fixtures.Devcluster, namespace: str, tmp_path: pathlib.Path
) -> None:
    async with webhooks.serving() as down, webhooks.serving() as up:
        down.hold = asyncio.Event()
        down.answers["/"] = [503]
        kustomization = _kustomization(cluster, namespace)
        for name, server in (("down", down), ("up", up)):
            objects.apply(
                cluster, _provider(namespace, name, {"type": "generic", "address": server.url + "/",
                                                     "timeout": "1m"}),
            )  # fmt: skip
            objects.apply(cluster, _alert(namespace, name, name))
        with _notification_controller(cluster, namespace, tmp_path) as (url, _):
            assert await _post(url, kustomization, severity="info", message="one") == 202
            assert await _post(url, kustomization, severity="info", message="two") == 202
            await eventually(lambda: len(up.received) == 2)
            # Both notifications still wait for the provider that does not answer.
            assert len(down.received) <= 2
            down.hold.set()
            # The first answer is a 503: retried, then delivered.
            await eventually(lambda: len(down.received) == 3, within=30)
        assert _messages(down) == ["one", "one", "two"] or _messages(down) == ["one", "two", "two"]


def _warned(
    cluster: devcluster_fixtures.Devcluster, namespace: str, alert: str, message: str
) -> bool:
    return any(
        e["reason"] == notification.NOTIFICATION_DISPATCH_FAILED_REASON
        and e["type"] == "Warning"
        and e["involvedObject"]["name"] == alert
        and message in e["message"]
        for e in objects.events(cluster, namespace)
    )


async def test_an_alert_naming_a_missing_provider_gets_a_warning_event(
    cluster: devcluster_fixtures.Devcluster, namespace: str, tmp_path: pathlib.Path
) -> None:
    kustomization = _kustomization(cluster, namespace)
    objects.apply(cluster, _alert(namespace, "orphan", "missing"))
    with _notification_controller(cluster, namespace, tmp_path) as (url, _):
        assert await _post(url, kustomization, severity="info", message="applied") == 202
        message = f"provider '{namespace}/missing' not found"
        await eventually(lambda: asyncio.to_thread(_warned, cluster, namespace, "orphan", message))


async def test_no_cross_namespace_refs_refuses_an_alert_on_another_namespace(
    cluster: devcluster_fixtures.Devcluster, namespace: str, tmp_path: pathlib.Path
) -> None:
    other = f"{namespace}-other"
    cluster.kubectl("create", "namespace", other)
    async with webhooks.serving() as hook:
        kustomization = _kustomization(cluster, namespace)
        objects.apply(cluster, _provider(other, "hook", {"type": "generic", "address": hook.url}))
        objects.apply(
            cluster,
            _alert(
                other, "watcher", "hook",
                eventSources=[{"kind": "Kustomization", "name": "*", "namespace": namespace}],
            ),
        )  # fmt: skip
        with _notification_controller(
            cluster, namespace, tmp_path, "--no-cross-namespace-refs=true"
        ) as (url, _):
            assert await _post(url, kustomization, severity="info", message="applied") == 202
            message = "cross-namespace references have been blocked"
            await eventually(lambda: asyncio.to_thread(_warned, cluster, other, "watcher", message))
        assert hook.received == []
    cluster.kubectl("delete", "namespace", other, "--wait=false", check=False)


async def test_a_pull_request_comment_follows_the_change_request_annotation(
    cluster: devcluster_fixtures.Devcluster, namespace: str, tmp_path: pathlib.Path
) -> None:
    async with webhooks.serving() as github:
        github.replies = {
            "/api/v3/user": {"login": "flux-bot"},
            "/api/v3/repos/org/app/issues/12/comments": [],
        }
        kustomization = _kustomization(cluster, namespace)
        comments = "githubpullrequestcomment"
        _github_provider(cluster, namespace, "pr", comments, f"{github.url}/org/app")
        annotated = {
            **kustomization,
            "metadata": {
                **kustomization["metadata"],
                "annotations": {"event.toolkit.fluxcd.io/change_request": "12"},
            },
        }
        with _notification_controller(cluster, namespace, tmp_path) as (url, _):
            # Without the annotation the comment Provider takes nothing.
            assert await _post(url, kustomization, severity="info", message="first") == 202
            assert await _post(url, annotated, severity="info", message="second") == 202
            await eventually(lambda: len(github.received) >= 3)
        assert [(r.method, r.path.partition("?")[0]) for r in github.received] == [
            ("GET", "/api/v3/user"),
            ("GET", "/api/v3/repos/org/app/issues/12/comments"),
            ("POST", "/api/v3/repos/org/app/issues/12/comments"),
        ]
        log = (tmp_path / "notification-controller.log").read_text()
        assert log.count("event dropped for change request providers") == 1
        body = github.received[-1].json()["body"]
        assert body.startswith("<!-- flux-pr-comment-key:")
        assert "Kustomization/" + namespace + "/apps\n\nsecond\n" in body
