"""Install and upgrade options: CRD policies, post-renderers, cleanupOnFail, force, dry run."""

from __future__ import annotations

import json
import pathlib
import textwrap

import helm_python as helm
import pytest

from controllers.helm.engine import engine, failures, records, requests, storage
from shared.api import helm as helm_api
from shared.api import kustomize as kustomize_api
from shared.kube import client, healthexprs
from tests.fixtures import democharts
from tests.fixtures import devcluster as devcluster_fixtures
from tests.helm.engine.test_installing import install_request, kubectl_get, names, upgrade_request
from tests.helm.engine.test_postrendering import kubectl_kustomize

Devcluster = devcluster_fixtures.Devcluster
Status = records.Status


def crd_chart(root: pathlib.Path, *, group: str, size_type: str = "integer") -> pathlib.Path:
    return democharts.write(root, democharts.with_gadgets(group=group, size_type=size_type))


def crd_size_type(devcluster: Devcluster, group: str) -> str:
    crd = json.loads(devcluster.kubectl("get", "crd", f"gadgets.{group}", "-o", "json").stdout)
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    size_type: str = schema["properties"]["spec"]["properties"]["size"]["type"]
    return size_type


async def test_create_installs_the_crds_before_the_objects_that_need_them(
    devcluster: Devcluster, namespace: str, helm_engine: engine.Engine, tmp_path: pathlib.Path
) -> None:
    group = f"{namespace}.example.org"
    chart_dir = crd_chart(tmp_path / "demo", group=group)

    await helm_engine.install(install_request(namespace, chart_dir))

    gadget = kubectl_get(devcluster, namespace, f"gadgets.{group}", "demo-gadget")
    assert gadget["spec"] == {"size": 3}
    crd = json.loads(devcluster.kubectl("get", "crd", f"gadgets.{group}", "-o", "json").stdout)
    assert crd["metadata"]["labels"]["helm.toolkit.fluxcd.io/name"] == "web"


async def test_crd_policies_on_upgrade(
    devcluster: Devcluster, namespace: str, helm_engine: engine.Engine, tmp_path: pathlib.Path
) -> None:
    group = f"{namespace}.example.org"
    await helm_engine.install(install_request(namespace, crd_chart(tmp_path / "v1", group=group)))
    changed = crd_chart(tmp_path / "v2", group=group, size_type="number")

    await helm_engine.upgrade(upgrade_request(namespace, changed, crds=requests.CRDPolicy.SKIP))
    skipped = crd_size_type(devcluster, group)
    await helm_engine.upgrade(upgrade_request(namespace, changed, crds=requests.CRDPolicy.CREATE))
    created = crd_size_type(devcluster, group)
    await helm_engine.upgrade(
        upgrade_request(namespace, changed, crds=requests.CRDPolicy.CREATE_REPLACE)
    )

    assert (skipped, created, crd_size_type(devcluster, group)) == ("integer", "integer", "number")


async def test_post_renderers_are_applied_and_helm_still_manages_the_release(
    devcluster: Devcluster, namespace: str, api: client.Client, helm_config: helm.Config,
    store: storage.ReleaseStore, chart_dir: pathlib.Path,
) -> None:  # fmt: skip
    kustomizing = engine.Engine(api, store, poll_interval=0.2, kustomize=kubectl_kustomize)
    renderer = helm_api.PostRenderer(
        kustomize=helm_api.KustomizePostRenderer(
            patches=[
                kustomize_api.Patch(
                    patch="- op: add\n  path: /data/extra\n  value: patched\n",
                    target=kustomize_api.Selector(kind="ConfigMap"),
                )
            ],
            images=[kustomize_api.Image(name="nginx", new_tag="1.28")],
        )
    )
    options = {
        "post_renderers": [renderer],
        "common_labels": {"tier": "web"},
        "server_side_apply": False,
    }
    await kustomizing.install(install_request(namespace, chart_dir, **options))
    await kustomizing.upgrade(
        upgrade_request(namespace, chart_dir, values={"greeting": "bye"}, **options)
    )

    config_map = kubectl_get(devcluster, namespace, "configmap", "demo-cm")
    assert config_map["data"] == {"greeting": "bye", "extra": "patched"}
    assert config_map["metadata"]["labels"]["tier"] == "web"
    deployment = kubectl_get(devcluster, namespace, "deployment", "demo-web")
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.28"
    assert [(r["revision"], r["status"]) for r in helm_config.list()] == [(2, "deployed")]

    helm_config.rollback("demo", version=1, wait="watcher", timeout=60)

    config_map = kubectl_get(devcluster, namespace, "configmap", "demo-cm")
    assert config_map["data"] == {"greeting": "hello", "extra": "patched"}


