"""Every object-creating ``kubectl create <subcommand>`` of kubectl 1.37 works.

(``kubectl create token`` is in ``test_kubectl_token``.)

kubectl's typed commands send protobuf bodies; each test runs the real
kubectl against the devcluster and reads the object back with ``kubectl get``
to check the fields the command set. ``--dry-run=server -o yaml`` is checked
for each kind too: the object comes back, defaulted, and is not stored.
"""

from __future__ import annotations

import base64
import json
import pathlib
from typing import Any

import pytest
import yaml

from tests.fixtures import credentials
from tests.fixtures import devcluster as fixtures

Devcluster = fixtures.Devcluster


def _get(devcluster: Devcluster, *what: str, namespace: str | None = None) -> dict[str, Any]:
    scope = ("-n", namespace) if namespace else ()
    out = devcluster.kubectl("get", *scope, *what, "-o", "json").stdout
    result: dict[str, Any] = json.loads(out)
    return result


def _create(devcluster: Devcluster, namespace: str, *args: str) -> str:
    return devcluster.kubectl("create", "-n", namespace, *args).stdout


# --- rbac.authorization.k8s.io/v1 -------------------------------------------------


def test_create_role(devcluster: Devcluster, namespace: str) -> None:
    _create(
        devcluster,
        namespace,
        "role",
        "reader",
        "--verb=get,list",
        "--resource=pods,deployments.apps",
        "--resource-name=web",
    )

    role = _get(devcluster, "role", "reader", namespace=namespace)

    assert role["rules"] == [
        {
            "verbs": ["get", "list"],
            "apiGroups": [""],
            "resources": ["pods"],
            "resourceNames": ["web"],
        },
        {
            "verbs": ["get", "list"],
            "apiGroups": ["apps"],
            "resources": ["deployments"],
            "resourceNames": ["web"],
        },
    ]


def test_create_clusterrole(devcluster: Devcluster, namespace: str) -> None:
    name = f"{namespace}-logs"
    _create(devcluster, namespace, "clusterrole", name, "--verb=get", "--non-resource-url=/logs/*")

    role = _get(devcluster, "clusterrole", name)

    assert "namespace" not in role["metadata"]
    assert role["rules"] == [{"verbs": ["get"], "nonResourceURLs": ["/logs/*"]}]


def test_create_clusterrole_with_aggregation_rule(devcluster: Devcluster, namespace: str) -> None:
    name = f"{namespace}-aggregate"
    _create(devcluster, namespace, "clusterrole", name, "--aggregation-rule=example.com/agg=true")

    role = _get(devcluster, "clusterrole", name)

    assert role["aggregationRule"] == {
        "clusterRoleSelectors": [{"matchLabels": {"example.com/agg": "true"}}]
    }


def test_create_rolebinding(devcluster: Devcluster, namespace: str) -> None:
    _create(
        devcluster,
        namespace,
        "rolebinding",
        "readers",
        "--role=reader",
        "--user=alice",
        f"--serviceaccount={namespace}:robot",
    )

    binding = _get(devcluster, "rolebinding", "readers", namespace=namespace)

    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "reader",
    }
    assert binding["subjects"] == [
        {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "alice"},
        {"kind": "ServiceAccount", "name": "robot", "namespace": namespace},
    ]


