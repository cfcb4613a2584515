"""Receivers against the devcluster: status, and webhooks that annotate (or refuse to)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
import structlog.testing

from controllers.notification.receiver import server, signatures
from tests.fixtures import devcluster as devcluster_fixtures
from tests.fixtures import oidcissuer
from tests.fixtures.polling import eventually
from tests.fixtures.receivers import Cluster, Receivers, running_receivers

pytestmark = [pytest.mark.slow]

RECEIVER_API = "notification.toolkit.fluxcd.io/v1"
SOURCE_API = "source.toolkit.fluxcd.io/v1"
REQUESTED_AT = "reconcile.fluxcd.io/requestedAt"
TOKEN = "webhook-token"
PUSH = json.dumps({"ref": "refs/heads/main", "repository": {"name": "app"}}).encode()


def _secret(name: str = "token", token: str = TOKEN) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "labels": {"reconcile.fluxcd.io/watch": "Enabled"}},
        "stringData": {"token": token},
    }


def _receiver(
    name: str, type_: str, resources: list[dict[str, Any]], **spec: Any
) -> dict[str, Any]:
    return {
        "apiVersion": RECEIVER_API,
        "kind": "Receiver",
        "metadata": {"name": name},
        "spec": {"type": type_, "secretRef": {"name": "token"}, "resources": resources, **spec},
    }


def _repository(name: str, **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": SOURCE_API,
        "kind": "GitRepository",
        "metadata": {"name": name, "labels": labels},
        "spec": {"interval": "1h", "url": f"http://127.0.0.1:1/{name}.git"},
    }


def _repo_ref(name: str, **extra: Any) -> dict[str, Any]:
    return {"kind": "GitRepository", "name": name, **extra}


def _condition(obj: dict[str, Any] | None, type_: str) -> dict[str, Any] | None:
    for item in ((obj or {}).get("status") or {}).get("conditions") or []:
        if item["type"] == type_:
            return dict(item)
    return None


async def _ready(kube: Cluster, name: str, receivers: Receivers | None = None) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        obj = await kube.get(RECEIVER_API, "Receiver", name)
        ready = _condition(obj, "Ready")
        return obj if ready and ready["status"] == "True" else None

    found: dict[str, Any] = await eventually(probe, within=20, message=f"receiver {name} ready")
    if receivers is not None:
        await eventually(lambda: receivers.serves(found["status"]["webhookPath"]), within=10)
    return found


async def _requested_at(kube: Cluster, name: str) -> str | None:
    obj = await kube.get(SOURCE_API, "GitRepository", name)
    assert obj is not None
    value: str | None = (obj["metadata"].get("annotations") or {}).get(REQUESTED_AT)
    return value


def _github(
    body: bytes = PUSH, *, token: str = TOKEN, event: str = "push", delivery: str = "d1"
) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": signatures.sign(body, token.encode()),
    }


async def _github_receiver(kube: Cluster, receivers: Receivers, *repos: str, **spec: Any) -> str:
    """A Ready github Receiver on GitRepositories ``repos``; its webhook path."""
    await kube.apply(_secret())
    for repo in repos:
        await kube.apply(_repository(repo))
    await kube.apply(_receiver("gh", "github", [_repo_ref(r) for r in repos], **spec))
    path: str = (await _ready(kube, "gh", receivers))["status"]["webhookPath"]
    return path


async def test_a_receiver_publishes_its_webhook_path_as_flux_derives_it(
    kube: Cluster, receivers: Receivers
) -> None:
    await kube.apply(_secret())
    await kube.apply(_receiver("hook", "generic", [_repo_ref("app")]))
    obj = await _ready(kube, "hook")
    digest = hashlib.sha256(f"{TOKEN}hook{kube.namespace}".encode()).hexdigest()
    assert obj["status"]["webhookPath"] == f"/hook/{digest}"
    ready = _condition(obj, "Ready")
    assert ready is not None
    assert (ready["reason"], ready["message"]) == (
        "Succeeded",
        f"Receiver initialized for path: /hook/{digest}",
    )
    assert _condition(obj, "Reconciling") is None
    assert obj["status"]["observedGeneration"] == obj["metadata"]["generation"]


async def test_a_missing_secret_is_token_not_found_until_the_secret_appears(
    kube: Cluster, receivers: Receivers
) -> None:
    await kube.apply(_receiver("hook", "generic", [_repo_ref("app")]))

    async def token_not_found() -> dict[str, Any] | None:
        obj = await kube.get(RECEIVER_API, "Receiver", "hook")
        ready = _condition(obj, "Ready")
        return ready if ready and ready["reason"] == "TokenNotFound" else None

    ready = await eventually(token_not_found, within=20)
    assert ready["status"] == "False"
    assert ready["message"] == (
        f"unable to read token from secret '{kube.namespace}/token' error: "
        f"secret '{kube.namespace}/token' not found"
    )
    await kube.apply(_secret())
    obj = await _ready(kube, "hook")
    assert obj["status"]["webhookPath"].startswith("/hook/")


async def test_an_invalid_cel_filter_stalls_the_receiver(
    kube: Cluster, receivers: Receivers
) -> None:
    await kube.apply(_secret())
    await kube.apply(
        _receiver("hook", "generic", [_repo_ref("app")], resourceFilter="res.metadata.name ==")
    )

    async def stalled() -> dict[str, Any] | None:
        return _condition(await kube.get(RECEIVER_API, "Receiver", "hook"), "Stalled")

    stall = await eventually(stalled, within=20)
    assert stall["reason"] == "InvalidCELExpression"
    assert stall["message"].startswith(
        "Reconciliation failed terminally due to configuration error: "
        "invalid resourceFilter expression:"
    )
    ready = _condition(await kube.get(RECEIVER_API, "Receiver", "hook"), "Ready")
    assert ready is not None
    assert (ready["status"], ready["reason"]) == ("False", "InvalidCELExpression")


async def test_a_signed_github_push_annotates_the_repository_each_time(
    kube: Cluster, receivers: Receivers
) -> None:
    path = await _github_receiver(kube, receivers, "app")
    assert await receivers.post(path, PUSH, _github(delivery="first")) == 200
    first = await _requested_at(kube, "app")
    assert first is not None
    assert await receivers.post(path, PUSH, _github(delivery="second")) == 200
    second = await _requested_at(kube, "app")
    assert second is not None
    assert second > first


async def test_a_bad_signature_is_refused_and_changes_nothing(
    kube: Cluster, receivers: Receivers
) -> None:
    path = await _github_receiver(kube, receivers, "app")
    with structlog.testing.capture_logs() as logs:
        status = await receivers.post(path, PUSH, _github(token="wrong"))
    assert status == 400
    assert await _requested_at(kube, "app") is None
    refusals = [line for line in logs if line["log_level"] == "error"]
    assert len(refusals) == 1
    assert refusals[0]["event"] == "unable to validate payload"
    assert refusals[0]["name"] == "gh"
    assert "payload signature check failed" in refusals[0]["error"]


async def test_unknown_paths_are_404_and_other_methods_405(
    kube: Cluster, receivers: Receivers
) -> None:
    path = await _github_receiver(kube, receivers, "app")
    assert await receivers.post("/hook/" + "0" * 64, PUSH, _github()) == 404
    assert await receivers.post(path + "?extra=1", PUSH, _github()) == 404
    async with receivers.session.get(receivers.url + path) as response:
        assert response.status == 405
    assert await _requested_at(kube, "app") is None


async def test_an_oversize_body_is_refused(kube: Cluster, receivers: Receivers) -> None:
    path = await _github_receiver(kube, receivers, "app")
    big = b"x" * (server.MAX_BODY_BYTES + 1)
    assert await receivers.post(path, big, _github(big)) == 413
    assert await _requested_at(kube, "app") is None


async def test_a_replayed_delivery_is_refused(kube: Cluster, receivers: Receivers) -> None:
    path = await _github_receiver(kube, receivers, "app")
    assert await receivers.post(path, PUSH, _github(delivery="once")) == 200
    first = await _requested_at(kube, "app")
    assert await receivers.post(path, PUSH, _github(delivery="once")) == 409
    assert await _requested_at(kube, "app") == first


async def test_a_filtered_out_event_and_a_ping_annotate_nothing(
    kube: Cluster, receivers: Receivers
) -> None:
    path = await _github_receiver(kube, receivers, "app", events=["push"])
    assert await receivers.post(path, PUSH, _github(event="issues", delivery="a")) == 400
    assert await receivers.post(path, PUSH, _github(event="ping", delivery="b")) == 200
    assert await _requested_at(kube, "app") is None


async def test_match_labels_selects_only_the_labelled_objects(
    kube: Cluster, receivers: Receivers
) -> None:
    await kube.apply(_secret())
    await kube.apply(_repository("labelled", team="a"))
    await kube.apply(_repository("other", team="b"))
    await kube.apply(_receiver("hook", "generic", [_repo_ref("*", matchLabels={"team": "a"})]))
    path = (await _ready(kube, "hook", receivers))["status"]["webhookPath"]
    assert await receivers.post(path) == 200
    assert await _requested_at(kube, "labelled") is not None
    assert await _requested_at(kube, "other") is None


async def test_a_wildcard_without_labels_and_a_missing_object_fail(
    kube: Cluster, receivers: Receivers
) -> None:
    await kube.apply(_secret())
    await kube.apply(_repository("present"))
    await kube.apply(
        _receiver("hook", "generic", [_repo_ref("*"), _repo_ref("absent"), _repo_ref("present")])
    )
    path = (await _ready(kube, "hook", receivers))["status"]["webhookPath"]
    with structlog.testing.capture_logs() as logs:
        assert await receivers.post(path) == 500
    errors = [line["error"] for line in logs if line["log_level"] == "error"]
    assert errors == [
        "matchLabels field not set when using wildcard '*' as name",
        f'unable to read GitRepository "{kube.namespace}/absent" error: '
        f'gitrepositories.source.toolkit.fluxcd.io "absent" not found',
    ]
    assert await _requested_at(kube, "present") is not None


async def test_the_resource_filter_sees_the_request_body(
    kube: Cluster, receivers: Receivers
) -> None:
    await kube.apply(_secret())
    await kube.apply(_repository("app"))
    await kube.apply(_repository("other"))
    await kube.apply(
        _receiver(
            "hook", "generic", [_repo_ref("app"), _repo_ref("other")],
            resourceFilter="req.repository.name == res.metadata.name",
        )
    )  # fmt: skip
    path = (await _ready(kube, "hook", receivers))["status"]["webhookPath"]
    assert await receivers.post(path, PUSH, {"Content-Type": "application/json"}) == 200
    assert await _requested_at(kube, "app") is not None
    assert await _requested_at(kube, "other") is None


async def test_a_suspended_receiver_answers_503(kube: Cluster, receivers: Receivers) -> None:
    path = await _github_receiver(kube, receivers, "app")
    await kube.apply(_receiver("gh", "github", [_repo_ref("app")], suspend=True))
    cache = receivers.mgr.controllers[0].informer

    def suspended_in_cache() -> bool:
        return bool((cache.get(f"{kube.namespace}/gh") or {}).get("spec", {}).get("suspend"))

    await eventually(suspended_in_cache, within=10)
    assert await receivers.post(path, PUSH, _github()) == 503
    assert await _requested_at(kube, "app") is None


async def test_cross_namespace_resources_are_refused_when_locked_down(
    cluster: devcluster_fixtures.Devcluster, kube: Cluster
) -> None:
    other = f"{kube.namespace}-other"
    cluster.kubectl("create", "namespace", other)
    try:
        await kube.apply({**_repository("app"), "metadata": {"name": "app", "namespace": other}})
        await kube.apply(_secret())
        await kube.apply(_receiver("hook", "generic", [_repo_ref("app", namespace=other)]))
        async with running_receivers(kube, no_cross_namespace_refs=True) as receivers:
            path = (await _ready(kube, "hook", receivers))["status"]["webhookPath"]
            assert await receivers.post(path) == 500
        repo = await kube.objects.get(SOURCE_API, "GitRepository", "app", namespace=other)
        assert REQUESTED_AT not in (repo["metadata"].get("annotations") or {})
    finally:
        cluster.kubectl("delete", "namespace", other, "--wait=false", check=False)


async def test_a_generic_oidc_receiver_takes_a_trusted_token_only(
    kube: Cluster, receivers: Receivers
) -> None:
    async with oidcissuer.serving_issuer() as issuer:
        for repo in ("app", "other"):
            await kube.apply(_repository(repo))
        obj = _receiver(
            "oidc", "generic-oidc", [_repo_ref("app"), _repo_ref("other")],
            resourceFilter="res.metadata.name == claims.target",
        )  # fmt: skip
        del obj["spec"]["secretRef"]
        obj["spec"]["oidcProviders"] = [
            {
                "issuerURL": issuer.url,
                "validations": [
                    {"expression": "claims.sub == 'ci'", "message": "only CI may call"}
                ],
            }
        ]
        await kube.apply(obj)
        path = (await _ready(kube, "oidc", receivers))["status"]["webhookPath"]
        # No Secret: the path comes from the name and namespace alone.
        digest = hashlib.sha256(f"oidc{kube.namespace}".encode()).hexdigest()
        assert path == f"/hook/{digest}"
        claims = {"aud": "notification-controller", "target": "app"}
        for refused in (
            {},
            {"Authorization": f"Bearer {issuer.issue({**claims, 'sub': 'someone'})}"},
            {"Authorization": f"Bearer {issuer.issue({**claims, 'sub': 'ci', 'aud': 'x'})}"},
        ):
            assert await receivers.post(path, headers=refused) == 400
        assert await _requested_at(kube, "app") is None
        trusted = {"Authorization": f"Bearer {issuer.issue({**claims, 'sub': 'ci'})}"}
        assert await receivers.post(path, headers=trusted) == 200
    assert await _requested_at(kube, "app") is not None
    assert await _requested_at(kube, "other") is None


async def test_a_rotated_watched_secret_moves_the_webhook_path_at_once(
    kube: Cluster, receivers: Receivers
) -> None:
    old_path = await _github_receiver(kube, receivers, "app")
    await kube.apply(_secret(token="rotated"))
    digest = hashlib.sha256(f"rotatedgh{kube.namespace}".encode()).hexdigest()

    async def moved() -> bool:
        # NB: the interval is 10m: only the watch of the labelled Secret explains a move.
        obj = await kube.get(RECEIVER_API, "Receiver", "gh")
        return bool(obj and obj["status"].get("webhookPath") == f"/hook/{digest}")

    await eventually(moved, within=15)
    await eventually(lambda: receivers.serves(f"/hook/{digest}"), within=10)
    assert await receivers.post(old_path, PUSH, _github(token="rotated")) == 404
    headers = _github(token="rotated", delivery="after-rotation")
    assert await receivers.post(f"/hook/{digest}", PUSH, headers) == 200
