"""Install and upgrade by the engine, read and managed by the real Helm SDK."""

from __future__ import annotations

import collections
import json
import pathlib
from typing import Any, TypeVar

import helm_python as helm
import pytest

from controllers.helm.engine import engine, failures, records, requests, storage
from shared.kube import client
from tests.fixtures import democharts
from tests.fixtures import devcluster as devcluster_fixtures

Devcluster = devcluster_fixtures.Devcluster
Status = records.Status
R = TypeVar("R", requests.InstallRequest, requests.UpgradeRequest)


def kubectl_get(devcluster: Devcluster, namespace: str, *what: str) -> dict[str, Any]:
    out = devcluster.kubectl(
        "get", "-n", namespace, *what, "-o", "json", "--show-managed-fields"
    ).stdout
    found: dict[str, Any] = json.loads(out)
    return found


def names(devcluster: Devcluster, namespace: str, kind: str) -> list[str]:
    items = kubectl_get(devcluster, namespace, kind)["items"]
    return sorted(item["metadata"]["name"] for item in items)


def request(kind: type[R], namespace: str, chart_dir: pathlib.Path, **changes: Any) -> R:
    """A request for release demo of HelmRelease flux-system/web, 60 s per step."""
    base: dict[str, Any] = {
        "release_name": "demo",
        "namespace": namespace,
        "chart": chart_dir,
        "timeout": 60,
        "origin": requests.Origin(name="web", namespace="flux-system"),
    }
    return kind(**{**base, **changes})


def install_request(
    namespace: str, chart_dir: pathlib.Path, **changes: Any
) -> requests.InstallRequest:
    return request(requests.InstallRequest, namespace, chart_dir, **changes)


def upgrade_request(
    namespace: str, chart_dir: pathlib.Path, **changes: Any
) -> requests.UpgradeRequest:
    return request(requests.UpgradeRequest, namespace, chart_dir, **changes)


async def test_install_deploys_a_release_helm_lists(
    devcluster: Devcluster, namespace: str, helm_engine: engine.Engine,
    helm_config: helm.Config, chart_dir: pathlib.Path,
) -> None:  # fmt: skip
    record = await helm_engine.install(
        install_request(namespace, chart_dir, values={"greeting": "hi"}, labels={"team": "a"})
    )

    assert (record.version, record.status, record.description) == (
        1,
        Status.DEPLOYED,
        "Install complete",
    )
    assert [(r["name"], r["revision"], r["status"]) for r in helm_config.list()] == [
        ("demo", 1, "deployed")
    ]
    assert helm_config.get_values("demo") == {"greeting": "hi"}
    status = helm_config.status("demo")
    assert (status["chart_name"], status["chart_version"], status["notes"]) == (
        "demo",
        "0.1.0",
        "Thanks for installing demo.\n",
    )
    assert status["labels"]["team"] == "a"
    # Waited for: the Deployment is available when install returns.
    deployment = kubectl_get(devcluster, namespace, "deployment", "demo-web")
    assert deployment["status"]["availableReplicas"] == 1
    # Helm's ownership and Flux's origin labels on every object.
    config_map = kubectl_get(devcluster, namespace, "configmap", "demo-cm")
    assert config_map["data"] == {"greeting": "hi"}
    assert config_map["metadata"]["annotations"] == {
        "meta.helm.sh/release-name": "demo",
        "meta.helm.sh/release-namespace": namespace,
    }
    assert config_map["metadata"]["labels"] == {
        "app.kubernetes.io/managed-by": "Helm",
        "helm.toolkit.fluxcd.io/name": "web",
        "helm.toolkit.fluxcd.io/namespace": "flux-system",
    }
    # The pre-install Job ran, succeeded and was deleted (hook-succeeded).
    migrate = next(hook for hook in record.hooks if hook.name == "demo-migrate")
    assert migrate.last_run.phase == "Succeeded"
    assert names(devcluster, namespace, "jobs") == []


async def test_upgrade_supersedes_and_deletes_what_left_the_release(
    devcluster: Devcluster, namespace: str, helm_engine: engine.Engine,
    helm_config: helm.Config, chart_dir: pathlib.Path,
) -> None:  # fmt: skip
    await helm_engine.install(install_request(namespace, chart_dir))
    (chart_dir / "templates" / "service.yaml").unlink()

    record = await helm_engine.upgrade(
        upgrade_request(namespace, chart_dir, values={"greeting": "bye"})
    )

    assert (record.version, record.status, record.description) == (
        2,
        Status.DEPLOYED,
        "Upgrade complete",
    )
    history = helm_config.history("demo")
    assert [(r["revision"], r["status"]) for r in history] == [(1, "superseded"), (2, "deployed")]
    assert kubectl_get(devcluster, namespace, "configmap", "demo-cm")["data"] == {"greeting": "bye"}
    assert names(devcluster, namespace, "services") == []


