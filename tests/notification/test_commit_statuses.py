"""Commit statuses of Bitbucket Cloud and Azure DevOps, and ``commitStatusExpr``.

Each request goes through ``delivery.Dispatcher`` to a recording server
(``webhooks.serving``) and is checked against what the host's REST API
documents. Bitbucket Cloud's API host is fixed, so its request is rebased
onto the local server after its URL is checked.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest

from controllers.notification import notifiers, providers
from shared.api import notification
from tests.notification import events, webhooks

SHA = "c" * 40
STATUS = "kustomization/apps/0f1e2d3c"


def _event(**kwargs: Any) -> notification.Event:
    metadata = {"revision": f"main@sha1:{SHA}", "summary": "prod"}
    return events.parsed(metadata=metadata, **kwargs)


async def test_bitbucket_posts_a_build_status_with_basic_auth() -> None:
    target = notifiers.Target(
        address="https://bitbucket.org/org/app.git", token="bot:app-pw", commit_status=STATUS
    )
    (request,) = notifiers.requests("bitbucket", _event(), target)
    assert isinstance(request, notifiers.Request)
    assert request.url == (
        f"https://api.bitbucket.org/2.0/repositories/org/app/commit/{SHA}/statuses/build"
    )
    async with webhooks.serving() as server:
        await webhooks.deliver([webhooks.rebased(request, server.url)])
        (received,) = server.received
    assert received.method == "POST"
    assert received.path == f"/2.0/repositories/org/app/commit/{SHA}/statuses/build"
    assert received.headers["Authorization"] == "Basic " + base64.b64encode(b"bot:app-pw").decode()
    assert received.headers["Content-Type"] == "application/json"
    assert received.json() == {
        "state": "SUCCESSFUL",
        "key": hashlib.sha1(STATUS.encode()).hexdigest(),
        "name": "kustomization/apps",
        "description": "reconciliation succeeded",
        "url": "https://bitbucket.org",
    }


@pytest.mark.parametrize(
    ("target", "error"),
    [
        ({"token": ""}, "bitbucket token cannot be empty"),
        ({"commit_status": ""}, "commit status cannot be empty"),
        ({"token": "no-colon"}, "invalid token format"),
        ({"address": "https://bitbucket.org/org/app/extra"}, "invalid repository id"),
    ],
)
def test_bitbucket_refuses_what_flux_refuses(target: dict[str, str], error: str) -> None:
    settings = {
        "address": "https://bitbucket.org/org/app",
        "token": "u:p",
        "commit_status": STATUS,
        **target,
    }
    with pytest.raises(notifiers.NotifierError, match=error):
        notifiers.requests(
            "bitbucket",
            _event(),
            notifiers.Target(
                address=settings["address"],
                token=settings["token"],
                commit_status=settings["commit_status"],
            ),
        )


async def test_azuredevops_posts_a_commit_status_with_the_pat() -> None:
    async with webhooks.serving() as server:
        target = notifiers.Target(
            address=f"{server.url}/org/My%20Project/_git/app",
            token="pat-1",
            commit_status=STATUS,
        )
        await webhooks.deliver(notifiers.requests("azuredevops", _event(severity="error"), target))
        (received,) = server.received
    assert received.method == "POST"
    assert received.path == (
        f"/org/My%20Project/_apis/git/repositories/app/commits/{SHA}/statuses?api-version=6.0"
    )
    assert received.headers["Authorization"] == "Basic " + base64.b64encode(b":pat-1").decode()
    assert received.json() == {
        "state": "error",
        "description": "reconciliation succeeded",
        "context": {"genre": "fluxcd:prod", "name": STATUS},
    }


def test_azuredevops_wants_org_project_and_repository() -> None:
    target = notifiers.Target(
        address="https://dev.azure.com/org/app", token="t", commit_status=STATUS
    )
    with pytest.raises(notifiers.NotifierError, match="invalid repository id 'org/app'"):
        notifiers.requests("azuredevops", _event(), target)


@pytest.mark.parametrize(
    ("provider_type", "address"),
    [
        ("bitbucket", "https://bitbucket.org/org/app"),
        ("azuredevops", "https://dev.azure.com/org/p/_git/app"),
    ],
)
def test_progressing_events_set_no_status(provider_type: str, address: str) -> None:
    target = notifiers.Target(address=address, token="u:p", commit_status=STATUS)
    assert notifiers.requests(provider_type, _event(reason="Progressing"), target) == []


def _provider(spec: dict[str, Any]) -> tuple[dict[str, Any], notification.ProviderSpec]:
    obj = {
        "apiVersion": notification.PROVIDER_API_VERSION,
        "kind": "Provider",
        "metadata": {"name": "gh", "namespace": "flux-system", "uid": "1234abcd-0000"},
        "spec": {"address": "https://github.com/org/app", **spec},
    }
    return obj, notification.Provider.model_validate(obj).spec


def test_commit_status_defaults_to_kind_name_and_provider_uid() -> None:
    obj, spec = _provider({"type": "github"})
    status = providers.commit_status(obj, spec, _event(), alert=events.alert({}))
    assert status == "kustomization/apps/1234abcd"


def test_commit_status_expr_sees_the_event_the_provider_and_the_alert() -> None:
    expression = (
        "event.involvedObject.kind + '/' + event.metadata.summary + '/' "
        "+ alert.metadata.name + '/' + provider.metadata.uid"
    )
    obj, spec = _provider({"type": "gitlab", "commitStatusExpr": expression})
    status = providers.commit_status(obj, spec, _event(), alert=events.alert({}))
    assert status == "Kustomization/prod/on-apps/1234abcd-0000"


def test_providers_without_commit_statuses_have_no_status_key() -> None:
    obj, spec = _provider({"type": "slack"})
    assert providers.commit_status(obj, spec, _event(), alert=events.alert({})) == ""


@pytest.mark.parametrize(
    "expression", ["event.metadata.missing", "1 + 1", "event.involvedObject.kind +"]
)
def test_a_failing_commit_status_expr_is_a_provider_error(expression: str) -> None:
    obj, spec = _provider({"type": "github", "commitStatusExpr": expression})
    with pytest.raises(
        providers.ProviderError,
        match=r"failed to evaluate the spec\.commitStatusExpr CEL expression for the event",
    ):
        providers.commit_status(obj, spec, _event(), alert=events.alert({}))
