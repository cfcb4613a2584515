"""``deploy/``: the kustomize base builds, is accepted by an API server, and runs real commands."""

from __future__ import annotations

import pathlib
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
