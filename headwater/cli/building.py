"""``build kustomization``, ``diff kustomization`` and ``envsubst``.

``build kustomization NAME --path DIR`` renders DIR as kustomize-controller
would render the cluster's Kustomization NAME: its overlays (target
namespace, prefixes, patches, images, components), ``kubectl kustomize``,
post-build substitution with the variables of its ``substituteFrom``
ConfigMaps and Secrets read from the cluster, and the owner labels. The
rendering is the controller's own code (``controllers.kustomize.building``),
run on a scratch copy of DIR, so the two cannot disagree.

``diff kustomization`` server-side dry-runs each built object as
kustomize-controller (``dryRun=All``, field manager
``kustomize-controller``), prints each object that would be created or
changed (with the changed fields) and, with ``prune``, each object of the
inventory that would be deleted. Exit code 0 with no difference, 1 with
one, 2 when the diff could not be made — what a pull-request check needs.

``envsubst`` substitutes ``${VAR}`` (with bash's defaults and operators) from
the environment in stdin, as Flux's post-build does; ``--strict`` fails on
a variable that is not set and has no default.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pathlib
import shutil
import sys
import tempfile
from typing import Any

from headwater.cli import exporting, kinds, session, terminal
from shared.api import kustomize
from shared.kube import applying, client, errors, inventory, resourcemanager, resources


async def _variables(
    api: client.Client, spec: kustomize.KustomizationSpec, namespace: str
) -> dict[str, str]:
    from controllers.kustomize import substituting

    async def fetch(reference: kustomize.SubstituteReference) -> dict[str, Any] | None:
        resource = resources.CONFIG_MAPS if reference.kind == "ConfigMap" else resources.SECRETS
        try:
            found: dict[str, Any] = await api.request(
                "GET", resource.path(namespace=namespace, name=reference.name)
            )
        except errors.NotFoundError:
            return None
        return found

    try:
        return await substituting.collect_variables(spec.post_build, fetch=fetch)
    except substituting.SubstitutionError as error:
        raise session.CliError(str(error)) from error


async def build_objects(
    api: client.Client, args: argparse.Namespace
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The cluster's Kustomization and the objects ``--path`` builds to for it."""
    from controllers.kustomize import building

    source = pathlib.Path(args.path)
    if not await asyncio.to_thread(source.is_dir):
        raise session.CliError(f"{args.path} is not a directory; give --path a local directory")
    kind = kinds.by_kind_name("Kustomization")
    obj = await api.request("GET", kind.resource.path(namespace=args.namespace, name=args.name))
    spec = kustomize.KustomizationSpec.model_validate({**obj["spec"], "path": "./"})
    variables = await _variables(api, spec, args.namespace)
    owner = resourcemanager.Owner(name=args.name, namespace=args.namespace)
    with tempfile.TemporaryDirectory(prefix="headwater-build-") as scratch:
        root = pathlib.Path(scratch) / "root"
        await asyncio.to_thread(shutil.copytree, source, root, symlinks=True)
        try:
            built = await building.build(
                root, spec, options=building.Options(), variables=variables, strict=args.strict
            )
        except building.BuildError as error:
            raise session.CliError(f"build failed: {error}") from error
    for item in built.objects:
        metadata = item.setdefault("metadata", {})
        metadata["labels"] = {**(metadata.get("labels") or {}), **owner.labels}
    return obj, built.objects


async def _build(api: client.Client, args: argparse.Namespace) -> int:
    _, built = await build_objects(api, args)
    exporting.print_yaml(built)
    return 0


async def _diff(api: client.Client, args: argparse.Namespace) -> int:
    terminal.action(f"building kustomization {args.name} from {args.path}")
    ks, built = await build_objects(api, args)
    manager = resourcemanager.ResourceManager(
        objects=applying.Objects(api=api, discovery=resources.Discovery(api))
    )
    owner = resourcemanager.Owner(name=args.name, namespace=args.namespace)
    try:
        changes = await manager.diff(built, owner=owner)
    except resourcemanager.ApplyError as error:
        raise session.CliError(str(error), code=2) from error
    different = False
    for change in changes.changes:
        if change.action == resourcemanager.Action.CREATED:
            different = True
            terminal.action(f"{change.ref} created")
        elif change.action == resourcemanager.Action.CONFIGURED:
            different = True
            terminal.action(f"{change.ref} drifted")
            for field in change.fields:
                print(f"  {field}")
    if (ks.get("spec") or {}).get("prune"):
        wanted = {inventory.Ref.of(o).key for o in built}
        entries = ((ks.get("status") or {}).get("inventory") or {}).get("entries")
        for ref in inventory.from_entries(entries):
            if ref.key not in wanted:
                different = True
                terminal.action(f"{ref} deleted")
    if not different:
        terminal.success("no changes")
    return 1 if different else 0


def _envsubst(args: argparse.Namespace) -> int:
    from controllers.kustomize import expanding

    try:
        sys.stdout.write(expanding.expand(sys.stdin.read(), dict(os.environ), strict=args.strict))
    except expanding.ExpansionError as error:
        terminal.failure(f"{error}; set the variable or drop --strict")
        return 1
    return 0


def register(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
) -> None:
    for verb, handler, text in (
        ("build", _build, "render a Kustomization from a local path"),
        ("diff", _diff, "diff a local path against the cluster (exit 1 on a difference)"),
    ):

        def configure(
            parser: argparse.ArgumentParser, _: kinds.Kind, handler: session.Verb = handler
        ) -> None:
            parser.add_argument("name")
            parser.add_argument("--path", required=True, help="the local kustomization directory")
            parser.add_argument(
                "--strict-substitute",
                dest="strict",
                action="store_true",
                help="fail on a variable without a value or default",
            )
            parser.set_defaults(run=lambda args: session.run(handler, args))

        kinds.add_verb(
            commands,
            verb,
            help=text,
            configure=configure,
            common=common,
            kinds=[kinds.by_kind_name("Kustomization")],
        )
    envsubst = commands.add_parser("envsubst", help="substitute environment variables in stdin")
    envsubst.add_argument("--strict", action="store_true", help="fail on an unset variable")
    envsubst.set_defaults(run=_envsubst)
