"""``create``: the command tree, and ``source git`` and ``kustomization``.

How every ``create`` verb builds, exports, applies and waits is in
``creatingkit``; the other kinds' builders are in ``creating_sources``,
``creating_notifications``, ``creating_images``, ``creating_helm`` and
``creating_secrets``.
"""

from __future__ import annotations

import argparse
from typing import Any

from headwater.cli import (
    creating_helm,
    creating_images,
    creating_notifications,
    creating_secrets,
    creating_sources,
    creatingkit,
    kinds,
)

_interval = creatingkit.interval


def git_repository(args: argparse.Namespace) -> dict[str, Any]:
    """The GitRepository ``flux create source git`` would make from ``args``."""
    ref: dict[str, str] = {}
    for flag, field in (
        ("branch", "branch"),
        ("tag", "tag"),
        ("tag_semver", "semver"),
        ("commit", "commit"),
    ):
        if getattr(args, flag):
            ref[field] = getattr(args, flag)
    spec: dict[str, Any] = {
        "interval": args.interval,
        "url": args.url,
        "ref": ref or {"branch": "master"},
    }
    if args.secret_ref:
        spec["secretRef"] = {"name": args.secret_ref}
    if args.ignore_paths:
        spec["ignore"] = "\n".join(args.ignore_paths)
    return creatingkit.flux_object("source.toolkit.fluxcd.io/v1", "GitRepository", args, spec)


def kustomization(args: argparse.Namespace) -> dict[str, Any]:
    """The Kustomization ``flux create kustomization`` would make from ``args``."""
    source_kind, _, source = args.source.rpartition("/")
    source_name, _, source_namespace = source.partition(".")
    source_ref: dict[str, str] = {
        "kind": kinds.by_kind_name(source_kind or "GitRepository").name,
        "name": source_name,
    }
    if source_namespace:
        source_ref["namespace"] = source_namespace
    spec: dict[str, Any] = {
        "interval": args.interval,
        "path": args.path,
        "prune": args.prune,
        "sourceRef": source_ref,
    }
    if args.target_namespace:
        spec["targetNamespace"] = args.target_namespace
    if args.depends_on:
        spec["dependsOn"] = [
            dict(zip(("name", "namespace"), d.split("/")[::-1], strict=False))
            for d in args.depends_on
        ]
    if args.wait:
        spec["wait"] = True
    if args.service_account:
        spec["serviceAccountName"] = args.service_account
    if args.retry_interval:
        spec["retryInterval"] = args.retry_interval
    return creatingkit.flux_object("kustomize.toolkit.fluxcd.io/v1", "Kustomization", args, spec)


def register(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
) -> None:
    create = commands.add_parser("create", help="create or update Flux objects and Secrets")
    what = create.add_subparsers(dest="what", required=True, metavar="KIND")

    source = what.add_parser("source", help="create a source").add_subparsers(
        dest="kind_word", required=True, metavar="KIND"
    )
    git = source.add_parser("git", parents=[common], help="a GitRepository")
    creatingkit.common_flags(git, git_repository)
    git.add_argument("--url", required=True, help="the Git repository URL")
    git.add_argument("--branch", help="the branch to follow")
    git.add_argument("--tag", help="the tag to check out")
    git.add_argument("--tag-semver", help="the tag semver range to follow")
    git.add_argument("--commit", help="the commit SHA to check out")
    creatingkit.interval_flag(git, "how often to fetch")
    git.add_argument("--secret-ref", help="the Secret with the credentials")
    git.add_argument("--ignore-paths", action="append", default=[], help="paths to ignore")
    creating_sources.register(source, common)

    ks = what.add_parser("kustomization", aliases=["ks"], parents=[common], help="a Kustomization")
    creatingkit.common_flags(ks, kustomization)
    ks.add_argument("--source", required=True, help="the source: [<kind>/]<name>[.<namespace>]")
    ks.add_argument("--path", default="./", help="the path to the kustomization in the source")
    ks.add_argument("--prune", action="store_true", help="delete what is no longer in the source")
    creatingkit.interval_flag(ks, "how often to apply")
    ks.add_argument("--retry-interval", type=_interval, help="how soon to retry a failure")
    ks.add_argument("--target-namespace", help="the namespace of the applied objects")
    ks.add_argument("--depends-on", action="append", default=[], help="[<namespace>/]<name>")
    ks.add_argument("--wait", action="store_true", help="wait for what it applies to be ready")
    ks.add_argument("--service-account", help="the ServiceAccount to apply as")

    creating_helm.register(what, common)
    creating_notifications.register(what, common)
    image = what.add_parser("image", help="create an image automation object").add_subparsers(
        dest="kind_word", required=True, metavar="KIND"
    )
    creating_images.register(image, common)

    secret = what.add_parser("secret", help="create a Secret").add_subparsers(
        dest="kind_word", required=True, metavar="KIND"
    )
    creating_secrets.register(secret, common)
