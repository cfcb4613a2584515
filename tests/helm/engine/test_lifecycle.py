"""Rollback, uninstall, test and unlock by the engine, checked with the real Helm SDK."""

from __future__ import annotations

import asyncio
import pathlib

import helm_python as helm
import pytest

from controllers.helm.engine import engine, failures, records, requests, storage
from shared.api import helm as helm_api
from tests.fixtures import democharts, polling
from tests.fixtures import devcluster as devcluster_fixtures
from tests.helm.engine.test_installing import install_request, kubectl_get, names, upgrade_request

Devcluster = devcluster_fixtures.Devcluster
Status = records.Status


async def test_rollback_to_the_previous_revision(
    devcluster: Devcluster, namespace: str, helm_engine: engine.Engine,
    helm_config: helm.Config, chart_dir: pathlib.Path,
) -> None:  # fmt: skip
    await helm_engine.install(install_request(namespace, chart_dir))
    (chart_dir / "templates" / "service.yaml").unlink()
    await helm_engine.upgrade(upgrade_request(namespace, chart_dir, values={"greeting": "bye"}))

    record = await helm_engine.rollback(requests.RollbackRequest(release_name="demo", timeout=60))

    assert (record.version, record.status, record.description) == (
        3,
        Status.DEPLOYED,
        "Rollback to 1",
    )
    assert record.rollback_revision == 1
    assert [(r["revision"], r["status"]) for r in helm_config.history("demo")] == [
        (1, "superseded"),
        (2, "superseded"),
        (3, "deployed"),
    ]
    assert helm_config.get_values("demo") is None
    assert kubectl_get(devcluster, namespace, "configmap", "demo-cm")["data"] == {
        "greeting": "hello"
    }
    assert names(devcluster, namespace, "services") == ["demo-svc"]


async def test_rollback_of_a_release_without_previous_revision_is_not_found(
    namespace: str, helm_engine: engine.Engine, chart_dir: pathlib.Path
) -> None:
    await helm_engine.install(install_request(namespace, chart_dir))

    with pytest.raises(failures.ReleaseNotFoundError):
        await helm_engine.rollback(requests.RollbackRequest(release_name="demo"))


async def test_uninstall_deletes_objects_and_history_but_kept_ones(
    devcluster: Devcluster, namespace: str, helm_engine: engine.Engine,
    helm_config: helm.Config, tmp_path: pathlib.Path,
) -> None:  # fmt: skip
    kept = dict(democharts.DEMO)
    kept["templates/kept.yaml"] = """
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: kept
          annotations: {helm.sh/resource-policy: keep}
    """
    chart_dir = democharts.write(tmp_path / "demo", kept)
    await helm_engine.install(install_request(namespace, chart_dir))

    record = await helm_engine.uninstall(requests.UninstallRequest(release_name="demo", timeout=60))

    assert (record.status, record.description) == (Status.UNINSTALLED, "Uninstallation complete")
    assert helm_config.list(all_states=True) == []
    assert await helm_engine.store.history("demo") == []
    assert names(devcluster, namespace, "deployments") == []
    assert names(devcluster, namespace, "services") == []
    assert "demo-cm" not in names(devcluster, namespace, "configmaps")
    assert "kept" in names(devcluster, namespace, "configmaps")


async def test_uninstall_with_keep_history_leaves_an_uninstalled_revision(
    namespace: str, helm_engine: engine.Engine, helm_config: helm.Config,
    chart_dir: pathlib.Path,
) -> None:  # fmt: skip
    await helm_engine.install(install_request(namespace, chart_dir))

    await helm_engine.uninstall(
        requests.UninstallRequest(release_name="demo", keep_history=True, timeout=60)
    )

    listed = helm_config.list(all_states=True)
    assert [(r["revision"], r["status"]) for r in listed] == [(1, "uninstalled")]
    replaced = await helm_engine.install(install_request(namespace, chart_dir, replace=True))
    assert (replaced.version, replaced.status) == (2, Status.DEPLOYED)


async def test_the_engine_uninstalls_a_release_the_sdk_installed(
    devcluster: Devcluster, namespace: str, helm_engine: engine.Engine,
    helm_config: helm.Config, chart_dir: pathlib.Path,
) -> None:  # fmt: skip
    helm_config.install(helm.Chart.load(chart_dir), "demo", wait="watcher", timeout=60)

    await helm_engine.uninstall(requests.UninstallRequest(release_name="demo", timeout=60))

    assert helm_config.list(all_states=True) == []
    assert names(devcluster, namespace, "deployments") == []


