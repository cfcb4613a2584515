"""helm-controller's ``serviceAccountName``: a release acts as its ServiceAccount, under RBAC.

A devcluster of this module's own enforces RBAC (``--authorization-mode
RBAC``, over TLS so the controllers authenticate as the admin, who may
impersonate); source-controller, helm-controller and a chart repository on
127.0.0.1 as in ``test_helm_controller``. A HelmRelease whose
ServiceAccount may not create Deployments fails its install with the API
server's refusal for that account; once a Role grants it, the release
installs, its storage and objects written as the account.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e import conftest, objects
from tests.e2e.test_helm_controller import (
    _condition,
    _helm,
    _helmrelease,
    _helmrepository,
    _ready,
    controllers,
    repo,
)
from tests.fixtures import chartrepos, processes
from tests.fixtures import devcluster as devcluster_fixtures
from tests.fixtures.polling import eventually_sync

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
__all__ = ["controllers", "repo"]  # NB: fixtures shared with test_helm_controller

ACCOUNT = "deployer"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[devcluster_fixtures.Devcluster]:
    """This module's devcluster, enforcing RBAC (overrides the e2e ``cluster``)."""
    with devcluster_fixtures.start_devcluster(
        tmp_path_factory.mktemp("rbac"), tls=True, authorization_mode="RBAC"
    ) as running:
        running.kubectl("apply", "--server-side", "-f", str(conftest.CRDS))
        running.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
        yield running


def _grant(cluster: devcluster_fixtures.Devcluster, namespace: str, resources: list[str]) -> None:
    """Role ``deployer`` (every verb on ``resources``), bound to the ServiceAccount."""
    documents: list[dict[str, Any]] = [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": ACCOUNT, "namespace": namespace},
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": ACCOUNT, "namespace": namespace},
            "rules": [
                {"apiGroups": ["", "apps"], "resources": resources, "verbs": ["*"]},
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": ACCOUNT, "namespace": namespace},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": ACCOUNT},
            "subjects": [{"kind": "ServiceAccount", "name": ACCOUNT, "namespace": namespace}],
        },
    ]
    cluster.kubectl("apply", "-f", "-", input="\n---\n".join(json.dumps(doc) for doc in documents))


def _managers(cluster: devcluster_fixtures.Devcluster, namespace: str) -> set[str]:
    result = cluster.kubectl(
        "get", "-n", namespace, "deployment", "web", "-o", "json", "--show-managed-fields"
    )
    return {m["manager"] for m in json.loads(result.stdout)["metadata"]["managedFields"]}


def test_a_release_acts_as_its_service_account(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    controllers: tuple[processes.Controller, processes.Controller],
    repo: chartrepos.ChartRepository,
) -> None:
    _grant(cluster, namespace, ["configmaps", "secrets"])
    objects.apply(cluster, _helmrepository(namespace, repo.url))
    spec = {"serviceAccountName": ACCOUNT}
    objects.apply(cluster, _helmrelease(namespace, "web", **spec))

    failed = eventually_sync(
        _ready(cluster, namespace, "web", status="False", reason="InstallFailed"), within=90
    )
    message = _condition(failed, "Released")[2]
    assert f"system:serviceaccount:{namespace}:{ACCOUNT}" in message, message
    assert objects.get(cluster, namespace, "deployment", "web") is None

    _grant(cluster, namespace, ["configmaps", "secrets", "deployments"])
    # NB: a new generation starts the failure count over (install retries are 0).
    objects.apply(cluster, _helmrelease(namespace, "web", values={"color": "red"}, **spec))
    eventually_sync(_ready(cluster, namespace, "web"), within=90)

    assert objects.get(cluster, namespace, "deployment", "web") is not None
    assert "helm-controller" in _managers(cluster, namespace)
    with _helm(cluster, namespace) as sdk:
        assert [r["name"] for r in sdk.list()] == ["web"]
