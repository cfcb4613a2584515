"""The install manifests: the CRDs plus ``deploy/`` rendered for a namespace and components.

``render`` then ``build`` give what ``headwater install`` applies and
``install --export`` prints: the CRDs of every kind (``shared.api.crdgen``, the files of
``crds/``), then the kustomize base ``deploy/`` built by ``kubectl
kustomize`` — so with the default flags and every component the objects are
exactly those ``kubectl apply -k deploy/`` applies. Another namespace is set
by an overlay with kustomize's own namespace transformer (which also renames
the Namespace object and the ServiceAccount subjects of the bindings).

``customize`` applies Flux's install flags that change the Deployments
(watched namespaces, log level, cluster domain, registry, image pull
Secret, tolerations).

Components are the controllers, named as Flux names them. An object belongs
to the component its ``app.kubernetes.io/component`` label names, else (the
RBAC in ``deploy/rbac.yaml``) to the one its name names: the ServiceAccount
``<component>`` and the ClusterRole and ClusterRoleBinding
``headwater-<component>``. Objects of no component (the Namespace, the
leader-election Role, the NetworkPolicies) are always installed, the
NetworkPolicies unless ``network_policy`` is off.
"""

from __future__ import annotations

import copy
import dataclasses
import pathlib
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from typing import Any

import yaml

from shared.api import crdgen, registry

DEFAULT_COMPONENTS = (
    "source-controller",
    "kustomize-controller",
    "helm-controller",
    "notification-controller",
)
EXTRA_COMPONENTS = ("image-reflector-controller", "image-automation-controller")
COMPONENT_LABEL = "app.kubernetes.io/component"
PART_OF_LABEL = "app.kubernetes.io/part-of"
PART_OF = "headwater"
DEFAULT_NAMESPACE = "flux-system"


class ManifestError(Exception):
    """The manifests could not be built (the message says what to do)."""


def deploy_directory() -> pathlib.Path:
    """``deploy/`` as the package carries it (``headwater/data/deploy``, a link in a checkout)."""
    return (pathlib.Path(__file__).resolve().parents[1] / "data" / "deploy").resolve()


@dataclasses.dataclass(frozen=True, kw_only=True)
class Options:
    """What to render: the base's directory, the namespace, the kubectl to build with."""

    namespace: str = DEFAULT_NAMESPACE
    directory: pathlib.Path = dataclasses.field(default_factory=deploy_directory)
    kubectl: str = "kubectl"


