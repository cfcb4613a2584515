"""``install`` and ``uninstall``: Headwater's controllers in a cluster, as ``flux`` does it.

``install`` builds the manifests (``headwater.cli.manifests``: the CRDs and
``deploy/``), prints them with ``--export``, or server-side applies them
(field manager ``headwater``) in Flux's stages — CRDs and Namespaces first,
then, once the CRDs are Established, the rest — printing a line per object
(``created``, ``configured`` or ``unchanged``), and waits until the
components' Deployments are ready. ``--components`` (Flux's four by
default) and ``--components-extra`` pick the controllers (and ``--watch-all-namespaces``,
``--log-level``, ``--cluster-domain``, ``--registry``, ``--image-pull-secret``,
``--toleration-keys`` change them, see ``manifests.customize``); a default one
that ``deploy/`` does not hold is skipped with a note, a named one is an
error. Applying again is an in-place upgrade.

``uninstall`` deletes, in Flux's order: the components (Deployments,
Services, NetworkPolicies, ServiceAccounts, Roles and RoleBindings in the
namespace; ClusterRoles and ClusterRoleBindings — all carrying the
``app.kubernetes.io/part-of: headwater`` label), the finalizers of every
Flux object in every namespace (no controller is left to remove them), the
CRDs (and with them every Flux object), then the namespace unless
``--keep-namespace``. It asks first on a terminal; ``--silent`` does not
ask; ``--dry-run`` only says what it would delete (server-side dry runs).
"""

from __future__ import annotations

import argparse
import pathlib
import sys
from typing import Any

from headwater import dev
from headwater.cli import exporting, kinds, manifests, session, terminal
from shared.kube import (
    applying,
    client,
    errors,
    inventory,
    resourcemanager,
    resources,
    waiting,
)

FIELD_MANAGER = "headwater"
DEFAULTS = manifests.DEFAULT_COMPONENTS
_WAIT_INTERVAL = 1.0

_RBAC = "rbac.authorization.k8s.io"


def _resource(group: str, kind: str, plural: str, *, namespaced: bool = True) -> resources.Resource:
    return resources.Resource(
        group=group, version="v1", kind=kind, plural=plural, namespaced=namespaced
    )


_NAMESPACED = (
    _resource("apps", "Deployment", "deployments"),
    _resource("", "Service", "services"),
    _resource("networking.k8s.io", "NetworkPolicy", "networkpolicies"),
    _resource("", "ServiceAccount", "serviceaccounts"),
    _resource(_RBAC, "RoleBinding", "rolebindings"),
    _resource(_RBAC, "Role", "roles"),
)
_CLUSTER = (
    _resource(_RBAC, "ClusterRole", "clusterroles", namespaced=False),
    _resource(_RBAC, "ClusterRoleBinding", "clusterrolebindings", namespaced=False),
)
_CRDS = _resource(
    "apiextensions.k8s.io",
    "CustomResourceDefinition",
    "customresourcedefinitions",
    namespaced=False,
)
_NAMESPACES = _resource("", "Namespace", "namespaces", namespaced=False)


def _components(args: argparse.Namespace, held: list[str]) -> list[str]:
    """The components asked for; a defaulted one the manifests do not hold is dropped."""
    defaulted = args.components is None
    wanted = list(dict.fromkeys([*(args.components or DEFAULTS), *args.components_extra]))
    known = manifests.DEFAULT_COMPONENTS + manifests.EXTRA_COMPONENTS
    unknown = [c for c in wanted if c not in known]
    if unknown:
        raise session.CliError(
            f"component {', '.join(unknown)} is not available (known: {', '.join(known)})"
        )
    if defaulted:
        for component in [c for c in DEFAULTS if c not in held]:
            terminal.action(f"{component}: not in {args.manifests}, skipped")
            wanted.remove(component)
    return wanted


def _ref_line(obj: dict[str, Any]) -> str:
    metadata = obj["metadata"]
    namespace = metadata.get("namespace")
    return "/".join([obj["kind"], *([namespace] if namespace else []), metadata["name"]])


