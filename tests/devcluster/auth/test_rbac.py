"""``--authorization-mode RBAC`` with the real kubectl and kubernetes-asyncio.

One RBAC devcluster per module (no simulated controllers), over HTTPS:
client-go sends no bearer token to a plain-HTTP server. The admin kubeconfig
(``system:masters``) sets everything up; the requests under test carry a
ServiceAccount's token (``kubectl create token`` or a token Secret).
"""

from __future__ import annotations

import base64
import itertools
import json
import pathlib
import subprocess
from collections.abc import Iterator
from typing import Any

import helm_python as helm
import pytest
from kubernetes_asyncio import client, config

from headwater import devrbac
from tests.fixtures import devcluster as fixtures
from tests.fixtures import polling

Devcluster = fixtures.Devcluster
_counter = itertools.count()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devcluster]:
    with fixtures.start_devcluster(
        tmp_path_factory.mktemp("rbac"), tls=True, controllers=False, authorization_mode="RBAC"
    ) as running:
        yield running


@pytest.fixture
def namespaces(cluster: Devcluster) -> Iterator[tuple[str, str]]:
    """Two fresh namespaces: the robot's own and another."""
    number = next(_counter)
    names = (f"own{number}", f"other{number}")
    for name in names:
        cluster.kubectl("create", "namespace", name)
    yield names
    for name in names:
        cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def _apply(cluster: Devcluster, *docs: dict[str, Any]) -> None:
    cluster.kubectl("apply", "-f", "-", input="\n---\n".join(json.dumps(d) for d in docs))


def _role(namespace: str, name: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": name, "namespace": namespace},
        "rules": rules,
    }


def _binding(
    namespace: str, name: str, *, role: str, account: str, kind: str = "Role"
) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": name, "namespace": namespace},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": role},
        "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": namespace}],
    }


def _account(cluster: Devcluster, namespace: str, name: str) -> str:
    """A ServiceAccount and a token for it (TokenRequest, as ``kubectl create token``)."""
    cluster.kubectl("create", "serviceaccount", name, "-n", namespace)
    return cluster.kubectl("create", "token", name, "-n", namespace).stdout.strip()


def _robot(cluster: Devcluster, namespace: str) -> str:
    """The token of ``robot``, bound to a Role that manages ConfigMaps in ``namespace``."""
    token = _account(cluster, namespace, "robot")
    rules = [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create", "get", "list"]}]
    _apply(
        cluster,
        _role(namespace, "configmaps", rules),
        _binding(namespace, "robot", role="configmaps", account="robot"),
    )
    return token


def _cm(namespace: str, name: str) -> str:
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace},
        }
    )


def test_service_account_writes_in_its_namespace_only(
    cluster: Devcluster, namespaces: tuple[str, str]
) -> None:
    own, other = namespaces
    token = _robot(cluster, own)

    allowed = cluster.kubectl("--token", token, "create", "-f", "-", input=_cm(own, "c"))
    refused = cluster.kubectl(
        "--token", token, "create", "-f", "-", input=_cm(other, "c"), check=False
    )

    assert allowed.stdout == "configmap/c created\n"
    assert refused.returncode == 1
    assert refused.stderr == (
        'Error from server (Forbidden): error when creating "STDIN": configmaps is forbidden: '
        f'User "system:serviceaccount:{own}:robot" cannot create resource "configmaps" in API '
        f'group "" in the namespace "{other}"\n'
    )


def test_forbidden_wording_names_the_object_and_the_cluster_scope(
    cluster: Devcluster, namespaces: tuple[str, str]
) -> None:
    own, _ = namespaces
    token = _robot(cluster, own)
    user = f"system:serviceaccount:{own}:robot"

    named = cluster.kubectl("--token", token, "delete", "cm", "c", "-n", own, check=False)
    cluster_scope = cluster.kubectl("--token", token, "get", "clusterroles", check=False)

    assert named.stderr == (
        f'Error from server (Forbidden): configmaps "c" is forbidden: User "{user}" cannot '
        f'delete resource "configmaps" in API group "" in the namespace "{own}"\n'
    )
    assert cluster_scope.stderr == (
        "Error from server (Forbidden): clusterroles.rbac.authorization.k8s.io is forbidden: "
        f'User "{user}" cannot list resource "clusterroles" in API group '
        '"rbac.authorization.k8s.io" at the cluster scope\n'
    )


