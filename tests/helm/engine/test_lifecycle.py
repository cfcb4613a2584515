"""Rollback, uninstall, test and unlock by the engine, checked with the real Helm SDK."""

from __future__ import annotations

import pathlib

import helm_python as helm
import pytest

from controllers.helm.engine import engine, failures, records, requests, storage
from shared.api import helm as helm_api
from tests.fixtures import devcluster as devcluster_fixtures
from tests.helm.engine import democharts
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
