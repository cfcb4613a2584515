"""``create source git``, ``create kustomization`` and ``create secret git``.

Each builds the object from Flux's flags, then either prints it
(``--export``, YAML ready to commit) or server-side applies it (field
manager ``headwater``) and, for a Flux kind, waits until the controller
decided its Ready condition, as ``flux create`` does. Exit code 1 when the
object ends Ready=False.
"""

from __future__ import annotations

import argparse
import pathlib
from typing import Any

from headwater.cli import exporting, kinds, reconciling, session, terminal
from shared.kube import applying, client, resources

FIELD_MANAGER = "headwater"


def _interval(text: str) -> str:
    session.duration(text)  # NB: validates; the object keeps the text the user wrote
    return text


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
    return _object("source.toolkit.fluxcd.io/v1", "GitRepository", args, spec)


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
    return _object("kustomize.toolkit.fluxcd.io/v1", "Kustomization", args, spec)


def git_secret(args: argparse.Namespace) -> dict[str, Any]:
    """The Secret ``flux create secret git`` would make: basic auth, a token or an SSH key."""
    data: dict[str, str] = {}
    if args.username or args.password:
        if not (args.username and args.password):
            raise session.CliError("--username and --password go together; give both")
        data.update(username=args.username, password=args.password)
    if args.bearer_token:
        data["bearerToken"] = args.bearer_token
    if args.private_key_file:
        data["identity"] = pathlib.Path(args.private_key_file).read_text()
        public = pathlib.Path(args.private_key_file + ".pub")
        if public.exists():
            data["identity.pub"] = public.read_text()
    if args.ca_crt_file:
        data["ca.crt"] = pathlib.Path(args.ca_crt_file).read_text()
    if not data:
        raise session.CliError(
            "no credentials: give --username and --password, --bearer-token or --private-key-file"
        )
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": args.name, "namespace": args.namespace, **_labels(args)},
        "type": "Opaque",
        "stringData": data,
    }


def _labels(args: argparse.Namespace) -> dict[str, Any]:
    labels = dict(label.split("=", 1) for label in args.label)
    return {"labels": labels} if labels else {}


def _object(
    api_version: str, kind: str, args: argparse.Namespace, spec: dict[str, Any]
) -> dict[str, Any]:
    return {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"name": args.name, "namespace": args.namespace, **_labels(args)},
        "spec": spec,
    }


async def _apply(api: client.Client, args: argparse.Namespace) -> int:
    obj: dict[str, Any] = args.build(args)
    terminal.action(f"applying {obj['kind']} {args.name} in {args.namespace} namespace")
    objects = applying.Objects(api=api, discovery=resources.Discovery(api))
    applied = await objects.apply(obj, field_manager=FIELD_MANAGER, force=True)
    terminal.success(f"{obj['kind']} applied")
    if obj["kind"] == "Secret":
        return 0
    kind = kinds.by_kind_name(obj["kind"])
    decided = await reconciling.wait_decided(
        api,
        kind,
        args.namespace,
        args.name,
        token=None,
        generation=applied["metadata"].get("generation"),
    )
    return reconciling.report(kind, decided)


def _run(args: argparse.Namespace) -> int:
    try:
        if args.export:
            exporting.print_yaml([args.build(args)])
            return 0
    except (session.CliError, LookupError, OSError) as error:
        terminal.failure(str(error))
        return 1
    return session.run(_apply, args)


def _common_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name")
    parser.add_argument("--export", action="store_true", help="print the YAML, apply nothing")
    parser.add_argument(
        "--label", action="append", default=[], help="a label KEY=VALUE (repeatable)"
    )
    parser.set_defaults(run=_run)


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
    _common_flags(git)
    git.add_argument("--url", required=True, help="the Git repository URL")
    git.add_argument("--branch", help="the branch to follow")
    git.add_argument("--tag", help="the tag to check out")
    git.add_argument("--tag-semver", help="the tag semver range to follow")
    git.add_argument("--commit", help="the commit SHA to check out")
    git.add_argument("--interval", type=_interval, default="1m", help="how often to fetch")
    git.add_argument("--secret-ref", help="the Secret with the credentials")
    git.add_argument("--ignore-paths", action="append", default=[], help="paths to ignore")
    git.set_defaults(build=git_repository)

    ks = what.add_parser("kustomization", aliases=["ks"], parents=[common], help="a Kustomization")
    _common_flags(ks)
    ks.add_argument("--source", required=True, help="the source: [<kind>/]<name>[.<namespace>]")
    ks.add_argument("--path", default="./", help="the path to the kustomization in the source")
    ks.add_argument("--prune", action="store_true", help="delete what is no longer in the source")
    ks.add_argument("--interval", type=_interval, default="1m", help="how often to apply")
    ks.add_argument("--retry-interval", type=_interval, help="how soon to retry a failure")
    ks.add_argument("--target-namespace", help="the namespace of the applied objects")
    ks.add_argument("--depends-on", action="append", default=[], help="[<namespace>/]<name>")
    ks.add_argument("--wait", action="store_true", help="wait for what it applies to be ready")
    ks.add_argument("--service-account", help="the ServiceAccount to apply as")
    ks.set_defaults(build=kustomization)

    secret = what.add_parser("secret", help="create a Secret").add_subparsers(
        dest="kind_word", required=True, metavar="KIND"
    )
    git_secret_parser = secret.add_parser("git", parents=[common], help="Git credentials")
    _common_flags(git_secret_parser)
    git_secret_parser.add_argument("--url", help="the Git repository URL (for the record)")
    git_secret_parser.add_argument("-u", "--username", help="the basic-auth username")
    git_secret_parser.add_argument("-p", "--password", help="the basic-auth password")
    git_secret_parser.add_argument("--bearer-token", help="a bearer token")
    git_secret_parser.add_argument("--private-key-file", help="an SSH private key file")
    git_secret_parser.add_argument("--ca-crt-file", help="a CA certificate file (PEM)")
    git_secret_parser.set_defaults(build=git_secret)