async def test_helm_test_runs_the_test_hooks_and_keeps_their_results(
    devcluster: Devcluster, namespace: str, helm_engine: engine.Engine,
    helm_config: helm.Config, chart_dir: pathlib.Path,
) -> None:  # fmt: skip
    await helm_engine.install(install_request(namespace, chart_dir))

    record = await helm_engine.test(requests.TestRequest(release_name="demo", timeout=60))

    (smoke,) = record.test_hooks()
    assert smoke.last_run.phase == "Succeeded"
    assert smoke.last_run.completed_at is not None
    assert record.status == Status.DEPLOYED
    # Stored where Helm reads it: the SDK sees the revision unchanged otherwise.
    assert [(r["revision"], r["status"]) for r in helm_config.history("demo")] == [(1, "deployed")]
    # before-hook-creation (the default) leaves the pod until the next run.
    assert names(devcluster, namespace, "pods").count("demo-smoke") == 1


async def test_a_failing_test_hook_fails_the_test_with_its_result_stored(
    namespace: str, helm_engine: engine.Engine, store: storage.ReleaseStore,
    chart_dir: pathlib.Path,
) -> None:  # fmt: skip
    await helm_engine.install(
        install_request(namespace, chart_dir, values={"testSimulate": "fail"})
    )

    with pytest.raises(failures.ReleaseFailedError) as caught:
        await helm_engine.test(requests.TestRequest(release_name="demo", timeout=60))

    assert caught.value.action == "test"
    assert caught.value.reason == "pod demo-smoke failed"
    stored = await store.latest("demo")
    assert stored is not None
    assert [hook.last_run.phase for hook in stored.test_hooks()] == ["Failed"]
    assert stored.status == Status.DEPLOYED


async def test_test_filters_skip_excluded_tests(
    namespace: str, helm_engine: engine.Engine, chart_dir: pathlib.Path
) -> None:
    await helm_engine.install(
        install_request(namespace, chart_dir, values={"testSimulate": "fail"})
    )

    record = await helm_engine.test(
        requests.TestRequest(
            release_name="demo",
            timeout=60,
            filters=[helm_api.Filter(name="demo-smoke", exclude=True)],
        )
    )

    assert [hook.last_run.phase for hook in record.test_hooks()] == [""]


async def test_unlock_fails_a_pending_release_as_flux_does(
    namespace: str, helm_engine: engine.Engine, store: storage.ReleaseStore,
    helm_config: helm.Config, chart_dir: pathlib.Path,
) -> None:  # fmt: skip
    first = await helm_engine.install(install_request(namespace, chart_dir))
    await store.update(first.with_status(Status.PENDING_UPGRADE, "Preparing upgrade"))

    unlocked = await helm_engine.unlock("demo")

    assert unlocked is not None
    assert (unlocked.status, unlocked.description) == (
        Status.FAILED,
        "Release unlocked from stale 'pending-upgrade' state",
    )
    assert [(r["revision"], r["status"]) for r in helm_config.history("demo")] == [(1, "failed")]
    upgraded = await helm_engine.upgrade(upgrade_request(namespace, chart_dir))
    assert (upgraded.version, upgraded.status) == (2, Status.DEPLOYED)


async def test_unlock_leaves_a_settled_release_alone(
    namespace: str, helm_engine: engine.Engine, chart_dir: pathlib.Path
) -> None:
    installed = await helm_engine.install(install_request(namespace, chart_dir))

    assert await helm_engine.unlock("demo") == installed
    assert await helm_engine.unlock("absent") is None


async def test_a_failing_pre_install_hook_fails_the_release(
    devcluster: Devcluster, namespace: str, helm_engine: engine.Engine, tmp_path: pathlib.Path
) -> None:
    files = dict(democharts.DEMO)
    files["templates/hooks.yaml"] = files["templates/hooks.yaml"].replace(
        "helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded",
        "helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded\n"
        "            devcluster.headwater.dev/simulate: fail",
    )
    chart_dir = democharts.write(tmp_path / "demo", files)

    with pytest.raises(failures.ReleaseFailedError) as caught:
        await helm_engine.install(install_request(namespace, chart_dir))

    assert caught.value.reason.startswith("failed pre-install: job demo-migrate failed")
    record = caught.value.record
    assert record is not None
    assert record.status == Status.FAILED
    migrate = next(hook for hook in record.hooks if hook.name == "demo-migrate")
    assert migrate.last_run.phase == "Failed"
    # Nothing of the release was applied.
    assert names(devcluster, namespace, "deployments") == []


