"""``export`` and ``delete`` of Flux objects.

``export <kind> NAME`` (or ``--all``) prints the objects as YAML a user can
commit and apply again: apiVersion, kind, name, namespace, labels,
annotations and spec — no status, managed fields, uid or resourceVersion,
and no request annotations. ``delete <kind> NAME`` asks first on a terminal;
``--silent`` deletes without asking (needed when stdin is not a terminal).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.scalarstring import LiteralScalarString

from headwater.cli import getting, kinds, session, terminal
from shared.kube import client

_DROPPED_ANNOTATIONS = ("kubectl.kubernetes.io/", "reconcile.fluxcd.io/")


def clean(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` as a user would write it (see the module docstring)."""
    metadata = obj.get("metadata") or {}
    kept: dict[str, Any] = {"name": metadata["name"]}
    if metadata.get("namespace"):
        kept["namespace"] = metadata["namespace"]
    if metadata.get("labels"):
        kept["labels"] = dict(metadata["labels"])
    annotations = {
        key: value
        for key, value in (metadata.get("annotations") or {}).items()
        if not key.startswith(_DROPPED_ANNOTATIONS)
    }
    if annotations:
        kept["annotations"] = annotations
    cleaned = {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "metadata": kept}
    for field in ("spec", "data", "stringData", "type"):
        if field in obj:
            cleaned[field] = obj[field]
    return cleaned


def print_yaml(objs: list[dict[str, Any]]) -> None:
    """Each object as a YAML document starting with ``---`` (as ``flux export``)."""
    yaml = YAML()
    yaml.default_flow_style = False
    for obj in objs:
        sys.stdout.write("---\n")
        yaml.dump(obj, sys.stdout)


def _flux_shaped(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _flux_shaped(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [_flux_shaped(item) for item in value]
    if isinstance(value, str) and "\n" in value:
        return LiteralScalarString(value)
    return value


def print_flux_yaml(objs: list[dict[str, Any]]) -> None:
    """Each object as ``flux export`` and ``flux create --export`` print it.

    A ``---`` line, then the object with its keys sorted at every level (Go
    marshals objects through JSON maps), multi-line strings as literal
    blocks and no line wrapping.
    """
    yaml = YAML()
    yaml.default_flow_style = False
    yaml.width = 4096
    for obj in objs:
        sys.stdout.write("---\n")
        yaml.dump(_flux_shaped(obj), sys.stdout)


async def _export(api: client.Client, args: argparse.Namespace) -> int:
    kind: kinds.Kind = args.kind
    if args.all:
        objs = await getting.list_objects(api, kind, namespace=args.namespace)
    elif args.name:
        objs = await getting.list_objects(api, kind, namespace=args.namespace, name=args.name)
    else:
        raise session.CliError(f"name is required; or use --all for every {kind.words}")
    if not objs:
        raise session.CliError(f"no {kind.words} objects found in {args.namespace} namespace")
    print_flux_yaml([clean(obj) for obj in objs])
    return 0


def confirmed(question: str) -> bool:
    """Whether the user answered yes on a terminal (never without one)."""
    if not sys.stdin.isatty():
        return False
    answer = input(f"{question} [y/N] ")
    return answer.strip().lower() in ("y", "yes")


async def _delete(api: client.Client, args: argparse.Namespace) -> int:
    kind: kinds.Kind = args.kind
    path = kind.resource.path(namespace=args.namespace, name=args.name)
    await api.request("GET", path)
    if not args.silent and not confirmed(f"Are you sure you want to delete this {kind.words}"):
        raise session.CliError("deletion not confirmed; add --silent to delete without asking")
    terminal.action(f"deleting {kind.words} {args.name} in {args.namespace} namespace")
    await api.request("DELETE", path)
    terminal.success(f"{kind.words} deleted")
    return 0


def register(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    export_what: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
) -> None:
    def configure_export(parser: argparse.ArgumentParser, _: kinds.Kind) -> None:
        parser.add_argument("name", nargs="?")
        parser.add_argument("--all", action="store_true", help="every object in the namespace")
        parser.set_defaults(run=lambda args: session.run(_export, args))

    kinds.add_kinds(export_what, configure=configure_export, parents=[common], help_verb="export")

    def configure_delete(parser: argparse.ArgumentParser, _: kinds.Kind) -> None:
        parser.add_argument("name")
        parser.add_argument("-s", "--silent", action="store_true", help="do not ask to confirm")
        parser.set_defaults(run=lambda args: session.run(_delete, args))

    kinds.add_verb(
        commands, "delete", help="delete a Flux object", configure=configure_delete, common=common
    )
