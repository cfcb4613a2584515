"""Acceptance: kubernetes-asyncio 36 against a devcluster.

CRUD, list then watch resuming from the list's resourceVersion, 410 Gone on
an expired version, apply-patch (server-side apply) and a status patch.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
from kubernetes_asyncio import client, config, watch

from tests.fixtures import devcluster as fixtures


@pytest.fixture(scope="module")
def small_history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[fixtures.Devcluster]:
    """A server keeping only 20 change events, so old versions expire quickly."""
    with fixtures.start_devcluster(tmp_path_factory.mktemp("ka"), watch_history=20) as running:
        yield running


@pytest.fixture
async def api(small_history: fixtures.Devcluster) -> AsyncIterator[client.ApiClient]:
    configuration = client.Configuration()
    await config.load_kube_config(
        config_file=str(small_history.kubeconfig), client_configuration=configuration
    )
    async with client.ApiClient(configuration) as api_client:
        yield api_client


async def _namespace(core: client.CoreV1Api, name: str) -> str:
    await core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    return name


async def test_crud(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    ns = await _namespace(core, "ka-crud")
    created = await core.create_namespaced_config_map(
        ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="c"), data={"a": "1"})
    )
    assert created.metadata.uid
    assert created.metadata.resource_version
    read = await core.read_namespaced_config_map("c", ns)
    assert read.data == {"a": "1"}
    read.data["b"] = "2"
    replaced = await core.replace_namespaced_config_map("c", ns, read)
    assert int(replaced.metadata.resource_version) > int(created.metadata.resource_version)
    patched = await core.patch_namespaced_config_map("c", ns, {"data": {"c": "3"}})
    assert patched.data == {"a": "1", "b": "2", "c": "3"}
    listed = await core.list_namespaced_config_map(ns)
    assert [i.metadata.name for i in listed.items] == ["c"]
    read.data["stale"] = "x"
    with pytest.raises(client.ApiException) as stale:
        await core.replace_namespaced_config_map("c", ns, read)
    assert stale.value.status == 409
    await core.delete_namespaced_config_map("c", ns)
    with pytest.raises(client.ApiException) as missing:
        await core.read_namespaced_config_map("c", ns)
    assert missing.value.status == 404


async def test_list_then_watch_resumes_from_version(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    ns = await _namespace(core, "ka-watch")
    await core.create_namespaced_config_map(
        ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="before"))
    )
    listed = await core.list_namespaced_config_map(ns)
    version = listed.metadata.resource_version

    async def change() -> None:
        await core.create_namespaced_config_map(
            ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="after"))
        )
        await core.delete_namespaced_config_map("after", ns)

    seen: list[tuple[str, str]] = []
    writer = asyncio.create_task(change())
    async with watch.Watch().stream(
        core.list_namespaced_config_map, ns, resource_version=version, timeout_seconds=5
    ) as stream:
        async for event in stream:
            seen.append((event["type"], event["object"].metadata.name))
            if len(seen) == 2:
                break
    await writer
    assert seen == [("ADDED", "after"), ("DELETED", "after")]


async def test_expired_version_is_410(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    ns = await _namespace(core, "ka-expired")
    first = await core.create_namespaced_config_map(
        ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="x"))
    )
    old_version = first.metadata.resource_version
    for index in range(30):  # more writes than the server keeps events for
        await core.patch_namespaced_config_map("x", ns, {"data": {"i": str(index)}})

    async def drain() -> None:
        async with watch.Watch().stream(
            core.list_namespaced_config_map, ns, resource_version=old_version, timeout_seconds=5
        ) as stream:
            async for _ in stream:
                pass

    with pytest.raises(client.ApiException) as gone:
        await drain()
    assert gone.value.status == 410


async def test_apply_patch_and_status_patch(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    apps = client.AppsV1Api(api)
    ns = await _namespace(core, "ka-apply")
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "applied", "namespace": ns},
        "data": {"k": "v"},
    }
    applied = await core.patch_namespaced_config_map(
        "applied",
        ns,
        body,
        field_manager="ka",
        _content_type="application/apply-patch+yaml",  # type: ignore[call-arg]
    )
    assert applied.data == {"k": "v"}
    assert [m.manager for m in applied.metadata.managed_fields] == ["ka"]
    assert applied.metadata.managed_fields[0].operation == "Apply"
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "d",
            "namespace": ns,
            "annotations": {"devcluster.headwater.dev/simulate": "pending"},
        },
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "d"}},
            "template": {
                "metadata": {"labels": {"app": "d"}},
                "spec": {"containers": [{"name": "c", "image": "busybox:1"}]},
            },
        },
    }
    created = await apps.patch_namespaced_deployment(
        "d",
        ns,
        deployment,
        field_manager="ka",
        _content_type="application/apply-patch+yaml",  # type: ignore[call-arg]
    )
    generation = created.metadata.generation
    patched = await apps.patch_namespaced_deployment_status(
        "d",
        ns,
        {
            "status": {
                "observedGeneration": generation,
                "conditions": [{"type": "Custom", "status": "True"}],
            }
        },
    )
    assert any(c.type == "Custom" for c in patched.status.conditions)
    assert patched.metadata.generation == generation  # status writes never bump generation
    ignored = await apps.patch_namespaced_deployment("d", ns, {"status": {"replicas": 99}})
    assert ignored.status.replicas != 99  # the main resource ignores status
