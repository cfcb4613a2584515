"""The resource manager against a real devcluster: staged apply, drift, prune, wait, diff."""

from __future__ import annotations

import collections
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from shared.api import crdgen
from shared.kube import applying, client, errors, inventory, resourcemanager, resources, waiting
from tests.fixtures import devcluster as devcluster_fixtures
from tests.fixtures.polling import eventually
from tests.kube import caches
from tests.runtime import widgets

OWNER = resourcemanager.Owner(name="apps", namespace="flux-system")
A = resourcemanager.Action


@pytest.fixture
async def live(api: client.Client) -> AsyncIterator[caches.InformerCaches]:
    source = caches.InformerCaches(api=api, discovery=resources.Discovery(api))
    yield source
    await source.close()


@pytest.fixture
def manager(api: client.Client, live: caches.InformerCaches) -> resourcemanager.ResourceManager:
    discovery = resources.Discovery(api)
    return resourcemanager.ResourceManager(
        objects=applying.Objects(api=api, discovery=discovery), live=live
    )


def _namespace(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def _configmap(name: str, namespace: str, **data: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "data": data,
    }


def _deployment(
    name: str, namespace: str, *, annotations: dict[str, str] | None = None
) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "annotations": annotations or {}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]},
            },
        },
    }


def _writes(stats: collections.Counter[str]) -> int:
    return sum(stats[verb] for verb in ("patch", "create", "update", "delete"))