def test_create_clusterrolebinding(devcluster: Devcluster, namespace: str) -> None:
    name = f"{namespace}-viewers"
    _create(devcluster, namespace, "clusterrolebinding", name, "--clusterrole=view", "--group=devs")

    binding = _get(devcluster, "clusterrolebinding", name)

    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": "view",
    }
    assert binding["subjects"] == [
        {"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "devs"}
    ]


# --- batch/v1 ------------------------------------------------------------------------


def test_create_cronjob(devcluster: Devcluster, namespace: str) -> None:
    _create(
        devcluster,
        namespace,
        "cronjob",
        "nightly",
        "--image=busybox:1.36",
        "--schedule=0 3 * * *",
        "--restart=OnFailure",
        "--",
        "sh",
        "-c",
        "echo hi",
    )

    spec = _get(devcluster, "cronjob", "nightly", namespace=namespace)["spec"]

    assert spec["schedule"] == "0 3 * * *"
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "OnFailure"
    (container,) = pod["containers"]
    assert (container["name"], container["image"]) == ("nightly", "busybox:1.36")
    assert container["command"] == ["sh", "-c", "echo hi"]


def test_create_job(devcluster: Devcluster, namespace: str) -> None:
    _create(devcluster, namespace, "job", "once", "--image=busybox:1.36", "--", "date")

    spec = _get(devcluster, "job", "once", namespace=namespace)["spec"]

    (container,) = spec["template"]["spec"]["containers"]
    assert (container["image"], container["command"]) == ("busybox:1.36", ["date"])
    assert spec["template"]["spec"]["restartPolicy"] == "Never"


def test_create_job_from_cronjob(devcluster: Devcluster, namespace: str) -> None:
    _create(
        devcluster, namespace, "cronjob", "nightly", "--image=busybox:1.36", "--schedule=0 3 * * *"
    )
    cronjob = _get(devcluster, "cronjob", "nightly", namespace=namespace)

    _create(devcluster, namespace, "job", "manual", "--from=cronjob/nightly")

    job = _get(devcluster, "job", "manual", namespace=namespace)
    assert job["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"] == "manual"
    (owner,) = job["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["uid"]) == (
        "CronJob",
        "nightly",
        cronjob["metadata"]["uid"],
    )
    assert owner["controller"] is True
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "busybox:1.36"


# --- other groups ----------------------------------------------------------------------


def test_create_ingress(devcluster: Devcluster, namespace: str) -> None:
    _create(
        devcluster,
        namespace,
        "ingress",
        "web",
        "--class=nginx",
        "--rule=foo.com/bar=svc1:8080,tls=foo-cert",
        "--rule=bar.com/*=svc2:http",
        "--default-backend=fallback:80",
    )

    spec = _get(devcluster, "ingress", "web", namespace=namespace)["spec"]

    assert spec["ingressClassName"] == "nginx"
    assert spec["defaultBackend"] == {"service": {"name": "fallback", "port": {"number": 80}}}
    assert spec["tls"] == [{"hosts": ["foo.com"], "secretName": "foo-cert"}]
    assert spec["rules"] == [
        {
            "host": "foo.com",
            "http": {
                "paths": [
                    {
                        "path": "/bar",
                        "pathType": "Exact",
                        "backend": {"service": {"name": "svc1", "port": {"number": 8080}}},
                    }
                ]
            },
        },
        {
            "host": "bar.com",
            "http": {
                "paths": [
                    {
                        "path": "/",
                        "pathType": "Prefix",
                        "backend": {"service": {"name": "svc2", "port": {"name": "http"}}},
                    }
                ]
            },
        },
    ]


@pytest.mark.parametrize(
    ("flag", "field", "value"),
    [("--min-available=50%", "minAvailable", "50%"), ("--max-unavailable=1", "maxUnavailable", 1)],
)
def test_create_poddisruptionbudget(
    devcluster: Devcluster, namespace: str, flag: str, field: str, value: int | str
) -> None:
    _create(devcluster, namespace, "poddisruptionbudget", "web", "--selector=app=web", flag)

    spec = _get(devcluster, "pdb", "web", namespace=namespace)["spec"]

    assert spec[field] == value
    assert spec["selector"] == {"matchLabels": {"app": "web"}}


def test_create_priorityclass(devcluster: Devcluster, namespace: str) -> None:
    name = f"{namespace}-high"
    _create(
        devcluster,
        namespace,
        "priorityclass",
        name,
        "--value=1000",
        "--description=important",
        "--preemption-policy=Never",
    )

    priority = _get(devcluster, "priorityclass", name)

    assert (priority["value"], priority["description"]) == (1000, "important")
    assert priority["preemptionPolicy"] == "Never"
    assert "namespace" not in priority["metadata"]


def test_create_quota(devcluster: Devcluster, namespace: str) -> None:
    _create(devcluster, namespace, "quota", "compute", "--hard=cpu=1500m,memory=1Gi,pods=4")
    _create(devcluster, namespace, "quota", "best", "--hard=pods=2", "--scopes=BestEffort")

    compute = _get(devcluster, "quota", "compute", namespace=namespace)["spec"]
    best = _get(devcluster, "quota", "best", namespace=namespace)["spec"]

    assert compute == {"hard": {"cpu": "1500m", "memory": "1Gi", "pods": "4"}}
    assert best == {"hard": {"pods": "2"}, "scopes": ["BestEffort"]}


# --- core/v1 kinds the decoder already had ---------------------------------------------


def test_create_configmap(devcluster: Devcluster, namespace: str) -> None:
    _create(
        devcluster, namespace, "configmap", "settings", "--from-literal=a=b", "--from-literal=c=d"
    )

    assert _get(devcluster, "configmap", "settings", namespace=namespace)["data"] == {
        "a": "b",
        "c": "d",
    }


def test_create_deployment(devcluster: Devcluster, namespace: str) -> None:
    _create(
        devcluster,
        namespace,
        "deployment",
        "web",
        "--image=nginx:1.27",
        "--replicas=2",
        "--port=80",
    )

    spec = _get(devcluster, "deployment", "web", namespace=namespace)["spec"]

    assert (spec["replicas"], spec["selector"]) == (2, {"matchLabels": {"app": "web"}})
    (container,) = spec["template"]["spec"]["containers"]
    assert (container["image"], container["ports"][0]["containerPort"]) == ("nginx:1.27", 80)


def test_create_namespace(devcluster: Devcluster, namespace: str) -> None:
    name = f"{namespace}-extra"
    devcluster.kubectl("create", "namespace", name)

    created = _get(devcluster, "namespace", name)

    assert created["metadata"]["name"] == name
    assert created["status"]["phase"] == "Active"
    devcluster.kubectl("delete", "namespace", name, "--wait=false")


def test_create_secret_generic(devcluster: Devcluster, namespace: str) -> None:
    _create(
        devcluster,
        namespace,
        "secret",
        "generic",
        "creds",
        "--from-literal=user=admin",
        "--type=example.com/creds",
    )

    secret = _get(devcluster, "secret", "creds", namespace=namespace)

    assert secret["type"] == "example.com/creds"
    assert base64.b64decode(secret["data"]["user"]) == b"admin"


def test_create_secret_docker_registry(devcluster: Devcluster, namespace: str) -> None:
    _create(
        devcluster,
        namespace,
        "secret",
        "docker-registry",
        "pull",
        "--docker-server=registry.example.com",
        "--docker-username=u",
        "--docker-password=p",
    )

    secret = _get(devcluster, "secret", "pull", namespace=namespace)

    assert secret["type"] == "kubernetes.io/dockerconfigjson"
    config = json.loads(base64.b64decode(secret["data"][".dockerconfigjson"]))
    entry = config["auths"]["registry.example.com"]
    assert (entry["username"], entry["password"]) == ("u", "p")


def test_create_secret_tls(devcluster: Devcluster, namespace: str, tmp_path: pathlib.Path) -> None:
    tls = credentials.make_tls_material(tmp_path)
    _create(
        devcluster,
        namespace,
        "secret",
        "tls",
        "serving",
        f"--cert={tls.server_cert}",
        f"--key={tls.server_key}",
    )

    secret = _get(devcluster, "secret", "serving", namespace=namespace)

    assert secret["type"] == "kubernetes.io/tls"
    assert base64.b64decode(secret["data"]["tls.crt"]) == tls.server_cert.read_bytes()
    assert base64.b64decode(secret["data"]["tls.key"]) == tls.server_key.read_bytes()


@pytest.mark.parametrize(
    ("kind", "args", "ports"),
    [
        ("clusterip", ("--tcp=80:8080",), (80, 8080)),
        ("nodeport", ("--tcp=80:8080", "--node-port=30080"), (80, 8080)),
        ("loadbalancer", ("--tcp=443:8443",), (443, 8443)),
    ],
)
def test_create_service(
    devcluster: Devcluster, namespace: str, kind: str, args: tuple[str, ...], ports: tuple[int, int]
) -> None:
    _create(devcluster, namespace, "service", kind, "svc", *args)

    spec = _get(devcluster, "service", "svc", namespace=namespace)["spec"]

    assert spec["type"] == {"clusterip": "ClusterIP", "nodeport": "NodePort"}.get(
        kind, "LoadBalancer"
    )
    (port,) = spec["ports"]
    assert (port["port"], port["targetPort"]) == ports
    if kind == "nodeport":
        assert port["nodePort"] == 30080
    assert spec["selector"] == {"app": "svc"}


def test_create_service_externalname(devcluster: Devcluster, namespace: str) -> None:
    _create(
        devcluster, namespace, "service", "externalname", "db", "--external-name=db.example.com"
    )

    spec = _get(devcluster, "service", "db", namespace=namespace)["spec"]

    assert (spec["type"], spec["externalName"]) == ("ExternalName", "db.example.com")


def test_create_serviceaccount(devcluster: Devcluster, namespace: str) -> None:
    _create(devcluster, namespace, "serviceaccount", "robot")

    account = _get(devcluster, "serviceaccount", "robot", namespace=namespace)

    assert (account["metadata"]["name"], account["metadata"]["namespace"]) == ("robot", namespace)


# --- dry run -------------------------------------------------------------------------------

DRY_RUNS: list[tuple[str, tuple[str, ...], str]] = [
    ("role", ("role", "r", "--verb=get", "--resource=pods"), "Role"),
    ("rolebinding", ("rolebinding", "rb", "--role=r", "--user=u"), "RoleBinding"),
    ("clusterrole", ("clusterrole", "{ns}-cr", "--verb=get", "--resource=pods"), "ClusterRole"),
    (
        "clusterrolebinding",
        ("clusterrolebinding", "{ns}-crb", "--clusterrole=cr", "--user=u"),
        "ClusterRoleBinding",
    ),
    ("cronjob", ("cronjob", "cj", "--image=busybox", "--schedule=* * * * *"), "CronJob"),
    ("ingress", ("ingress", "ing", "--rule=foo.com/=svc:80"), "Ingress"),
    (
        "pdb",
        ("poddisruptionbudget", "pdb", "--selector=app=x", "--min-available=1"),
        "PodDisruptionBudget",
    ),
    ("priorityclass", ("priorityclass", "{ns}-pc", "--value=5"), "PriorityClass"),
    ("quota", ("quota", "q", "--hard=pods=1"), "ResourceQuota"),
    ("job", ("job", "j", "--image=busybox"), "Job"),
    ("configmap", ("configmap", "cm", "--from-literal=a=b"), "ConfigMap"),
    ("deployment", ("deployment", "d", "--image=nginx"), "Deployment"),
    ("secret", ("secret", "generic", "s", "--from-literal=a=b"), "Secret"),
    ("service", ("service", "clusterip", "svc", "--tcp=80:80"), "Service"),
    ("serviceaccount", ("serviceaccount", "sa"), "ServiceAccount"),
]


@pytest.mark.parametrize(
    ("args", "kind"), [(a, k) for _, a, k in DRY_RUNS], ids=[n for n, _, _ in DRY_RUNS]
)
def test_server_dry_run_prints_the_object_and_stores_nothing(
    devcluster: Devcluster, namespace: str, args: tuple[str, ...], kind: str
) -> None:
    args = tuple(a.replace("{ns}", namespace) for a in args)

    out = _create(devcluster, namespace, *args, "--dry-run=server", "-o", "yaml")

    printed = yaml.safe_load(out)
    name = printed["metadata"]["name"]
    assert (printed["kind"], name) == (
        kind,
        args[2] if args[0] in ("secret", "service") else args[1],
    )
    assert printed["metadata"]["uid"]
    assert printed["metadata"]["creationTimestamp"]
    plural = {"PodDisruptionBudget": "pdb", "ResourceQuota": "quota"}.get(kind, kind.lower())
    missing = devcluster.kubectl("get", "-n", namespace, plural, name, check=False)
    assert missing.returncode != 0
    assert "NotFound" in missing.stderr
