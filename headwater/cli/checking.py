"""``check`` (is the cluster ready for Flux, and is Flux ready) and ``stats``.

``check --pre`` checks that the API server answers and is Kubernetes
>=1.30. ``check`` also checks that every Flux CRD is installed and
Established, and that each controller Deployment installed in the namespace
is ready (a controller not installed is reported, not failed). Exit code 0
when every check passed, 1 otherwise.

``stats`` counts the objects of every kind: how many, failing (Ready=False),
suspended, and the bytes of the artifacts sources store.
"""

from __future__ import annotations

import argparse
import re
from typing import Any

from headwater.cli import getting, kinds, session, terminal
from shared.kube import client, errors

MINIMUM_KUBERNETES = (1, 30)
CONTROLLERS = (
    "source-controller",
    "kustomize-controller",
    "helm-controller",
    "notification-controller",
    "image-reflector-controller",
    "image-automation-controller",
)


async def _prerequisites(api: client.Client) -> bool:
    terminal.action("checking prerequisites")
    version = await api.request("GET", "/version")
    git_version = str(version.get("gitVersion", ""))
    found = re.match(r"v?(\d+)\.(\d+)", git_version)
    wanted = ".".join(map(str, MINIMUM_KUBERNETES))
    if found and (int(found[1]), int(found[2])) >= MINIMUM_KUBERNETES:
        terminal.success(f"Kubernetes {git_version} >={wanted}.0-0")
        return True
    terminal.failure(f"Kubernetes {git_version} does not match >={wanted}.0-0; upgrade the cluster")
    return False


def _deployment_ready(deployment: dict[str, Any]) -> bool:
    spec, status = deployment.get("spec") or {}, deployment.get("status") or {}
    replicas = spec.get("replicas", 1)
    return bool(
        status.get("observedGeneration", 0) >= deployment["metadata"].get("generation", 0)
        and status.get("readyReplicas", 0) >= replicas
        and status.get("updatedReplicas", 0) >= replicas
    )


async def _controllers(api: client.Client, namespace: str) -> bool:
    terminal.action("checking controllers")
    ok, installed = True, 0
    for name in CONTROLLERS:
        try:
            deployment = await api.request(
                "GET", f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}"
            )
        except errors.NotFoundError:
            continue
        installed += 1
        if _deployment_ready(deployment):
            terminal.success(f"{name}: deployment ready")
        else:
            ok = False
            terminal.failure(
                f"{name}: deployment not ready; "
                f"see: kubectl -n {namespace} describe deployment {name}"
            )
        for container in deployment["spec"]["template"]["spec"].get("containers", []):
            terminal.action(str(container.get("image", "")))
    if not installed:
        terminal.action(f"no controller Deployments installed in {namespace} namespace")
    return ok


async def _crds(api: client.Client) -> bool:
    terminal.action("checking crds")
    ok = True
    for kind in kinds.all_kinds():
        crd = kind.model.crd
        name = f"{crd.plural}.{crd.group}"
        try:
            obj = await api.request(
                "GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}"
            )
        except errors.NotFoundError:
            ok = False
            terminal.failure(
                f"{name}: not installed; "
                "run: headwater export crds | kubectl apply --server-side -f -"
            )
            continue
        established = session.condition(obj, "Established")
        if established and established.get("status") == "True":
            terminal.success(f"{name}/{crd.version}")
        else:
            ok = False
            terminal.failure(f"{name}: not established yet")
    return ok


async def _check(api: client.Client, args: argparse.Namespace) -> int:
    ok = await _prerequisites(api)
    if args.pre:
        if ok:
            terminal.success("prerequisites checks passed")
        return 0 if ok else 1
    ok = await _controllers(api, args.namespace) and ok
    ok = await _crds(api) and ok
    if ok:
        terminal.success("all checks passed")
        return 0
    terminal.failure("check failed")
    return 1


def _size(total: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if total < 1024 or unit == "GiB":
            return f"{total:.1f} {unit}" if unit != "B" else f"{total} B"
        total //= 1024
    return f"{total} GiB"


async def _stats(api: client.Client, args: argparse.Namespace) -> int:
    namespace = None if args.all_namespaces else args.namespace
    rows = []
    for kind in kinds.all_kinds():
        try:
            objs = await getting.list_objects(api, kind, namespace=namespace)
        except errors.NotFoundError:
            continue  # the kind's CRD is not installed
        failing = sum(getting.ready(o)[0] == "False" for o in objs)
        suspended = sum(kinds.is_suspended(o) for o in objs)
        sizes = [((o.get("status") or {}).get("artifact") or {}).get("size") for o in objs]
        storage = _size(sum(s or 0 for s in sizes)) if kind.is_source else "-"
        rows.append([kind.name, str(len(objs) - suspended), str(failing), str(suspended), storage])
    terminal.table(["RECONCILERS", "RUNNING", "FAILING", "SUSPENDED", "STORAGE"], rows)
    return 0


def register(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
) -> None:
    check = commands.add_parser(
        "check", parents=[common], help="check the cluster and the Flux installation"
    )
    check.add_argument("--pre", action="store_true", help="only the prerequisites")
    check.set_defaults(run=lambda args: session.run(_check, args))
    stats = commands.add_parser("stats", parents=[common], help="count the Flux objects by kind")
    stats.add_argument("-A", "--all-namespaces", action="store_true", help="every namespace")
    stats.set_defaults(run=lambda args: session.run(_stats, args))