async def test_hooks_run_by_weight_then_name(
    namespace: str, helm_engine: engine.Engine, tmp_path: pathlib.Path
) -> None:
    files = {name: text for name, text in democharts.DEMO.items() if "hooks" not in name}
    for name, weight in (("c", "-1"), ("b", "2"), ("a", "2")):
        files[f"templates/hook-{name}.yaml"] = f"""
            apiVersion: v1
            kind: ConfigMap
            metadata:
              name: hook-{name}
              annotations:
                helm.sh/hook: post-install
                helm.sh/hook-weight: "{weight}"
        """
    chart_dir = democharts.write(tmp_path / "demo", files)

    record = await helm_engine.install(install_request(namespace, chart_dir))

    ran = sorted(record.hooks, key=lambda hook: hook.last_run.started_at or records.now())
    assert [hook.name for hook in ran] == ["hook-c", "hook-a", "hook-b"]
    assert {hook.last_run.phase for hook in record.hooks} == {"Succeeded"}
    # No delete policy: before-hook-creation, recorded as Helm records it.
    assert {hook.delete_policies for hook in record.hooks} == {("before-hook-creation",)}


async def test_an_upgrade_cut_off_midway_leaves_a_pending_revision_to_unlock(
    namespace: str, helm_engine: engine.Engine, store: storage.ReleaseStore,
    chart_dir: pathlib.Path,
) -> None:  # fmt: skip
    await helm_engine.install(install_request(namespace, chart_dir))
    # Pods that never become ready: the upgrade waits until it is cancelled.
    pending = {"simulate": "pending", "image": "nginx:1.28"}
    upgrading = asyncio.create_task(
        helm_engine.upgrade(upgrade_request(namespace, chart_dir, values=pending, timeout=300))
    )

    async def stored_pending() -> records.ReleaseRecord | None:
        latest = await store.latest("demo")
        return latest if latest and latest.status == Status.PENDING_UPGRADE else None

    await polling.eventually(stored_pending, within=30, interval=0.1)
    upgrading.cancel()
    with pytest.raises(asyncio.CancelledError):
        await upgrading

    with pytest.raises(failures.EngineError, match="another operation"):
        await helm_engine.upgrade(upgrade_request(namespace, chart_dir))
    unlocked = await helm_engine.unlock("demo")
    assert unlocked is not None
    assert unlocked.status == Status.FAILED
    upgraded = await helm_engine.upgrade(upgrade_request(namespace, chart_dir))
    assert (upgraded.version, upgraded.status) == (3, Status.DEPLOYED)
    assert [r.status for r in await store.history("demo")] == [
        Status.SUPERSEDED,
        Status.FAILED,
        Status.DEPLOYED,
    ]


async def test_helm_uninstalls_a_release_the_engine_installed(
    devcluster: Devcluster, namespace: str, helm_engine: engine.Engine,
    helm_config: helm.Config, chart_dir: pathlib.Path,
) -> None:  # fmt: skip
    await helm_engine.install(install_request(namespace, chart_dir))

    helm_config.uninstall("demo", wait="watcher", timeout=60)

    assert await helm_engine.store.history("demo") == []
    assert names(devcluster, namespace, "deployments") == []
    assert "demo-cm" not in names(devcluster, namespace, "configmaps")


async def test_a_sub_chart_renders_into_the_release_and_helm_reads_it(
    devcluster: Devcluster, namespace: str, helm_engine: engine.Engine,
    helm_config: helm.Config, tmp_path: pathlib.Path,
) -> None:  # fmt: skip
    files = dict(democharts.DEMO)
    files["Chart.yaml"] = (
        "apiVersion: v2\nname: demo\nversion: 0.1.0\ndependencies: [{name: sub, version: 0.2.0}]\n"
    )
    files["charts/sub/Chart.yaml"] = "apiVersion: v2\nname: sub\nversion: 0.2.0\n"
    files["charts/sub/values.yaml"] = "colour: blue\n"
    files["charts/sub/templates/NOTES.txt"] = "not shown\n"
    files["charts/sub/templates/cm.yaml"] = """
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: {{ .Release.Name }}-sub}
        data: {colour: {{ .Values.colour }}}
    """
    chart_dir = democharts.write(tmp_path / "demo", files)

    record = await helm_engine.install(
        install_request(namespace, chart_dir, values={"sub": {"colour": "red"}})
    )

    assert "# Source: demo/charts/sub/templates/cm.yaml" in record.manifest
    assert record.notes == "Thanks for installing demo.\n"
    sub = kubectl_get(devcluster, namespace, "configmap", "demo-sub")
    assert sub["data"] == {"colour": "red"}
    assert helm_config.get_values("demo") == {"sub": {"colour": "red"}}
    assert helm_config.status("demo")["chart_name"] == "demo"