async def _apply_one(objects: applying.Objects, obj: dict[str, Any]) -> str:
    ref = inventory.Ref.of(obj)
    try:
        before = await objects.get(
            ref.api_version, ref.kind, ref.name, namespace=ref.namespace or None
        )
    except errors.NotFoundError:
        before = None
    after = await objects.apply(obj, field_manager=FIELD_MANAGER, force=True)
    if before is None:
        return "created"
    same = before["metadata"].get("resourceVersion") == after["metadata"].get("resourceVersion")
    return "unchanged" if same else "configured"


async def _wait(
    manager: resourcemanager.ResourceManager,
    refs: list[inventory.Ref],
    args: argparse.Namespace,
) -> None:
    try:
        await manager.wait(refs, interval=_WAIT_INTERVAL, within=args.timeout)
    except waiting.WaitError as error:
        raise session.CliError(
            f"install failed: {error.message}; see: kubectl -n {args.namespace} get events"
        ) from error


async def _install(api: client.Client, args: argparse.Namespace) -> int:
    objs: list[dict[str, Any]] = args.objects
    terminal.action(f"installing components in {args.namespace} namespace")
    objects = applying.Objects(api=api, discovery=resources.Discovery(api))
    manager = resourcemanager.ResourceManager(objects=objects, field_manager=FIELD_MANAGER)
    for stage in inventory.stages(objs):
        for obj in stage:
            print(f"{_ref_line(dict(obj))} {await _apply_one(objects, dict(obj))}")
        if inventory.is_cluster_definition(stage[0]):
            await _wait(manager, [inventory.Ref.of(o) for o in stage], args)
            objects.discovery.forget()
    deployments = [inventory.Ref.of(o) for o in objs if o["kind"] == "Deployment"]
    async with terminal.progress("verifying installation"):
        await _wait(manager, deployments, args)
    for ref in deployments:
        terminal.success(f"{ref.name}: deployment ready")
    terminal.success("install finished")
    return 0


def _customization(args: argparse.Namespace) -> manifests.Customization:
    return manifests.Customization(
        watch_all_namespaces=args.watch_all_namespaces,
        log_level=args.log_level,
        cluster_domain=args.cluster_domain,
        registry=args.registry or "",
        image_pull_secret=args.image_pull_secret or "",
        toleration_keys=args.toleration_keys,
    )


def _run_install(args: argparse.Namespace) -> int:
    options = manifests.Options(
        namespace=args.namespace,
        directory=pathlib.Path(args.manifests),
        kubectl=dev.kubectl_path(),
    )
    try:
        if not args.export:
            terminal.generating("generating manifests")
        rendered = manifests.render(options)
        components = _components(args, manifests.available(rendered))
        built = manifests.build(rendered, components=components, network_policy=args.network_policy)
        args.objects = manifests.customize(built, _customization(args))
    except (session.CliError, manifests.ManifestError) as error:
        terminal.failure(str(error))
        return 1
    if args.export:
        sys.stdout.write(manifests.to_yaml(args.objects))
        return 0
    terminal.success("manifests build completed")
    return session.run(_install, args)


async def _delete(api: client.Client, path: str, line: str, *, dry_run: bool, suffix: str) -> bool:
    query = {"dryRun": "All"} if dry_run else None
    try:
        await api.request("DELETE", path, query=query)
    except errors.NotFoundError:
        return True
    except errors.KubeError as error:
        terminal.failure(f"{line} deletion failed: {error}")
        return False
    terminal.success(f"{line} deleted{suffix}")
    return True


async def _labelled(api: client.Client, resource: resources.Resource, namespace: str | None) -> Any:
    selector = f"{manifests.PART_OF_LABEL}={manifests.PART_OF}"
    listing = await api.request(
        "GET", resource.path(namespace=namespace), query={"labelSelector": selector}
    )
    return listing.get("items") or []


