"""The kube layer against a real devcluster: config, discovery, apply, impersonation."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest
from aiohttp import test_utils, web

from shared.api import crdgen
from shared.kube import applying, client, errors, kubeconfig, ratelimit, resources
from tests.fixtures import devcluster as devcluster_fixtures
from tests.runtime import widgets


def _configmap(name: str, **data: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "default"},
        "data": data,
    }


async def test_kubeconfig_from_the_environment(
    cluster: devcluster_fixtures.Devcluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(cluster.kubeconfig))
    async with client.connected() as api:
        version = await api.request("GET", "/version")

    assert version["major"] == "1"


async def test_missing_kubeconfig_is_a_clear_error(tmp_path: Any) -> None:
    with pytest.raises(errors.UnreachableError, match="cannot load the Kubernetes configuration"):
        await client.connect(kubeconfig=str(tmp_path / "nope"))


async def test_discovery_finds_a_crd_established_after_the_cache_was_filled(
    cluster: devcluster_fixtures.Devcluster, api: client.Client
) -> None:
    discovery = resources.Discovery(api)
    configmaps = await discovery.resolve("v1", "ConfigMap")
    assert (configmaps.plural, configmaps.namespaced) == ("configmaps", True)
    cluster.kubectl("delete", "crd", "widgets.test.headwater.dev", "--ignore-not-found")
    with pytest.raises(errors.NotFoundError, match='no matches for kind "Widget"'):
        await discovery.resolve("test.headwater.dev/v1", "Widget")

    cluster.kubectl(
        "apply", "--server-side", "-f", "-", input=json.dumps(crdgen.crd_for(widgets.Widget))
    )
    cluster.kubectl("wait", "--for=condition=Established", "crd/widgets.test.headwater.dev")
    widget = await discovery.resolve("test.headwater.dev/v1", "Widget")

    assert (
        widget.path(namespace="x", name="y") == "/apis/test.headwater.dev/v1/namespaces/x/widgets/y"
    )


async def test_apply_then_conflict_names_the_fields(api: client.Client) -> None:
    objects = applying.Objects(api=api, discovery=resources.Discovery(api))
    await objects.apply(_configmap("owned", color="blue"), field_manager="first")

    with pytest.raises(errors.ConflictError) as caught:
        await objects.apply(_configmap("owned", color="red"), field_manager="second")

    assert any(".data.color" in conflict for conflict in caught.value.field_conflicts)
    forced = await objects.apply(
        _configmap("owned", color="red"), field_manager="second", force=True
    )
    assert forced["data"] == {"color": "red"}


async def test_dry_run_apply_persists_nothing(api: client.Client) -> None:
    objects = applying.Objects(api=api, discovery=resources.Discovery(api))

    answer = await objects.apply(_configmap("dry", a="1"), field_manager="t", dry_run=True)

    assert answer["data"] == {"a": "1"}
    with pytest.raises(errors.NotFoundError):
        await objects.get("v1", "ConfigMap", "dry", namespace="default")


async def test_requests_are_counted_by_verb(api: client.Client) -> None:
    objects = applying.Objects(api=api, discovery=resources.Discovery(api))
    await objects.apply(_configmap("counted"), field_manager="t")
    await objects.get("v1", "ConfigMap", "counted", namespace="default")

    assert api.stats["patch"] == 1
    assert api.stats["get"] == 1
    assert api.stats["discovery"] == 1


async def test_a_client_with_its_own_limiter_keeps_its_own_counts(api: client.Client) -> None:
    events = api.with_own_limiter()
    await events.request("GET", "/api/v1/namespaces/default", verb="get")
    await events.close()  # leaves the shared connection open
    await api.request("GET", "/api/v1/namespaces/default", verb="get")

    assert (events.stats["get"], api.stats["get"]) == (1, 1)
    assert sum(api.responses.values()) == 2  # the metric still sees both


async def test_impersonation_headers_are_sent() -> None:
    seen: list[dict[str, Any]] = []

    async def record(request: web.Request) -> web.Response:
        seen.append(
            {
                "user": request.headers.get("Impersonate-User"),
                "groups": request.headers.getall("Impersonate-Group", []),
                "auth": request.headers.get("Authorization"),
            }
        )
        return web.json_response({"kind": "Status"})

    app = web.Application()
    app.router.add_get("/api/v1/namespaces", record)
    async with test_utils.TestServer(app, host="127.0.0.1") as server:
        configuration = kubeconfig.Connection(
            host=f"http://127.0.0.1:{server.port}", token="secret-token"
        )
        async with aiohttp.ClientSession() as session:
            base = client.Client(
                configuration=configuration,
                session=session,
                limiter=ratelimit.TokenBucket(qps=0, burst=1),
            )
            tenant = base.impersonating(
                "system:serviceaccount:team-a:deployer",
                groups=["system:serviceaccounts", "system:serviceaccounts:team-a"],
            )
            await tenant.request("GET", "/api/v1/namespaces")
            await base.request("GET", "/api/v1/namespaces")

    assert seen[0] == {
        "user": "system:serviceaccount:team-a:deployer",
        "groups": ["system:serviceaccounts", "system:serviceaccounts:team-a"],
        "auth": "Bearer secret-token",
    }
    assert seen[1]["user"] is None