async def test_cleanup_on_fail_deletes_what_a_failed_upgrade_added(
    devcluster: Devcluster, namespace: str, helm_engine: engine.Engine,
    chart_dir: pathlib.Path,
) -> None:  # fmt: skip
    await helm_engine.install(install_request(namespace, chart_dir))
    (chart_dir / "templates" / "extra.yaml").write_text(
        textwrap.dedent("""
            apiVersion: v1
            kind: ConfigMap
            metadata: {name: extra}
        """)
    )

    with pytest.raises(failures.ReleaseFailedError) as caught:
        await helm_engine.upgrade(
            upgrade_request(
                namespace,
                chart_dir,
                # A new pod template, so that the failing pods roll out.
                values={"simulate": "fail", "image": "nginx:1.28"},
                cleanup_on_fail=True,
                timeout=10,
            )
        )

    assert caught.value.record is not None
    assert caught.value.record.status == Status.FAILED
    assert caught.value.record.description.startswith('Upgrade "demo" failed: ')
    assert "extra" not in names(devcluster, namespace, "configmaps")
    assert "demo-cm" in names(devcluster, namespace, "configmaps")
    history = await helm_engine.store.history("demo")
    assert [(r.version, r.status) for r in history] == [(1, Status.DEPLOYED), (2, Status.FAILED)]


async def test_create_namespace_creates_the_target_namespace(
    devcluster: Devcluster, namespace: str, helm_engine: engine.Engine, chart_dir: pathlib.Path
) -> None:
    target = f"{namespace}-target"

    record = await helm_engine.install(
        install_request(target, chart_dir, create_namespace=True, disable_hooks=True)
    )

    assert record.namespace == target
    assert names(devcluster, target, "configmaps").count("demo-cm") == 1
    devcluster.kubectl("delete", "namespace", target, "--wait=false")


async def test_without_take_ownership_an_object_of_another_release_is_refused(
    devcluster: Devcluster, namespace: str, helm_engine: engine.Engine, chart_dir: pathlib.Path
) -> None:
    devcluster.kubectl("create", "configmap", "demo-cm", "-n", namespace)

    with pytest.raises(failures.ReleaseFailedError) as caught:
        await helm_engine.install(install_request(namespace, chart_dir, take_ownership=False))

    assert caught.value.record is None
    assert "exists and cannot be imported into the current release" in caught.value.reason
    assert await helm_engine.store.history("demo") == []


async def test_render_is_a_dry_run_of_what_an_upgrade_applies(
    devcluster: Devcluster, namespace: str, helm_engine: engine.Engine, chart_dir: pathlib.Path
) -> None:
    installed = await helm_engine.install(install_request(namespace, chart_dir))

    rendered = await helm_engine.render(
        upgrade_request(namespace, chart_dir, values={"greeting": "next"})
    )

    (config_map,) = [obj for obj in rendered.objects if obj["kind"] == "ConfigMap"]
    assert config_map["data"] == {"greeting": "next"}
    assert config_map["metadata"]["namespace"] == namespace
    assert config_map["metadata"]["annotations"]["meta.helm.sh/release-name"] == "demo"
    assert [hook.name for hook in rendered.hooks] == ["demo-smoke", "demo-migrate"]
    assert rendered.notes == "Thanks for installing demo.\n"
    assert await helm_engine.store.history("demo") == [installed]
    assert kubectl_get(devcluster, namespace, "configmap", "demo-cm")["data"] == {
        "greeting": "hello"
    }