async def _uninstall(api: client.Client, args: argparse.Namespace) -> int:
    if (
        not args.dry_run
        and not args.silent
        and not exporting.confirmed(
            "Are you sure you want to delete Headwater and its custom resource definitions"
        )
    ):
        raise session.CliError("uninstall not confirmed; add --silent to uninstall without asking")
    suffix = " (dry run)" if args.dry_run else ""
    query = {"dryRun": "All"} if args.dry_run else None
    ok = True
    terminal.action(f"deleting components in {args.namespace} namespace")
    for resource in (*_NAMESPACED, *_CLUSTER):
        namespace = args.namespace if resource.namespaced else None
        for obj in await _labelled(api, resource, namespace):
            name = obj["metadata"]["name"]
            line = "/".join([resource.kind, *([namespace] if namespace else []), name])
            path = resource.path(namespace=namespace, name=name)
            ok = await _delete(api, path, line, dry_run=args.dry_run, suffix=suffix) and ok

    terminal.action("deleting toolkit.fluxcd.io finalizers in all namespaces")
    for kind in kinds.all_kinds():
        try:
            listing = await api.request("GET", kind.resource.path())
        except errors.NotFoundError:
            continue  # the CRD is not installed
        for obj in listing.get("items") or []:
            if not obj["metadata"].get("finalizers"):
                continue
            namespace, name = obj["metadata"].get("namespace"), obj["metadata"]["name"]
            await api.request(
                "PATCH",
                kind.resource.path(namespace=namespace, name=name),
                query=query,
                body={"metadata": {"finalizers": None}},
                content_type=client.MERGE_PATCH,
            )
            terminal.success(f"{kind.name}/{namespace}/{name} finalizers deleted{suffix}")

    terminal.action("deleting toolkit.fluxcd.io custom resource definitions")
    for kind in kinds.all_kinds():
        crd = kind.model.crd
        name = f"{crd.plural}.{crd.group}"
        path = _CRDS.path(name=name)
        line = f"CustomResourceDefinition/{name}"
        ok = await _delete(api, path, line, dry_run=args.dry_run, suffix=suffix) and ok

    if not args.keep_namespace:
        path = _NAMESPACES.path(name=args.namespace)
        line = f"Namespace/{args.namespace}"
        ok = await _delete(api, path, line, dry_run=args.dry_run, suffix=suffix) and ok
    if not ok:
        terminal.failure("uninstall failed")
        return 1
    terminal.success("uninstall finished")
    return 0


def register(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
) -> None:
    install = commands.add_parser(
        "install", parents=[common], help="install or upgrade Headwater's controllers"
    )
    install.add_argument(
        "--export", action="store_true", help="print the install manifests, apply nothing"
    )
    install.add_argument(
        "--components",
        type=lambda text: [c for c in text.split(",") if c],
        default=None,
        help=f"comma-separated components (default {','.join(manifests.DEFAULT_COMPONENTS)})",
    )
    install.add_argument(
        "--components-extra",
        type=lambda text: [c for c in text.split(",") if c],
        default=[],
        help=f"components in addition (such as {','.join(manifests.EXTRA_COMPONENTS)})",
    )
    install.add_argument(
        "--network-policy",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="install Flux's NetworkPolicies (default true)",
    )
    install.add_argument(
        "--watch-all-namespaces",
        type=lambda text: text.lower() in ("true", "1", "yes"),
        default=True,
        help="watch every namespace (false: only the install namespace); default true",
    )
    install.add_argument("--log-level", choices=("debug", "info", "error"), default="info")
    install.add_argument("--cluster-domain", default="cluster.local", help="the cluster's domain")
    install.add_argument("--registry", help="the registry (and path) the image is pulled from")
    install.add_argument("--image-pull-secret", help="a Secret to pull the image with")
    install.add_argument(
        "--toleration-keys",
        type=lambda text: [k for k in text.split(",") if k],
        default=[],
        help="comma-separated taint keys the pods tolerate",
    )
    install.add_argument(
        "--manifests",
        default=str(manifests.deploy_directory()),
        help="the kustomize base to install (default: deploy/, which the package carries)",
    )
    install.set_defaults(run=_run_install)

    uninstall = commands.add_parser(
        "uninstall", parents=[common], help="uninstall Headwater and its CRDs"
    )
    uninstall.add_argument("--keep-namespace", action="store_true", help="do not delete it")
    uninstall.add_argument(
        "--dry-run", action="store_true", help="only print the objects that would be deleted"
    )
    uninstall.add_argument("-s", "--silent", action="store_true", help="do not ask to confirm")
    uninstall.set_defaults(run=lambda args: session.run(_uninstall, args))
