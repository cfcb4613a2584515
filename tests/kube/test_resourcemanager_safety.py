"""The resource manager's apply safety, takeover and ignore rules, and informers of gone kinds.

Against a real devcluster: a stage holding a kind nobody serves writes
nothing; ``ssa: Merge`` objects keep other managers' fields; ignored
pointers keep their live values; an informer whose CRD is deleted stops
and a new one starts when the kind is served again.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from shared.api import crdgen, kustomize
from shared.kube import client, ignoring, resourcemanager, resources
from tests.fixtures import devcluster as devcluster_fixtures
from tests.fixtures.polling import eventually
from tests.kube import caches
from tests.kube.test_resourcemanager import (  # noqa: F401 - pytest fixtures
    OWNER,
    _configmap,
    _get_json,
    _namespace,
    _writes,
    live,
    manager,
)
from tests.runtime import widgets

A = resourcemanager.Action


async def test_a_stage_with_an_unserved_kind_writes_nothing(
    api: client.Client,
    manager: resourcemanager.ResourceManager,  # noqa: F811 - the imported fixture
) -> None:
    await manager.apply_all([_namespace("rm-unknown")], owner=OWNER)
    gadget = {
        "apiVersion": "example.com/v1",
        "kind": "Gadget",
        "metadata": {"name": "g", "namespace": "rm-unknown"},
    }
    before = _writes(api.stats)

    with pytest.raises(resourcemanager.ApplyError) as raised:
        await manager.apply_all([_configmap("cfg", "rm-unknown", a="1"), gadget], owner=OWNER)

    assert str(raised.value) == (
        'Gadget/rm-unknown/g dry-run failed: no matches for kind "Gadget" '
        'in version "example.com/v1"'
    )
    assert _writes(api.stats) == before


async def test_merge_objects_keep_other_managers_fields(
    cluster: devcluster_fixtures.Devcluster,
    live: caches.InformerCaches,  # noqa: F811 - the imported fixture
    manager: resourcemanager.ResourceManager,  # noqa: F811 - the imported fixture
) -> None:
    merged = _configmap("merged", "rm-merge", color="blue")
    merged["metadata"]["annotations"] = {"kustomize.toolkit.fluxcd.io/ssa": "Merge"}
    plain = _configmap("plain", "rm-merge", color="blue")
    objects = [_namespace("rm-merge"), merged, plain]
    await manager.apply_all(objects, owner=OWNER)
    for name in ("merged", "plain"):
        cluster.kubectl(
            "patch", "configmap", name, "-n", "rm-merge", "--type=merge",
            "-p", '{"data": {"extra": "kubectl"}}',
        )  # fmt: skip
    informer = live.informer("v1", "ConfigMap")
    await eventually(
        lambda: all(
            "extra" in (informer.get(f"rm-merge/{n}") or {}).get("data", {})
            for n in ("merged", "plain")
        )
    )

    await manager.apply_all(objects, owner=OWNER)

    assert _get_json(cluster, "configmap", "merged", "-n", "rm-merge")["data"] == {
        "color": "blue",
        "extra": "kubectl",
    }
    assert _get_json(cluster, "configmap", "plain", "-n", "rm-merge")["data"] == {"color": "blue"}


async def test_ignored_pointers_keep_their_live_values(
    cluster: devcluster_fixtures.Devcluster,
    live: caches.InformerCaches,  # noqa: F811 - the imported fixture
    manager: resourcemanager.ResourceManager,  # noqa: F811 - the imported fixture
) -> None:
    rule = kustomize.IgnoreRule.model_validate(
        {"paths": ["/data/color"], "target": {"kind": "ConfigMap"}}
    )
    rules = ignoring.Rules([rule])
    objects = [_namespace("rm-ignore"), _configmap("cfg", "rm-ignore", color="blue", size="m")]
    await manager.apply_all(objects, owner=OWNER, ignore=rules)
    cluster.kubectl(
        "patch", "configmap", "cfg", "-n", "rm-ignore", "--type=merge",
        "-p", '{"data": {"color": "red", "size": "xl"}}',
    )  # fmt: skip
    informer = live.informer("v1", "ConfigMap")
    await eventually(lambda: (informer.get("rm-ignore/cfg") or {})["data"]["size"] == "xl")

    change_set = await manager.apply_all(objects, owner=OWNER, ignore=rules)

    (changed,) = change_set.drifted()
    assert changed.fields == ("data.size",)
    data = _get_json(cluster, "configmap", "cfg", "-n", "rm-ignore")["data"]
    assert data == {"color": "red", "size": "m"}


async def test_an_informer_stops_when_its_crd_is_deleted_and_restarts_when_it_returns(
    cluster: devcluster_fixtures.Devcluster, api: client.Client
) -> None:
    crd = crdgen.crd_for(widgets.Widget)
    name = crd["metadata"]["name"]
    cluster.kubectl("apply", "--server-side", "-f", "-", input=json.dumps(crd))
    source = caches.InformerCaches(api=api, discovery=resources.Discovery(api))
    try:
        await eventually(lambda: _served(cluster), within=30)
        first = await source("test.headwater.dev/v1", "Widget")
        await asyncio.wait_for(first.wait_synced(), 30)

        cluster.kubectl("delete", "crd", name)
        await eventually(lambda: first.stopped, within=30)
        assert len(first) == 0

        cluster.kubectl("apply", "--server-side", "-f", "-", input=json.dumps(crd))
        await eventually(lambda: _served(cluster), within=30)
        second = await source("test.headwater.dev/v1", "Widget")
        assert second is not first
        await asyncio.wait_for(second.wait_synced(), 30)
        assert not second.stopped
    finally:
        await source.close()


def _served(cluster: devcluster_fixtures.Devcluster) -> bool:
    result = cluster.kubectl("get", "widgets.test.headwater.dev", "-A", check=False)
    return result.returncode == 0
