"""``headwater install``, ``uninstall`` and ``version`` against an empty devcluster.

Always a devcluster of its own (never ``$HEADWATER_TEST_KUBECONFIG``): the
module removes Headwater's CRDs from the cluster. Its simulated kubelet makes
the controllers' Deployments ready, so the install's wait and ``check`` are
real; the containers themselves do not run.
"""

from __future__ import annotations

import json
import pathlib
import shutil
import subprocess
from collections.abc import Iterator

import pytest
import yaml

from headwater.cli import manifests
from shared.api import registry
from tests.e2e import objects
from tests.e2e.test_cli import Headwater, _ok, headwater  # noqa: F401 - a pytest fixture
from tests.fixtures import devcluster as devcluster_fixtures
from tests.fixtures.polling import eventually_sync

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

REPO = pathlib.Path(__file__).resolve().parents[2]
EXTRAS = "image-reflector-controller,image-automation-controller"


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[devcluster_fixtures.Devcluster]:
    """The module's own devcluster (overrides the shared one ``headwater`` runs against)."""
    with devcluster_fixtures.start_devcluster(tmp_path_factory.mktemp("install")) as running:
        yield running


def _documents(text: str) -> list[dict[str, object]]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def test_install_export_is_the_crds_and_then_the_base(headwater: Headwater) -> None:  # noqa: F811
    exported = _documents(_ok(headwater("install", "--export", "--components-extra", EXTRAS)))
    base = _documents(
        subprocess.run(
            [manifests.Options().kubectl, "kustomize", str(REPO / "deploy")],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )

    crd_count = len(list(registry.all_kinds()))
    assert [d["kind"] for d in exported[:crd_count]] == ["CustomResourceDefinition"] * crd_count
    assert exported[crd_count:] == base


def test_install_export_selects_components_and_namespace(headwater: Headwater) -> None:  # noqa: F811
    exported = _documents(
        _ok(
            headwater(
                "install", "--export", "--components", "source-controller",
                "--no-network-policy", "-n", "gitops",
            )
        )
    )  # fmt: skip

    names = {(d["kind"], d["metadata"]["name"]) for d in exported}  # type: ignore[index]
    assert ("Deployment", "source-controller") in names
    assert ("Deployment", "kustomize-controller") not in names
    assert ("ClusterRole", "headwater-kustomize-controller") not in names
    assert ("Namespace", "gitops") in names
    assert not [d for d in exported if d["kind"] == "NetworkPolicy"]
    namespaced = [d for d in exported if d["kind"] in ("Deployment", "Service", "ServiceAccount")]
    assert {d["metadata"]["namespace"] for d in namespaced} == {"gitops"}  # type: ignore[index]
    unknown = headwater("install", "--export", "--components", "helm-operator")
    assert unknown.returncode == 1
    assert unknown.stderr.startswith("✗ component helm-operator is not available")


def test_install_export_applies_flux_install_flags(headwater: Headwater) -> None:  # noqa: F811
    exported = _documents(
        _ok(
            headwater(
                "install", "--export", "--components", "source-controller",
                "--watch-all-namespaces=false", "--log-level", "debug",
                "--cluster-domain", "example.org", "--registry", "registry.example.org/hw",
                "--image-pull-secret", "pull", "--toleration-keys", "flux,gitops",
            )
        )
    )  # fmt: skip

    (deployment,) = [d for d in exported if d["kind"] == "Deployment"]
    pod = deployment["spec"]["template"]["spec"]  # type: ignore[index]
    (container,) = pod["containers"]
    assert container["image"].startswith("registry.example.org/hw/headwater:")
    assert "--watch-all-namespaces=false" in container["args"]
    assert "--log-level=debug" in container["args"]
    assert (
        "--events-addr=http://notification-controller.$(RUNTIME_NAMESPACE).svc.example.org./"
        in container["args"]
    )
    assert (
        "--storage-adv-addr=source-controller.$(RUNTIME_NAMESPACE).svc.example.org."
        in container["args"]
    )
    assert pod["imagePullSecrets"] == [{"name": "pull"}]
    assert pod["tolerations"] == [
        {"key": "flux", "operator": "Exists"},
        {"key": "gitops", "operator": "Exists"},
    ]


def test_a_controller_that_fails_fails_the_install_in_one_line(
    headwater: Headwater,  # noqa: F811
    tmp_path: pathlib.Path,
) -> None:
    base = tmp_path / "deploy"
    shutil.copytree(manifests.deploy_directory(), base)
    with (base / "kustomization.yaml").open("a") as kustomization:
        kustomization.write("commonAnnotations:\n  devcluster.headwater.dev/simulate: fail\n")

    failed = headwater(
        "install", "-n", "failing", "--components", "source-controller",
        "--manifests", str(base), "--timeout", "30s",
    )  # fmt: skip

    assert failed.returncode == 1
    assert [line for line in failed.stderr.splitlines() if line.startswith("✗")] == [
        failed.stderr.splitlines()[-1]
    ]
    assert "Deployment/failing/source-controller" in failed.stderr.splitlines()[-1]
    assert "Traceback" not in failed.stderr


def test_install_check_version_and_uninstall(
    headwater: Headwater,  # noqa: F811
    cluster: devcluster_fixtures.Devcluster,
) -> None:
    namespace = "headwater-install"
    ns = ["-n", namespace]
    # Every controller deploy/ holds (helm-controller too, once it is there).
    controllers = manifests.available(manifests.render(manifests.Options()))

    installed = headwater("install", *ns, "--components-extra", EXTRAS, "--timeout", "2m")
    assert installed.returncode == 0, installed.stderr
    crd_line = "CustomResourceDefinition/gitrepositories.source.toolkit.fluxcd.io"
    # created, or unchanged when another test of the module installed the CRDs first
    assert {f"{crd_line} created", f"{crd_line} unchanged"} & set(installed.stdout.splitlines())
    assert f"Deployment/{namespace}/source-controller created" in installed.stdout.splitlines()
    assert f"NetworkPolicy/{namespace}/allow-webhooks created" in installed.stdout.splitlines()
    for controller in controllers:
        assert f"✔ {controller}: deployment ready" in installed.stderr
    assert installed.stderr.splitlines()[-1] == "✔ install finished"

    checked = headwater("check", *ns)
    assert checked.returncode == 0, checked.stderr
    assert "✔ all checks passed" in checked.stderr

    version = yaml.safe_load(_ok(headwater("version", *ns)))
    assert list(version) == ["headwater", *sorted(controllers)]
    assert {version[c] for c in controllers} == {"0.1.0"}
    as_json = json.loads(_ok(headwater("version", *ns, "-o", "json")))
    assert as_json == version

    again = headwater("install", *ns, "--components-extra", EXTRAS, "--timeout", "2m")
    assert again.returncode == 0, again.stderr
    assert f"Deployment/{namespace}/source-controller unchanged" in again.stdout.splitlines()

    unconfirmed = headwater("uninstall", *ns)
    assert unconfirmed.returncode == 1
    assert "add --silent" in unconfirmed.stderr

    # A Flux object with the controllers' finalizer, which no controller is left to remove.
    objects.apply(cluster, {
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
        "metadata": {"name": "kept", "namespace": "default",
                     "finalizers": ["finalizers.fluxcd.io"]},
        "spec": {"interval": "1h", "url": "http://127.0.0.1:1/x.git"},
    })  # fmt: skip
    dry = headwater("uninstall", *ns, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert f"✔ Deployment/{namespace}/source-controller deleted (dry run)" in dry.stderr
    assert objects.get(cluster, namespace, "deployment", "source-controller") is not None

    removed = headwater("uninstall", *ns, "--silent")
    assert removed.returncode == 0, removed.stderr
    assert "✔ CustomResourceDefinition/kustomizations.kustomize.toolkit.fluxcd.io deleted" in (
        removed.stderr
    )
    assert removed.stderr.splitlines()[-1] == "✔ uninstall finished"
    assert "✔ GitRepository/default/kept finalizers deleted" in removed.stderr
    eventually_sync(
        lambda: cluster.kubectl("get", "namespace", namespace, check=False).returncode != 0,
        within=60,
        message="the namespace was never deleted",
    )
    eventually_sync(
        lambda: "toolkit.fluxcd.io" not in cluster.kubectl("get", "crds", "-o", "name").stdout,
        within=60,
        message="the CRDs (and the GitRepository with them) were never deleted",
    )
    assert (
        "headwater-source-controller"
        not in cluster.kubectl("get", "clusterroles", "-o", "name").stdout
    )
    missing = headwater("version", *ns)
    assert missing.returncode == 1
    assert missing.stderr.startswith(f"✗ no deployments found in {namespace} namespace")
