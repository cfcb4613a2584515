"""Entry point of the ``headwater`` command.

Subcommands:
- the Flux verbs (``check``, ``get``, ``reconcile``, ``suspend``, ``resume``,
  ``create``, ``export``, ``delete``, ``build``, ``diff``, ``tree``,
  ``trace``, ``events``, ``logs``, ``stats``, ``completion``,
  ``envsubst``), one module per family in this package (see docs/cli.md);
- ``headwater version``: the client's version and the controllers' (see
  ``headwater.cli.versions``); ``install`` and ``uninstall`` (see
  ``headwater.cli.installing``);
- ``headwater export crds [--kind KIND …]``: the generated CRDs as one YAML
  stream, ready for ``kubectl apply --server-side -f -``;
- ``headwater dev up|down|status``: a local GitOps environment (see
  ``headwater.dev``);
- ``headwater devcluster``: the development API server.
- ``headwater artifact push|pull|tag|list``: OCI artifacts as Flux makes
  them (see ``headwater.cli.artifact``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from headwater import dev
from headwater.cli import (
    artifact,
    building,
    checking,
    completion,
    creating,
    exporting,
    getting,
    installing,
    logs,
    reconciling,
    session,
    tracing,
    trees,
    versions,
)
from shared.api import crdgen, objects, registry


def _select(names: Sequence[str]) -> list[type[objects.ApiObject]]:
    kinds = list(registry.all_kinds())
    if not names:
        return kinds
    by_name = {}
    for kind in kinds:
        for name in (kind.crd.kind, kind.crd.plural, kind.crd.singular, *kind.crd.short_names):
            by_name[name.lower()] = kind
    unknown = [n for n in names if n.lower() not in by_name]
    if unknown:
        known = ", ".join(k.crd.kind for k in kinds)
        raise SystemExit(f"headwater: unknown kind {', '.join(unknown)} (known: {known})")
    return [by_name[n.lower()] for n in names]


def _export_crds(args: argparse.Namespace) -> int:
    for kind in _select(args.kind):
        sys.stdout.write(crdgen.render(crdgen.crd_for(kind)))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="headwater", description="GitOps toolkit (Flux v2 APIs).")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    export = commands.add_parser("export", help="print Flux objects or the CRDs as YAML")
    what = export.add_subparsers(dest="what", required=True, metavar="WHAT")
    crds = what.add_parser("crds", help="the CustomResourceDefinitions, as YAML")
    crds.add_argument(
        "--kind", action="append", default=[], help="only this kind (name, plural or short name)"
    )
    crds.set_defaults(run=_export_crds)
    dev.register(commands)
    common = session.common()
    versions.register(commands, common)
    installing.register(commands, common)
    getting.register(commands, common)
    reconciling.register(commands, common)
    exporting.register(commands, what, common)
    creating.register(commands, common)
    tracing.register(commands, common)
    trees.register(commands, common)
    checking.register(commands, common)
    building.register(commands, common)
    logs.register(commands, common)
    completion.register(commands, parser)
    artifact.register(commands)
    # Listed for --help; its arguments are the server's own (see main).
    commands.add_parser(
        "devcluster", help="run the local Kubernetes-compatible API server (see --help)"
    )
    return parser


def _devcluster(argv: list[str]) -> int:
    # NB: imported here so that every other command starts without the server's
    # modules, and works where the devcluster extra is not installed (the
    # controllers' image).
    from devcluster import __main__ as devcluster_main

    devcluster_main.main(argv)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["devcluster"]:
        # NB: argparse cannot hand a subcommand's options over untouched, so
        # the server's own parser gets them directly.
        return _devcluster(arguments[1:])
    args = build_parser().parse_args(arguments)
    result: int = args.run(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