async def test_the_engine_upgrades_a_release_the_sdk_installed(
    devcluster: Devcluster, namespace: str, helm_engine: engine.Engine,
    helm_config: helm.Config, chart_dir: pathlib.Path,
) -> None:  # fmt: skip
    helm_config.install(helm.Chart.load(chart_dir), "demo", wait="watcher", timeout=60)

    record = await helm_engine.upgrade(
        upgrade_request(namespace, chart_dir, values={"greeting": "taken"})
    )

    assert (record.version, record.status) == (2, Status.DEPLOYED)
    config_map = kubectl_get(devcluster, namespace, "configmap", "demo-cm")
    assert config_map["data"] == {"greeting": "taken"}
    assert config_map["metadata"]["labels"]["helm.toolkit.fluxcd.io/name"] == "web"
    assert [(r["revision"], r["status"]) for r in helm_config.history("demo")] == [
        (1, "superseded"),
        (2, "deployed"),
    ]


async def test_preserve_values_merges_the_new_values_over_the_old(
    namespace: str, helm_engine: engine.Engine, chart_dir: pathlib.Path
) -> None:
    await helm_engine.install(
        install_request(namespace, chart_dir, values={"greeting": "hi", "replicas": 2})
    )

    record = await helm_engine.upgrade(
        upgrade_request(namespace, chart_dir, values={"greeting": "yo"}, preserve_values=True)
    )

    assert record.config == {"greeting": "yo", "replicas": 2}


async def test_a_workload_that_never_gets_ready_fails_the_install(
    namespace: str, helm_engine: engine.Engine, helm_config: helm.Config,
    chart_dir: pathlib.Path,
) -> None:  # fmt: skip
    req = install_request(namespace, chart_dir, values={"simulate": "fail"}, timeout=10)

    with pytest.raises(failures.ReleaseFailedError) as caught:
        await helm_engine.install(req)

    assert caught.value.action == "install"
    assert "Deployment/" in caught.value.reason
    assert caught.value.record is not None
    assert caught.value.record.status == Status.FAILED
    assert caught.value.record.description == f'Release "demo" failed: {caught.value.reason}'
    assert [(r["revision"], r["status"]) for r in helm_config.history("demo")] == [(1, "failed")]


async def test_a_name_in_use_is_refused_unless_replace_over_a_failed_release(
    namespace: str, helm_engine: engine.Engine, store: storage.ReleaseStore,
    chart_dir: pathlib.Path,
) -> None:  # fmt: skip
    first = await helm_engine.install(install_request(namespace, chart_dir))

    with pytest.raises(failures.ReleaseFailedError, match="cannot re-use a name"):
        await helm_engine.install(install_request(namespace, chart_dir))
    await store.update(first.with_status(Status.FAILED, "broken"))
    replaced = await helm_engine.install(install_request(namespace, chart_dir, replace=True))

    assert replaced.version == 2
    assert [(r.version, r.status) for r in await store.history("demo")] == [
        (1, Status.SUPERSEDED),
        (2, Status.DEPLOYED),
    ]


async def test_an_upgrade_over_a_pending_release_is_refused(
    namespace: str, helm_engine: engine.Engine, store: storage.ReleaseStore,
    chart_dir: pathlib.Path,
) -> None:  # fmt: skip
    first = await helm_engine.install(install_request(namespace, chart_dir))
    await store.update(first.with_status(Status.PENDING_UPGRADE, "cut off"))

    with pytest.raises(failures.EngineError, match="another operation"):
        await helm_engine.upgrade(upgrade_request(namespace, chart_dir))


async def test_max_history_prunes_before_storing(
    namespace: str, helm_engine: engine.Engine, store: storage.ReleaseStore,
    chart_dir: pathlib.Path,
) -> None:  # fmt: skip
    await helm_engine.install(install_request(namespace, chart_dir, max_history=2))
    for greeting in ("a", "b", "c"):
        await helm_engine.upgrade(
            upgrade_request(namespace, chart_dir, values={"greeting": greeting}, max_history=2)
        )

    assert [(r.version, r.status) for r in await store.history("demo")] == [
        (3, Status.SUPERSEDED),
        (4, Status.DEPLOYED),
    ]


async def test_a_client_side_applied_release_is_upgraded_and_rolled_back_by_helm(
    devcluster: Devcluster, namespace: str, helm_engine: engine.Engine,
    helm_config: helm.Config, chart_dir: pathlib.Path,
) -> None:  # fmt: skip
    await helm_engine.install(install_request(namespace, chart_dir, server_side_apply=False))
    (chart_dir / "templates" / "service.yaml").unlink()

    upgraded = await helm_engine.upgrade(
        upgrade_request(namespace, chart_dir, values={"greeting": "bye"})
    )

    assert upgraded.apply_method == "csa"
    config_map = kubectl_get(devcluster, namespace, "configmap", "demo-cm")
    assert config_map["data"] == {"greeting": "bye"}
    managers = {entry["manager"] for entry in config_map["metadata"]["managedFields"]}
    assert managers == {"helm-controller"}
    assert names(devcluster, namespace, "services") == []

    helm_config.rollback("demo", version=1, wait="watcher", timeout=60)

    assert kubectl_get(devcluster, namespace, "configmap", "demo-cm")["data"] == {
        "greeting": "hello"
    }
    assert names(devcluster, namespace, "services") == ["demo-svc"]
    latest = await helm_engine.store.latest("demo")
    assert latest is not None
    assert (latest.version, latest.status) == (3, Status.DEPLOYED)