def test_impersonation_needs_the_impersonate_verb(
    cluster: Devcluster, namespaces: tuple[str, str]
) -> None:
    own, _ = namespaces
    _robot(cluster, own)
    token = _account(cluster, own, "deputy")
    as_robot = ("--token", token, f"--as=system:serviceaccount:{own}:robot")

    # NB: not ``create -f``: its schema download would be refused first.
    refused = cluster.kubectl(*as_robot, "create", "configmap", "i", "-n", own, check=False)
    rules = [
        {
            "apiGroups": [""],
            "resources": ["serviceaccounts"],
            "resourceNames": ["robot"],
            "verbs": ["impersonate"],
        }
    ]
    _apply(
        cluster,
        _role(own, "impersonate-robot", rules),
        _binding(own, "deputy", role="impersonate-robot", account="deputy"),
    )
    allowed = cluster.kubectl(*as_robot, "create", "configmap", "i", "-n", own)

    assert refused.stderr == (
        'error: failed to create configmap: serviceaccounts "robot" is forbidden: User '
        f'"system:serviceaccount:{own}:deputy" cannot impersonate resource "serviceaccounts" '
        f'in API group "" in the namespace "{own}"\n'
    )
    assert allowed.stdout == "configmap/i created\n"


def test_aggregated_cluster_role_grants_what_its_parts_grant(
    cluster: Devcluster, namespaces: tuple[str, str]
) -> None:
    own, _ = namespaces
    token = _account(cluster, own, "reader")
    label = f"aggregate-{own}"

    def part(name: str, rule: dict[str, Any]) -> dict[str, Any]:
        return {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": f"{own}-{name}", "labels": {label: "true"}},
            "rules": [rule],
        }

    whole = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": f"{own}-whole"},
        "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {label: "true"}}]},
        "rules": [],
    }
    _apply(
        cluster,
        part("configmaps", {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list"]}),
        whole,
        _binding(own, "reader", role=f"{own}-whole", account="reader", kind="ClusterRole"),
    )
    _apply(
        cluster,
        part("secrets", {"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]}),
    )

    def answers() -> tuple[int, int, int]:
        return tuple(  # type: ignore[return-value]
            cluster.kubectl("--token", token, "get", kind, "-n", own, check=False).returncode
            for kind in ("configmaps", "secrets", "serviceaccounts")
        )

    assert polling.poll(lambda: answers() == (0, 0, 1), what="aggregated rules in force")
    rules = json.loads(cluster.kubectl("get", "clusterrole", f"{own}-whole", "-o", "json").stdout)
    assert [r["resources"] for r in rules["rules"]] == [["configmaps"], ["secrets"]]


CAN_I = [
    ("create", "configmaps", "own"),
    ("get", "configmaps", "own"),
    ("delete", "configmaps", "own"),
    ("create", "configmaps", "other"),
    ("list", "secrets", "own"),
    ("create", "selfsubjectaccessreviews.authorization.k8s.io", "own"),
]
_KUBECTL_VERBS = {"create": "create", "get": "get", "delete": "delete", "list": "get"}


def _try(cluster: Devcluster, token: str, verb: str, resource: str, namespace: str) -> bool:
    """Whether the server lets the robot do it (for real, with its token)."""
    if resource.startswith("selfsubjectaccessreviews"):
        return (
            cluster.kubectl("--token", token, "auth", "can-i", "get", "pods", check=False).stderr
            == ""
        )
    if verb == "create":
        args = ("create", "-f", "-")
        given = _cm(namespace, f"probe{next(_counter)}")
        return cluster.kubectl("--token", token, *args, input=given, check=False).returncode == 0
    target = (resource,) if verb == "list" else (resource, "absent")
    result = cluster.kubectl(
        "--token", token, _KUBECTL_VERBS[verb], *target, "-n", namespace, check=False
    )
    return "Forbidden" not in result.stderr


@pytest.mark.parametrize(("verb", "resource", "where"), CAN_I)
def test_can_i_agrees_with_the_server(
    cluster: Devcluster, namespaces: tuple[str, str], verb: str, resource: str, where: str
) -> None:
    own, other = namespaces
    namespace = own if where == "own" else other
    token = _robot(cluster, own)

    asked = cluster.kubectl(
        "--token", token, "auth", "can-i", verb, resource, "-n", namespace, check=False
    )
    as_admin = cluster.kubectl(
        "auth",
        "can-i",
        verb,
        resource,
        "-n",
        namespace,
        f"--as=system:serviceaccount:{own}:robot",
        check=False,
    )
    done = _try(cluster, token, verb, resource, namespace)

    assert asked.stdout.startswith("yes" if done else "no")
    assert as_admin.stdout == asked.stdout


def test_token_secret_is_filled_and_authenticates(
    cluster: Devcluster, namespaces: tuple[str, str]
) -> None:
    own, _ = namespaces
    _robot(cluster, own)
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/service-account-token",
        "metadata": {
            "name": "robot-token",
            "namespace": own,
            "annotations": {"kubernetes.io/service-account.name": "robot"},
        },
    }
    _apply(cluster, secret)
    data = json.loads(
        cluster.kubectl("get", "secret", "robot-token", "-n", own, "-o", "json").stdout
    )["data"]
    token = base64.b64decode(data["token"]).decode()

    whoami = cluster.kubectl("--token", token, "auth", "whoami", "-o", "json")

    assert base64.b64decode(data["namespace"]).decode() == own
    assert json.loads(whoami.stdout)["status"]["userInfo"]["username"] == (
        f"system:serviceaccount:{own}:robot"
    )


def test_unknown_token_is_unauthorized_and_discovery_is_open(
    cluster: Devcluster, namespaces: tuple[str, str]
) -> None:
    own, _ = namespaces
    token = _account(cluster, own, "nobody")

    version = cluster.kubectl("--token", token, "version", "-o", "json")
    resources = cluster.kubectl("--token", token, "api-resources", "-o", "name")
    bad = cluster.kubectl("--token", "not-a-token", "get", "cm", check=False)

    assert json.loads(version.stdout)["serverVersion"]["gitVersion"].startswith("v1.")
    assert "configmaps" in resources.stdout.split()
    assert "Unauthorized" in bad.stderr


async def test_kubernetes_asyncio_sees_403_forbidden(
    cluster: Devcluster, namespaces: tuple[str, str]
) -> None:
    own, other = namespaces
    token = _robot(cluster, own)
    configuration = client.Configuration()
    await config.load_kube_config(
        config_file=str(cluster.kubeconfig), client_configuration=configuration
    )
    configuration.api_key = {"BearerToken": f"Bearer {token}"}
    configuration.api_key_prefix = {}
    async with client.ApiClient(configuration) as api:
        core = client.CoreV1Api(api)
        body = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="k"))
        created = await core.create_namespaced_config_map(own, body)
        with pytest.raises(client.ApiException) as refused:
            await core.create_namespaced_config_map(other, body)

    status = json.loads(refused.value.body or b"{}")
    assert created.metadata.name == "k"
    assert (refused.value.status, status["reason"], status["details"]) == (
        403,
        "Forbidden",
        {"kind": "configmaps"},
    )


def test_dev_rbac_runs_controllers_with_the_rbac_of_deploy(
    cluster: Devcluster, tmp_path: pathlib.Path
) -> None:
    cluster.kubectl("create", "namespace", "flux-system", check=False)

    def kubectl(*args: str, input: str | None = None, timeout: float = 60) -> Any:
        return cluster.kubectl(*args, input=input, check=False, timeout=timeout)

    kubeconfigs = devrbac.install(
        kubectl,
        admin=cluster.kubeconfig,
        namespace="flux-system",
        controllers=["source-controller", "kustomize-controller"],
        directory=tmp_path,
    )

    def can(controller: str, *args: str) -> str:
        command = [str(fixtures.KUBECTL), "--kubeconfig", str(kubeconfigs[controller])]
        result = subprocess.run(
            [*command, "--cache-dir", str(tmp_path / "cache"), "auth", "can-i", *args],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        return result.stdout.split(" ")[0].strip()

    # (Custom kinds are left out: with no CRD served, kubectl cannot name their group.)
    assert can("source-controller", "create", "events", "-n", "default") == "yes"
    assert can("source-controller", "get", "secrets", "-n", "default") == "yes"
    assert can("source-controller", "create", "configmaps", "-n", "default") == "no"
    assert can("source-controller", "update", "leases.coordination.k8s.io") == "no"
    assert (
        can("source-controller", "update", "leases.coordination.k8s.io", "-n", "flux-system")
        == "yes"
    )
    assert can("kustomize-controller", "create", "deployments.apps", "-n", "default") == "yes"


def test_can_i_list_shows_the_rules_bound_in_the_namespace(
    cluster: Devcluster, namespaces: tuple[str, str]
) -> None:
    own, other = namespaces
    token = _robot(cluster, own)

    here = cluster.kubectl("--token", token, "auth", "can-i", "--list", "-n", own).stdout
    there = cluster.kubectl("--token", token, "auth", "can-i", "--list", "-n", other).stdout

    def rows(text: str) -> dict[str, list[str]]:
        return {line.split()[0]: line.split()[1:] for line in text.splitlines()[1:]}

    assert rows(here)["configmaps"] == ["[]", "[]", "[create", "get", "list]"]
    assert "configmaps" not in rows(there)
    assert rows(there)["selfsubjectaccessreviews.authorization.k8s.io"][-1] == "[create]"


def test_a_token_of_a_deleted_service_account_is_unauthorized(
    cluster: Devcluster, namespaces: tuple[str, str]
) -> None:
    own, _ = namespaces
    token = _robot(cluster, own)
    before = cluster.kubectl("--token", token, "get", "configmaps", "-n", own, check=False)

    cluster.kubectl("delete", "serviceaccount", "robot", "-n", own)
    after = cluster.kubectl("--token", token, "get", "configmaps", "-n", own, check=False)

    assert before.returncode == 0
    assert "error: You must be logged in to the server (Unauthorized)" in after.stderr


def test_helm_installs_as_a_service_account_only_where_its_role_allows(
    cluster: Devcluster, namespaces: tuple[str, str], tmp_path: pathlib.Path
) -> None:
    own, other = namespaces
    token = _account(cluster, own, "deployer")
    # Helm keeps its release records in Secrets of the release's namespace.
    rules = [{"apiGroups": [""], "resources": ["configmaps", "secrets"], "verbs": ["*"]}]
    _apply(
        cluster,
        _role(own, "deployer", rules),
        _binding(own, "deployer", role="deployer", account="deployer"),
    )
    kubeconfig = tmp_path / "deployer"
    devrbac.controller_kubeconfig(cluster.kubeconfig, kubeconfig, token=token)
    chart = tmp_path / "chart"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: cm\nversion: 0.1.0\n")
    (chart / "templates" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: from-helm}\ndata: {a: '1'}\n"
    )

    with helm.Config(kubeconfig_path=kubeconfig, namespace=own) as settings:
        release = settings.install(helm.Chart.load(chart), "cm", None, timeout=30)
    elsewhere = helm.Config(kubeconfig_path=kubeconfig, namespace=other)
    with elsewhere, pytest.raises(helm.HelmError) as refused:
        elsewhere.install(helm.Chart.load(chart), "cm", None, timeout=30)

    assert release["status"] == "deployed"
    assert cluster.kubectl("get", "cm", "from-helm", "-n", own).returncode == 0
    assert f'User "system:serviceaccount:{own}:deployer" cannot' in str(refused.value)
    assert f'in the namespace "{other}"' in str(refused.value)


async def test_subject_access_review_and_a_refused_path(
    cluster: Devcluster, namespaces: tuple[str, str]
) -> None:
    own, other = namespaces
    token = _robot(cluster, own)
    configuration = client.Configuration()
    await config.load_kube_config(
        config_file=str(cluster.kubeconfig), client_configuration=configuration
    )
    user = f"system:serviceaccount:{own}:robot"

    def review(namespace: str) -> Any:
        attributes = {"namespace": namespace, "verb": "create", "resource": "configmaps"}
        return {"spec": {"user": user, "resourceAttributes": attributes}}

    async with client.ApiClient(configuration) as api:
        authorization = client.AuthorizationV1Api(api)
        allowed = await authorization.create_subject_access_review(review(own))
        refused = await authorization.create_subject_access_review(review(other))

    # Only ``spec.user`` is asked about: the bindings naming that user decide.
    assert (allowed.status.allowed, allowed.status.reason) == (
        True,
        f'RBAC: allowed by RoleBinding "robot/{own}" of Role "configmaps" to ServiceAccount '
        f'"robot/{own}"',
    )
    assert refused.status.allowed is False
    assert not refused.status.reason
    path = cluster.kubectl("--token", token, "get", "--raw", "/logs", check=False)
    assert path.stderr == (
        f'Error from server (Forbidden): forbidden: User "{user}" cannot get path "/logs"\n'
    )