def render(options: Options) -> list[dict[str, Any]]:
    """``kubectl kustomize`` of the base, in ``options.namespace``; the objects in order."""
    if not (options.directory / "kustomization.yaml").is_file():
        raise ManifestError(
            f"no kustomization.yaml in {options.directory}; pass --manifests with deploy/'s path"
        )
    with tempfile.TemporaryDirectory(prefix="headwater-install-") as scratch:
        root = pathlib.Path(scratch)
        # NB: kustomize refuses an absolute base path, and a relative one would
        # depend on where the scratch directory lies: a copy is simplest.
        shutil.copytree(options.directory, root / "base")
        target = root / "base"
        if options.namespace != DEFAULT_NAMESPACE:
            overlay = {"resources": ["base"], "namespace": options.namespace}
            (root / "kustomization.yaml").write_text(yaml.safe_dump(overlay))
            target = root
        built = subprocess.run(
            [options.kubectl, "kustomize", str(target)],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
    if built.returncode != 0:
        failed = built.stderr.strip()
        raise ManifestError(f"kustomize build of {options.directory} failed: {failed}")
    return [doc for doc in yaml.safe_load_all(built.stdout) if doc]


def component_of(obj: dict[str, Any]) -> str | None:
    """The component ``obj`` belongs to, or None (see the module docstring)."""
    metadata = obj.get("metadata") or {}
    labelled = (metadata.get("labels") or {}).get(COMPONENT_LABEL)
    if labelled:
        return str(labelled)
    name = str(metadata.get("name", ""))
    if obj.get("kind") == "ServiceAccount":
        return name
    if obj.get("kind") in ("ClusterRole", "ClusterRoleBinding") and name.startswith("headwater-"):
        return name.removeprefix("headwater-")
    return None


def available(objs: Iterable[dict[str, Any]]) -> list[str]:
    """The components the manifests hold: the names of their Deployments."""
    return [o["metadata"]["name"] for o in objs if o.get("kind") == "Deployment"]


def select(
    objs: Iterable[dict[str, Any]], components: Sequence[str], *, network_policy: bool
) -> list[dict[str, Any]]:
    """The objects of ``components`` and of no component (module docstring)."""
    kept = []
    for obj in objs:
        if obj.get("kind") == "NetworkPolicy" and not network_policy:
            continue
        component = component_of(obj)
        if component is None or component in components:
            kept.append(obj)
    return kept


@dataclasses.dataclass(frozen=True, kw_only=True)
class Customization:
    """Flux's install flags that change the controllers' Deployments (defaults: none)."""

    watch_all_namespaces: bool = True
    log_level: str = "info"
    cluster_domain: str = "cluster.local"
    registry: str = ""
    image_pull_secret: str = ""
    toleration_keys: Sequence[str] = ()


def _customized_args(args: list[str], name: str, custom: Customization) -> list[str]:
    replaced = []
    for arg in args:
        if arg.startswith("--watch-all-namespaces="):
            arg = f"--watch-all-namespaces={str(custom.watch_all_namespaces).lower()}"
        elif arg.startswith("--log-level="):
            arg = f"--log-level={custom.log_level}"
        replaced.append(arg.replace(".svc.cluster.local.", f".svc.{custom.cluster_domain}."))
    if name == "source-controller" and custom.cluster_domain != "cluster.local":
        # NB: its default advertised address assumes cluster.local.
        replaced.append(
            f"--storage-adv-addr={name}.$(RUNTIME_NAMESPACE).svc.{custom.cluster_domain}."
        )
    return replaced


def customize(objs: Iterable[dict[str, Any]], custom: Customization) -> list[dict[str, Any]]:
    """``objs`` with the Deployments changed as Flux's install flags change them.

    ``--watch-all-namespaces`` and ``--log-level`` replace those arguments,
    ``--cluster-domain`` the domain of the in-cluster addresses, ``--registry``
    prefixes the image, ``--image-pull-secret`` and ``--toleration-keys`` add
    to the pod spec. The default changes nothing.
    """
    changed = []
    for obj in objs:
        if obj.get("kind") != "Deployment":
            changed.append(obj)
            continue
        deployment = copy.deepcopy(obj)
        pod = deployment["spec"]["template"]["spec"]
        for container in pod["containers"]:
            name = deployment["metadata"]["name"]
            container["args"] = _customized_args(container.get("args") or [], name, custom)
            if custom.registry:
                image = str(container["image"]).rsplit("/", 1)[-1]
                container["image"] = f"{custom.registry.rstrip('/')}/{image}"
        if custom.image_pull_secret:
            pod["imagePullSecrets"] = [{"name": custom.image_pull_secret}]
        if custom.toleration_keys:
            pod["tolerations"] = [
                {"key": key, "operator": "Exists"} for key in custom.toleration_keys
            ]
        changed.append(deployment)
    return changed


def crds() -> list[dict[str, Any]]:
    """The CustomResourceDefinition of every kind, as ``headwater export crds`` prints them."""
    return [crdgen.crd_for(kind) for kind in registry.all_kinds()]


def build(
    objs: Sequence[dict[str, Any]],
    *,
    components: Sequence[str],
    network_policy: bool = True,
) -> list[dict[str, Any]]:
    """The CRDs, then the objects of ``components`` (``ManifestError`` for one not held)."""
    missing = [c for c in components if c not in available(objs)]
    if missing:
        raise ManifestError(
            f"component {', '.join(missing)} is not in the manifests "
            f"(they hold: {', '.join(available(objs))})"
        )
    return crds() + select(objs, components, network_policy=network_policy)


def to_yaml(objs: Iterable[dict[str, Any]]) -> str:
    """One YAML stream, each document after ``---``, as ``flux install --export`` prints."""
    return "".join(
        "---\n" + yaml.safe_dump(obj, sort_keys=False, default_flow_style=False) for obj in objs
    )