async def test_server_side_apply_is_the_default_and_auto_follows_the_release(
    devcluster: Devcluster, namespace: str, helm_engine: engine.Engine, chart_dir: pathlib.Path
) -> None:
    installed = await helm_engine.install(install_request(namespace, chart_dir))
    upgraded = await helm_engine.upgrade(upgrade_request(namespace, chart_dir))
    forced = await helm_engine.upgrade(
        upgrade_request(namespace, chart_dir, server_side_apply="disabled")
    )

    assert [installed.apply_method, upgraded.apply_method, forced.apply_method] == [
        "ssa",
        "ssa",
        "csa",
    ]
    config_map = kubectl_get(devcluster, namespace, "configmap", "demo-cm")
    operations = {entry["operation"] for entry in config_map["metadata"]["managedFields"]}
    assert "Apply" in operations


async def test_release_labels_merge_on_upgrade_and_system_labels_are_refused(
    namespace: str, helm_engine: engine.Engine, helm_config: helm.Config,
    chart_dir: pathlib.Path,
) -> None:  # fmt: skip
    await helm_engine.install(install_request(namespace, chart_dir, labels={"a": "1", "b": "2"}))

    upgraded = await helm_engine.upgrade(
        upgrade_request(namespace, chart_dir, labels={"b": "null", "c": "3"})
    )

    assert upgraded.labels == {"a": "1", "c": "3"}
    sdk_labels = helm_config.status("demo")["labels"]
    assert (sdk_labels["a"], sdk_labels["c"], "b" in sdk_labels) == ("1", "3", False)
    with pytest.raises(failures.ReleaseFailedError, match="system reserved label"):
        await helm_engine.upgrade(upgrade_request(namespace, chart_dir, labels={"owner": "me"}))


async def test_an_install_costs_one_list_one_create_one_apply_per_object_and_one_update(
    namespace: str, api: client.Client, helm_engine: engine.Engine, tmp_path: pathlib.Path
) -> None:
    files = {
        name: text
        for name, text in democharts.DEMO.items()
        if name
        in ("Chart.yaml", "values.yaml", "templates/configmap.yaml", "templates/service.yaml")
    }
    chart_dir = democharts.write(tmp_path / "demo", files)
    warm = install_request(namespace, chart_dir, release_name="warm", disable_wait=True)
    await helm_engine.install(warm)  # discovery cached from here on
    before = collections.Counter(api.stats)

    await helm_engine.install(install_request(namespace, chart_dir, disable_wait=True))

    assert api.stats - before == {"list": 1, "create": 1, "patch": 2, "update": 1}
    before = collections.Counter(api.stats)

    await helm_engine.install(
        install_request(
            namespace, chart_dir, release_name="fresh", disable_wait=True, no_history=True
        )
    )

    assert api.stats - before == {"create": 1, "patch": 2, "update": 1}


async def test_an_install_told_of_no_history_fails_over_a_stored_revision(
    namespace: str, helm_engine: engine.Engine, store: storage.ReleaseStore,
    chart_dir: pathlib.Path,
) -> None:  # fmt: skip
    await helm_engine.install(install_request(namespace, chart_dir))

    with pytest.raises(failures.EngineError, match="cannot store revision 1"):
        await helm_engine.install(install_request(namespace, chart_dir, no_history=True))
    assert [(r.version, r.status) for r in await store.history("demo")] == [(1, Status.DEPLOYED)]


async def test_an_object_the_server_refuses_fails_the_install_with_its_name(
    namespace: str, helm_engine: engine.Engine, tmp_path: pathlib.Path
) -> None:
    files = dict(democharts.DEMO)
    files["templates/bad.yaml"] = """
        apiVersion: v1
        kind: Service
        metadata: {name: bad}
        spec:
          ports: [{port: not-a-number}]
    """
    chart_dir = democharts.write(tmp_path / "demo", files)

    with pytest.raises(failures.ReleaseFailedError) as caught:
        await helm_engine.install(install_request(namespace, chart_dir, disable_hooks=True))

    assert caught.value.reason.startswith(f"Service/{namespace}/bad dry-run failed: ")
    assert caught.value.record is not None
    assert caught.value.record.status == Status.FAILED


async def test_a_kind_the_cluster_does_not_serve_fails_the_install(
    namespace: str, helm_engine: engine.Engine, tmp_path: pathlib.Path
) -> None:
    files = dict(democharts.DEMO)
    files["templates/unknown.yaml"] = """
        apiVersion: nowhere.example.org/v1
        kind: Unknown
        metadata: {name: u}
    """
    chart_dir = democharts.write(tmp_path / "demo", files)

    with pytest.raises(failures.ReleaseFailedError) as caught:
        await helm_engine.install(install_request(namespace, chart_dir, disable_hooks=True))

    assert "Unknown" in caught.value.reason
    assert "no matches for kind" in caught.value.reason