async def test_force_recreates_an_object_whose_immutable_fields_changed(
    devcluster: Devcluster, namespace: str, helm_engine: engine.Engine, tmp_path: pathlib.Path
) -> None:
    files = dict(democharts.DEMO)
    files["templates/job.yaml"] = """
        apiVersion: batch/v1
        kind: Job
        metadata:
          name: once
        spec:
          template:
            spec:
              restartPolicy: Never
              containers: [{name: once, image: {{ .Values.image | quote }}}]
    """
    chart_dir = democharts.write(tmp_path / "demo", files)
    await helm_engine.install(install_request(namespace, chart_dir))
    before = kubectl_get(devcluster, namespace, "job", "once")["metadata"]["uid"]
    newer = {"image": "nginx:1.28"}

    # As in Flux, force replaces only with client-side apply.
    with pytest.raises(failures.ReleaseFailedError, match="immutable"):
        await helm_engine.upgrade(upgrade_request(namespace, chart_dir, values=newer, force=True))
    forced = await helm_engine.upgrade(
        upgrade_request(
            namespace, chart_dir, values=newer, force=True, server_side_apply="disabled"
        )
    )

    assert forced.status == Status.DEPLOYED
    job = kubectl_get(devcluster, namespace, "job", "once")
    assert job["metadata"]["uid"] != before
    assert job["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.28"


async def test_disable_wait_deploys_without_waiting_for_readiness(
    devcluster: Devcluster, namespace: str, helm_engine: engine.Engine, chart_dir: pathlib.Path
) -> None:
    record = await helm_engine.install(
        install_request(namespace, chart_dir, values={"simulate": "pending"}, disable_wait=True)
    )

    assert record.status == Status.DEPLOYED
    status = kubectl_get(devcluster, namespace, "deployment", "demo-web").get("status") or {}
    assert not status.get("availableReplicas")


SCHEMA = '{"type": "object", "properties": {"greeting": {"type": "string"}}}'


async def test_values_are_checked_against_the_schema_unless_disabled(
    namespace: str, helm_engine: engine.Engine, tmp_path: pathlib.Path
) -> None:
    files = {**democharts.DEMO, "values.schema.json": SCHEMA}
    chart_dir = democharts.write(tmp_path / "demo", files)
    wrong = {"greeting": 7}

    with pytest.raises(failures.ChartError, match="got number, want string"):
        await helm_engine.install(install_request(namespace, chart_dir, values=wrong))
    assert await helm_engine.store.history("demo") == []
    record = await helm_engine.install(
        install_request(
            namespace,
            chart_dir,
            values=wrong,
            disable_schema_validation=True,
            disable_wait=True,
        )
    )

    assert record.status == Status.DEPLOYED
    assert record.chart["schema"] is not None


async def test_lookup_reads_the_cluster_when_rendering_is_cluster_aware(
    devcluster: Devcluster, namespace: str, api: client.Client, store: storage.ReleaseStore,
    tmp_path: pathlib.Path,
) -> None:  # fmt: skip
    devcluster.kubectl("create", "configmap", "source", "-n", namespace, "--from-literal=k=found")
    files = {
        "Chart.yaml": democharts.DEMO["Chart.yaml"],
        "templates/copy.yaml": """
            apiVersion: v1
            kind: ConfigMap
            metadata: {name: copy}
            {{- $source := lookup "v1" "ConfigMap" .Release.Namespace "source" }}
            data:
              k: {{ ($source.data | default dict).k | default "none" | quote }}
        """,
    }
    chart_dir = democharts.write(tmp_path / "demo", files)
    aware = engine.Engine(api, store, poll_interval=0.2, lookup=True)
    offline = engine.Engine(api, store, poll_interval=0.2)

    seen = await aware.render(install_request(namespace, chart_dir))
    unseen = await offline.render(install_request(namespace, chart_dir))

    assert [obj["data"] for obj in seen.objects] == [{"k": "found"}]
    assert [obj["data"] for obj in unseen.objects] == [{"k": "none"}]


async def test_health_check_expressions_decide_readiness_before_kstatus(
    namespace: str, helm_engine: engine.Engine, chart_dir: pathlib.Path
) -> None:
    checks = healthexprs.compile_checks(
        [
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "current": "data.greeting == 'ready'",
                "failed": "data.greeting == 'broken'",
            }
        ]
    )
    waiting = {"health_readers": (checks.read,), "disable_hooks": True, "timeout": 20}

    record = await helm_engine.install(
        install_request(namespace, chart_dir, values={"greeting": "ready"}, **waiting)
    )
    with pytest.raises(failures.ReleaseFailedError) as caught:
        await helm_engine.upgrade(
            upgrade_request(namespace, chart_dir, values={"greeting": "broken"}, **waiting)
        )

    assert record.status == Status.DEPLOYED
    assert caught.value.reason.startswith("failed early due to stalled resources: [ConfigMap/")
