"""``deploy/``: the kustomize base builds, is accepted by an API server, and runs real commands."""

from __future__ import annotations

import os
import pathlib
import re
import shutil
import subprocess
import sys
import tomllib
from typing import Any

import pytest
import yaml

from tests.fixtures import devcluster as devcluster_fixtures

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
REPO = pathlib.Path(__file__).resolve().parents[2]


def _built(cluster: devcluster_fixtures.Devcluster) -> list[dict[str, Any]]:
    out = cluster.kubectl("kustomize", str(REPO / "deploy")).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def test_the_base_applies_and_its_deployments_roll_out(
    cluster: devcluster_fixtures.Devcluster,
) -> None:
    cluster.kubectl("apply", "--server-side", "-k", str(REPO / "deploy"))
    rollout = cluster.kubectl(
        "rollout", "status", "-n", "flux-system", "--timeout=60s",
        "deployment/source-controller", "deployment/kustomize-controller",
        "deployment/helm-controller", "deployment/notification-controller",
        "deployment/image-reflector-controller", "deployment/image-automation-controller",
    )  # fmt: skip

    assert "successfully rolled out" in rollout.stdout


def test_every_deployment_runs_a_console_script_of_the_package(
    cluster: devcluster_fixtures.Devcluster,
) -> None:
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    deployments = [o for o in _built(cluster) if o["kind"] == "Deployment"]

    commands = {
        d["metadata"]["name"]: d["spec"]["template"]["spec"]["containers"][0]["command"][0]
        for d in deployments
    }
    assert commands == {
        "source-controller": "source-controller",
        "kustomize-controller": "kustomize-controller",
        "helm-controller": "helm-controller",
        "notification-controller": "notification-controller",
        "image-reflector-controller": "image-reflector-controller",
        "image-automation-controller": "image-automation-controller",
    }
    assert set(commands.values()) <= set(scripts)


# What Flux's manifests give each controller: CPU request, and the limits.
FLUX_CPU_REQUESTS = {"source-controller": "50m"}
FLUX_LIMITS = {"cpu": "1000m", "memory": "1Gi"}


def test_every_deployment_is_hardened_as_flux_ships_it(
    cluster: devcluster_fixtures.Devcluster,
) -> None:
    deployments = [o for o in _built(cluster) if o["kind"] == "Deployment"]

    assert deployments
    for deployment in deployments:
        name = deployment["metadata"]["name"]
        pod = deployment["spec"]["template"]["spec"]
        for container in pod["containers"]:
            # The container's securityContext overrides the pod's, field by field.
            security = {**pod.get("securityContext", {}), **container["securityContext"]}
            assert security["runAsNonRoot"] is True, name
            assert security["readOnlyRootFilesystem"] is True, name
            assert security["allowPrivilegeEscalation"] is False, name
            assert security["capabilities"] == {"drop": ["ALL"]}, name
            assert security["seccompProfile"] == {"type": "RuntimeDefault"}, name
            resources = container["resources"]
            assert resources["limits"] == FLUX_LIMITS, name
            assert resources["requests"]["cpu"] == FLUX_CPU_REQUESTS.get(name, "100m"), name
            assert resources["requests"]["memory"] == "128Mi", name
            assert {"livenessProbe", "readinessProbe"} <= set(container), name
            # A read-only root filesystem needs a writable /tmp.
            assert "/tmp" in {m["mountPath"] for m in container["volumeMounts"]}, name


def test_flux_network_policies_are_in_the_base(cluster: devcluster_fixtures.Devcluster) -> None:
    policies = {o["metadata"]["name"]: o["spec"] for o in _built(cluster)
                if o["kind"] == "NetworkPolicy"}  # fmt: skip

    assert set(policies) == {"allow-egress", "allow-scraping", "allow-webhooks"}
    assert policies["allow-egress"]["egress"] == [{}]
    assert policies["allow-egress"]["ingress"] == [{"from": [{"podSelector": {}}]}]
    assert policies["allow-scraping"]["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 8080}]
    webhooks = policies["allow-webhooks"]
    assert webhooks["podSelector"] == {"matchLabels": {"app": "notification-controller"}}
    assert webhooks["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 9292}]


def test_the_image_tree_runs_the_headwater_command_without_development_code(
    tmp_path: pathlib.Path,
) -> None:
    """What deploy/Dockerfile copies, less what it removes, still runs install and version."""
    dockerfile = (REPO / "deploy" / "Dockerfile").read_text()
    copied = re.findall(r"^COPY (\S+) \1$", dockerfile, flags=re.MULTILINE)
    removed = re.search(r"^RUN rm ([^\\\n&]+)", dockerfile, flags=re.MULTILINE)
    assert removed is not None
    assert "devcluster" not in copied
    for directory in copied:
        shutil.copytree(REPO / directory, tmp_path / directory, symlinks=True)
    for pattern in removed[1].split():
        matches = list(tmp_path.glob(pattern))
        assert matches, pattern
        for match in matches:
            match.unlink()
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}

    def headwater(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "headwater.cli.main", *args],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip

    version = headwater("version", "--client")
    exported = headwater("install", "--export")

    assert version.returncode == 0, version.stderr
    assert exported.returncode == 0, exported.stderr
    assert "kind: Deployment" in exported.stdout
    assert not list((tmp_path / "headwater").glob("demo*.py"))
