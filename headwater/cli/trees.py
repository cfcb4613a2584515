"""``tree kustomization`` and ``tree helmrelease``: what a Flux object applied, nested.

A Kustomization's children are its ``status.inventory`` (itself left out,
as Flux does); a HelmRelease's are the objects of its latest release in
Helm's storage (``releases.applied``). Every child Kustomization or
HelmRelease is expanded in turn, so a tree follows Kustomizations that
apply HelmReleases that apply Kustomizations. The children of a
Kustomization that applies to another cluster (``spec.kubeConfig``) are not
expanded, as they live there; a child that is gone is shown as a leaf.
``--compact`` keeps only Flux objects. ``-o json|yaml`` prints Flux's tree
structure (``resource`` with ``Namespace``, ``Name``, ``GroupKind``, and
``resources`` for the children).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ruamel.yaml import YAML

from headwater.cli import kinds, releases, session
from shared.kube import client, errors, inventory, resources

_FLUX_GROUP = "toolkit.fluxcd.io"
_MAX_DEPTH = 20
_KUSTOMIZATION = ("kustomize.toolkit.fluxcd.io", "Kustomization")
_HELMRELEASE = (releases.GROUP, "HelmRelease")


def _node(ref: inventory.Ref) -> dict[str, Any]:
    return {
        "resource": {
            "Namespace": ref.namespace,
            "Name": ref.name,
            "GroupKind": {"Group": ref.group, "Kind": ref.kind},
        }
    }


class _Walker:
    """One tree walk: the client, discovery cache and ``--compact``."""

    def __init__(self, api: client.Client, *, compact: bool) -> None:
        self.api = api
        self.discovery = resources.Discovery(api)
        self.compact = compact

    async def _get(self, kind_name: str, ref: inventory.Ref) -> dict[str, Any] | None:
        kind = kinds.by_kind_name(kind_name)
        try:
            found: dict[str, Any] = await self.api.request(
                "GET", kind.resource.path(namespace=ref.namespace, name=ref.name)
            )
        except errors.NotFoundError:
            return None
        return found

    async def _children(self, ref: inventory.Ref) -> tuple[list[inventory.Ref], bool]:
        """What ``ref`` applied, and whether those objects are in this cluster."""
        group_kind = (ref.group, ref.kind)
        if group_kind == _KUSTOMIZATION:
            ks = await self._get("Kustomization", ref)
            if ks is None:
                return [], False
            entries = ((ks.get("status") or {}).get("inventory") or {}).get("entries")
            children = [c for c in inventory.from_entries(entries) if c.key != ref.key]
            return children, not (ks.get("spec") or {}).get("kubeConfig")
        if group_kind == _HELMRELEASE:
            hr = await self._get("HelmRelease", ref)
            if hr is None:
                return [], False
            return await releases.applied(self.api, hr, self.discovery), True
        return [], False

    async def tree(self, ref: inventory.Ref, depth: int = 0) -> dict[str, Any]:
        """Flux's tree node of ``ref`` and everything it applied."""
        node = _node(ref)
        children, local = await self._children(ref)
        nodes = []
        for child in children:
            if self.compact and _FLUX_GROUP not in child.group:
                continue
            if local and depth < _MAX_DEPTH:
                nodes.append(await self.tree(child, depth + 1))
            else:
                nodes.append(_node(child))
        if nodes:
            node["resources"] = nodes
        return node


def _text(node: dict[str, Any]) -> str:
    meta = node["resource"]
    ref = inventory.Ref(
        group=meta["GroupKind"]["Group"],
        kind=meta["GroupKind"]["Kind"],
        namespace=meta["Namespace"],
        name=meta["Name"],
    )
    return str(ref)


def render(node: dict[str, Any]) -> list[str]:
    """Flux's tree printout: the root, then ``├──``/``└──`` branches."""
    lines = [_text(node)]

    def branch(children: list[dict[str, Any]], prefix: str) -> None:
        for index, child in enumerate(children):
            last = index == len(children) - 1
            lines.append(f"{prefix}{'└── ' if last else '├── '}{_text(child)}")
            branch(child.get("resources") or [], prefix + ("    " if last else "│   "))

    branch(node.get("resources") or [], "")
    return lines


async def _run_tree(api: client.Client, args: argparse.Namespace) -> int:
    kind: kinds.Kind = args.kind
    await api.request("GET", kind.resource.path(namespace=args.namespace, name=args.name))
    root = inventory.Ref(
        group=kind.model.crd.group, kind=kind.name, namespace=args.namespace, name=args.name
    )
    tree = await _Walker(api, compact=args.compact).tree(root)
    if args.output == "json":
        json.dump(tree, sys.stdout, indent=2)
        print()
    elif args.output == "yaml":
        YAML().dump(tree, sys.stdout)
    else:
        print("\n".join(render(tree)))
    return 0


def register(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
) -> None:
    def configure_tree(parser: argparse.ArgumentParser, _: kinds.Kind) -> None:
        parser.add_argument("name")
        parser.add_argument("--compact", action="store_true", help="list Flux objects only")
        parser.add_argument("-o", "--output", choices=("json", "yaml"), help="the tree as data")
        parser.set_defaults(run=lambda args: session.run(_run_tree, args))

    kinds.add_verb(
        commands,
        "tree",
        help="print what a Kustomization or HelmRelease applied, nested",
        configure=configure_tree,
        common=common,
        kinds=[kinds.by_kind_name("Kustomization"), kinds.by_kind_name("HelmRelease")],
    )