def _get_json(cluster: devcluster_fixtures.Devcluster, *args: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(cluster.kubectl("get", *args, "-o", "json").stdout)
    return result


async def test_first_apply_is_one_write_per_object_and_labels_the_owner(
    cluster: devcluster_fixtures.Devcluster,
    api: client.Client,
    manager: resourcemanager.ResourceManager,
) -> None:
    objects = [
        _configmap("one", "rm-first", a="1"),
        _namespace("rm-first"),
        _deployment("web", "rm-first"),
    ]
    before = _writes(api.stats)

    change_set = await manager.apply_all(objects, owner=OWNER)

    assert _writes(api.stats) - before == 3
    assert change_set.summary().splitlines() == [
        "Namespace/rm-first created",
        "ConfigMap/rm-first/one created",
        "Deployment/rm-first/web created",
    ]
    labels = _get_json(cluster, "configmap", "one", "-n", "rm-first")["metadata"]["labels"]
    assert labels == {
        "kustomize.toolkit.fluxcd.io/name": "apps",
        "kustomize.toolkit.fluxcd.io/namespace": "flux-system",
    }
    assert [r.id for r in change_set.refs()] == [
        "_rm-first__Namespace",
        "rm-first_one__ConfigMap",
        "rm-first_web_apps_Deployment",
    ]


async def test_a_noop_reconcile_makes_no_request(
    api: client.Client, manager: resourcemanager.ResourceManager
) -> None:
    objects = [
        _namespace("rm-noop"),
        *(_configmap(f"c{i}", "rm-noop", v=str(i)) for i in range(20)),
    ]
    await manager.apply_all(objects, owner=OWNER)
    before = collections.Counter(api.stats)

    change_set = await manager.apply_all(objects, owner=OWNER)

    assert {c.action for c in change_set.changes} == {A.UNCHANGED}
    assert change_set.summary() == ""
    assert api.stats - before == collections.Counter()


async def test_a_new_manager_sees_an_unchanged_cluster_without_writing(
    api: client.Client, live: caches.InformerCaches
) -> None:
    objects = [_namespace("rm-restart"), _configmap("c", "rm-restart", v="1")]
    objs = applying.Objects(api=api, discovery=resources.Discovery(api))
    await resourcemanager.ResourceManager(objects=objs, live=live).apply_all(objects, owner=OWNER)
    await eventually(lambda: live.informer("v1", "ConfigMap").get("rm-restart/c"))
    restarted = resourcemanager.ResourceManager(objects=objs, live=live)
    before = _writes(api.stats)

    change_set = await restarted.apply_all(objects, owner=OWNER)

    assert [c.action for c in change_set.changes] == [A.UNCHANGED, A.UNCHANGED]
    assert _writes(api.stats) == before


async def test_drift_is_restored_and_reported(
    cluster: devcluster_fixtures.Devcluster,
    api: client.Client,
    live: caches.InformerCaches,
    manager: resourcemanager.ResourceManager,
) -> None:
    objects = [_namespace("rm-drift"), _configmap("cfg", "rm-drift", color="blue", size="m")]
    await manager.apply_all(objects, owner=OWNER)
    cluster.kubectl(
        "patch",
        "configmap",
        "cfg",
        "-n",
        "rm-drift",
        "--type=merge",
        "-p",
        '{"data": {"color": "red", "extra": "kept"}}',
    )
    informer = live.informer("v1", "ConfigMap")
    await eventually(
        lambda: (informer.get("rm-drift/cfg") or {}).get("data", {}).get("color") == "red"
    )
    before = _writes(api.stats)

    change_set = await manager.apply_all(objects, owner=OWNER)

    # One JSON patch takes kubectl's fields over, one apply restores and drops.
    assert _writes(api.stats) - before == 2
    (changed,) = change_set.drifted()
    assert (str(changed), changed.fields) == ("ConfigMap/rm-drift/cfg configured", ("data.color",))
    data = _get_json(cluster, "configmap", "cfg", "-n", "rm-drift")["data"]
    assert data == {"color": "blue", "size": "m"}


async def test_a_changed_manifest_is_configured_with_its_fields(
    manager: resourcemanager.ResourceManager,
) -> None:
    await manager.apply_all([_namespace("rm-change"), _deployment("web", "rm-change")], owner=OWNER)
    changed = _deployment("web", "rm-change")
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.28"

    change_set = await manager.apply_all([_namespace("rm-change"), changed], owner=OWNER)

    assert change_set.summary() == "Deployment/rm-change/web configured"
    assert change_set.changes[1].fields == ("spec.template.spec.containers[name=app].image",)
    assert not change_set.changes[1].drifted


async def test_ssa_annotations(
    cluster: devcluster_fixtures.Devcluster, manager: resourcemanager.ResourceManager
) -> None:
    cluster.kubectl("create", "namespace", "rm-ssa")
    cluster.kubectl("create", "configmap", "existing", "-n", "rm-ssa", "--from-literal=v=theirs")
    present = _configmap("existing", "rm-ssa", v="ours")
    present["metadata"]["annotations"] = {"kustomize.toolkit.fluxcd.io/ssa": "IfNotPresent"}
    absent = _configmap("fresh", "rm-ssa", v="ours")
    absent["metadata"]["annotations"] = {"kustomize.toolkit.fluxcd.io/ssa": "ifnotpresent"}
    ignored = _configmap("ignored", "rm-ssa", v="ours")
    ignored["metadata"]["labels"] = {"kustomize.toolkit.fluxcd.io/ssa": "Ignore"}

    change_set = await manager.apply_all([present, absent, ignored], owner=OWNER)

    assert [str(c) for c in change_set.changes] == [
        "ConfigMap/rm-ssa/existing skipped",
        "ConfigMap/rm-ssa/fresh created",
        "ConfigMap/rm-ssa/ignored skipped",
    ]
    assert _get_json(cluster, "configmap", "existing", "-n", "rm-ssa")["data"] == {"v": "theirs"}
    assert (
        cluster.kubectl("get", "configmap", "ignored", "-n", "rm-ssa", check=False).returncode != 0
    )


async def test_prune_deletes_only_our_unprotected_objects(
    cluster: devcluster_fixtures.Devcluster, manager: resourcemanager.ResourceManager
) -> None:
    kept = _configmap("protected", "rm-prune", v="1")
    kept["metadata"]["annotations"] = {"kustomize.toolkit.fluxcd.io/prune": "Disabled"}
    first = await manager.apply_all(
        [_namespace("rm-prune"), _configmap("gone", "rm-prune", v="1"), kept], owner=OWNER
    )
    cluster.kubectl("create", "configmap", "foreign", "-n", "rm-prune", "--from-literal=v=1")
    foreign = inventory.Ref(
        group="", kind="ConfigMap", namespace="rm-prune", name="foreign", version="v1"
    )
    second = await manager.apply_all([_namespace("rm-prune")], owner=OWNER)

    stale = inventory.stale([*first.refs(), foreign], second.refs())
    pruned = await manager.prune(stale, owner=OWNER)

    assert sorted(str(c) for c in pruned.changes) == [
        "ConfigMap/rm-prune/foreign skipped",
        "ConfigMap/rm-prune/gone deleted",
        "ConfigMap/rm-prune/protected skipped",
    ]
    assert pruned.summary() == "ConfigMap/rm-prune/gone deleted"
    names = {
        i["metadata"]["name"] for i in _get_json(cluster, "configmaps", "-n", "rm-prune")["items"]
    }
    assert {"protected", "foreign"} <= names
    assert "gone" not in names


async def test_a_write_ahead_record_lets_the_next_prune_undo_a_killed_apply(
    cluster: devcluster_fixtures.Devcluster, manager: resourcemanager.ResourceManager
) -> None:
    old = [_namespace("rm-ahead"), _configmap("kept", "rm-ahead", v="1")]
    first = await manager.apply_all(old, owner=OWNER)
    cluster.kubectl("create", "configmap", "foreign", "-n", "rm-ahead", "--from-literal=v=1")
    build = [
        *old,
        _configmap("created", "rm-ahead", v="1"),
        _configmap("never", "rm-ahead", v="1"),
        _configmap("foreign", "rm-ahead", v="2"),
        {
            "apiVersion": "crash.example.com/v1",
            "kind": "Gadget",
            "metadata": {"name": "never-served", "namespace": "rm-ahead"},
        },
    ]
    recorded = inventory.grown(first.refs(), [inventory.Ref.of(obj) for obj in build])
    assert recorded is not None
    # The run is killed after recording and creating one object; the next run
    # builds a revert to the old revision.
    await manager.apply(build[2], owner=OWNER)
    second = await manager.apply_all(old, owner=OWNER)

    pruned = await manager.prune(inventory.stale(recorded, second.refs()), owner=OWNER)

    assert sorted(str(c) for c in pruned.changes) == [
        "ConfigMap/rm-ahead/created deleted",
        "ConfigMap/rm-ahead/foreign skipped",
    ]
    names = {
        i["metadata"]["name"] for i in _get_json(cluster, "configmaps", "-n", "rm-ahead")["items"]
    }
    assert {"kept", "foreign"} <= names
    assert not {"created", "never"} & names


class _ImmutableConfigMaps(applying.Objects):
    """Objects that answer 422 like kube-apiserver for a data change to an immutable ConfigMap.

    NB: the devcluster does not enforce ``immutable: true`` (nor other immutable
    fields such as a Deployment's selector), so this seam adds kube-apiserver's
    rule in front of it; every request still goes to the devcluster.
    """

    async def apply(self, obj: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        if obj.get("kind") == "ConfigMap" and not kwargs.get("dry_run"):
            metadata = obj["metadata"]
            try:
                live = await self.get(
                    "v1", "ConfigMap", metadata["name"], namespace=metadata["namespace"]
                )
            except errors.NotFoundError:
                live = None
            if live is not None and live.get("immutable") and live.get("data") != obj.get("data"):
                raise errors.from_status(
                    422,
                    {
                        "kind": "Status",
                        "status": "Failure",
                        "reason": "Invalid",
                        "code": 422,
                        "message": f'ConfigMap "{metadata["name"]}" is invalid: data: Forbidden: '
                        "field is immutable when `immutable` is set",
                        "details": {
                            "causes": [
                                {
                                    "reason": "FieldValueForbidden",
                                    "field": "data",
                                    "message": "Forbidden: field is immutable",
                                }
                            ]
                        },
                    },
                )
        return await super().apply(obj, **kwargs)


async def test_immutable_change_recreates_only_when_forced(
    cluster: devcluster_fixtures.Devcluster, api: client.Client, live: caches.InformerCaches
) -> None:
    manager = resourcemanager.ResourceManager(
        objects=_ImmutableConfigMaps(api=api, discovery=resources.Discovery(api)), live=live
    )
    frozen = _configmap("frozen", "rm-force", v="1")
    frozen["immutable"] = True
    await manager.apply_all([_namespace("rm-force"), frozen], owner=OWNER)
    changed = _configmap("frozen", "rm-force", v="2")
    changed["immutable"] = True

    with pytest.raises(
        resourcemanager.ApplyError, match=r"ConfigMap/rm-force/frozen dry-run failed: .*immutable"
    ):
        await manager.apply_all([_namespace("rm-force"), changed], owner=OWNER)
    annotated = json.loads(json.dumps(changed))
    annotated["metadata"]["annotations"] = {"kustomize.toolkit.fluxcd.io/force": "enabled"}
    change_set = await manager.apply_all([_namespace("rm-force"), annotated], owner=OWNER)
    forced = await manager.apply_all(
        [_namespace("rm-force"), {**changed, "data": {"v": "3"}}], owner=OWNER, force=True
    )

    assert change_set.summary() == "ConfigMap/rm-force/frozen created"
    assert forced.summary() == "ConfigMap/rm-force/frozen created"
    assert _get_json(cluster, "configmap", "frozen", "-n", "rm-force")["data"] == {"v": "3"}


async def test_staged_apply_waits_for_a_crd_before_its_objects(
    cluster: devcluster_fixtures.Devcluster, manager: resourcemanager.ResourceManager
) -> None:
    crd = crdgen.crd_for(widgets.Widget)
    cluster.kubectl("delete", "crd", crd["metadata"]["name"], "--ignore-not-found")
    widget = {
        "apiVersion": "test.headwater.dev/v1",
        "kind": "Widget",
        "metadata": {"name": "w", "namespace": "rm-stage"},
        "spec": {},
    }

    change_set = await manager.apply_all([widget, _namespace("rm-stage"), crd], owner=OWNER)

    assert [c.action for c in change_set.changes] == [A.CREATED, A.CREATED, A.CREATED]
    assert str(change_set.changes[0].ref).startswith("CustomResourceDefinition/")
    assert _get_json(cluster, "widgets", "w", "-n", "rm-stage")["metadata"]["name"] == "w"


async def test_wait_until_deployments_are_available(
    manager: resourcemanager.ResourceManager,
) -> None:
    change_set = await manager.apply_all(
        [_namespace("rm-wait"), _deployment("ok", "rm-wait")], owner=OWNER
    )

    statuses = await manager.wait(change_set.refs(), interval=0.1, within=30)

    assert {r.status.value for r in statuses.values()} == {"Current"}


async def test_wait_fails_early_on_a_failing_deployment(
    manager: resourcemanager.ResourceManager,
) -> None:
    failing = _deployment(
        "bad", "rm-fail", annotations={"devcluster.headwater.dev/simulate": "fail"}
    )
    change_set = await manager.apply_all([_namespace("rm-fail"), failing], owner=OWNER)

    with pytest.raises(waiting.WaitError) as raised:
        await manager.wait(change_set.refs(), interval=0.1, within=30)

    assert raised.value.message == (
        "failed early due to stalled resources: [Deployment/rm-fail/bad status: 'Failed']"
    )


async def test_wait_times_out_on_a_missing_object(manager: resourcemanager.ResourceManager) -> None:
    missing = inventory.Ref(
        group="apps", kind="Deployment", namespace="dev", name="backend", version="v1"
    )

    with pytest.raises(waiting.WaitError) as raised:
        await manager.wait([missing], interval=0.1, within=0.3)

    assert (
        raised.value.message == "timeout waiting for: [Deployment/dev/backend status: 'NotFound']"
    )


async def test_wait_counts_a_removed_ttl_job_as_current(
    manager: resourcemanager.ResourceManager,
) -> None:
    job = inventory.Ref(group="batch", kind="Job", namespace="dev", name="migrate", version="v1")

    statuses = await manager.wait([job], interval=0.1, within=5, ttl_jobs=[job])

    assert statuses[job].status.value == "Current"


async def test_diff_is_a_dry_run(
    cluster: devcluster_fixtures.Devcluster, manager: resourcemanager.ResourceManager
) -> None:
    await manager.apply_all([_namespace("rm-diff"), _configmap("c", "rm-diff", v="1")], owner=OWNER)

    change_set = await manager.diff(
        [
            _namespace("rm-diff"),
            _configmap("c", "rm-diff", v="2"),
            _configmap("new", "rm-diff", v="1"),
        ],
        owner=OWNER,
    )

    assert [(str(c), c.fields) for c in change_set.changes] == [
        ("Namespace/rm-diff unchanged", ()),
        ("ConfigMap/rm-diff/c configured", ("data.v",)),
        ("ConfigMap/rm-diff/new created", ()),
    ]
    assert _get_json(cluster, "configmap", "c", "-n", "rm-diff")["data"] == {"v": "1"}
    assert cluster.kubectl("get", "configmap", "new", "-n", "rm-diff", check=False).returncode != 0


async def test_errors_name_the_object(manager: resourcemanager.ResourceManager) -> None:
    broken = _configmap("bad", "rm-missing-namespace-does-not-exist", v="1")

    with pytest.raises(resourcemanager.ApplyError) as raised:
        await manager.apply(broken, owner=OWNER)

    assert str(raised.value).startswith("ConfigMap/rm-missing-namespace-does-not-exist/bad")
    assert isinstance(raised.value.cause, errors.NotFoundError)


async def test_kubectl_leftovers_are_removed_once(
    cluster: devcluster_fixtures.Devcluster,
    api: client.Client,
    manager: resourcemanager.ResourceManager,
) -> None:
    cm = _configmap("adopted", "rm-adopt", v="1")
    cluster.kubectl("create", "namespace", "rm-adopt")
    cluster.kubectl("apply", "-f", "-", input=json.dumps(cm))
    await manager.apply_all([cm], owner=OWNER)
    await manager.apply_all([cm], owner=OWNER)
    before = _writes(api.stats)

    await manager.apply_all([cm], owner=OWNER)

    annotations = _get_json(cluster, "configmap", "adopted", "-n", "rm-adopt")["metadata"].get(
        "annotations", {}
    )
    assert "kubectl.kubernetes.io/last-applied-configuration" not in annotations
    assert _writes(api.stats) == before


async def test_deleted_objects_are_waited_for(
    cluster: devcluster_fixtures.Devcluster, manager: resourcemanager.ResourceManager
) -> None:
    change_set = await manager.apply_all(
        [
            _namespace("rm-term"),
            _configmap("a", "rm-term", v="1"),
            _configmap("b", "rm-term", v="1"),
        ],
        owner=OWNER,
    )
    configmaps = [r for r in change_set.refs() if r.kind == "ConfigMap"]

    pruned = await manager.prune(configmaps, owner=OWNER)
    await manager.wait_for_termination(configmaps, interval=0.1, within=30)

    assert pruned.summary().splitlines() == [
        "ConfigMap/rm-term/b deleted",
        "ConfigMap/rm-term/a deleted",
    ]
    assert _get_json(cluster, "configmaps", "-n", "rm-term")["items"] == []
