"""``create``: Flux objects and Secrets from Flux's flags; here the shared machinery.

Each ``create`` verb builds the object from Flux's flags, then either prints
it (``--export``: YAML shaped as ``flux create --export`` prints it, keys
sorted and durations in Go's form such as ``1m0s``) or server-side applies
it (field manager ``headwater``) — after the Secrets it needs, when the
flags carry credentials — and waits as ``flux create`` does: until the
controller decided the Ready condition (exit code 1 when it is False), or,
for the static objects no controller reconciles (Alert, Provider and a
HelmRepository of type ``oci``), not at all. This module holds what the
``create`` verbs share; ``creating`` builds the command tree (and holds
``create source git``, ``create kustomization`` and ``create secret git``),
``creating_sources``, ``creating_notifications``, ``creating_images`` and
``creating_helm`` the other kinds.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from headwater.cli import exporting, kinds, reconciling, session, terminal
from shared.kube import applying, client, resources

FIELD_MANAGER = "headwater"
Secrets = Callable[[argparse.Namespace, dict[str, Any]], list[dict[str, Any]]]
"""The Secrets a ``create`` applies before its object (made from credential flags)."""
interval = session.go_duration_flag


def labels(args: argparse.Namespace) -> dict[str, Any]:
    """``metadata.labels`` from ``--label KEY=VALUE`` flags (nothing when there are none)."""
    given = {}
    for label in args.label:
        key, equals, value = label.partition("=")
        if not (key and equals):
            raise session.CliError(f"invalid label '{label}', must be in format KEY=VALUE")
        given[key] = value
    return {"labels": given} if given else {}


def reference(text: str) -> tuple[str, str, str]:
    """``<kind>/<name>[.<namespace>]`` as Flux splits it: kind, name, namespace (or "")."""
    kind, _, rest = text.partition("/")
    if not rest:
        kind, rest = "", kind
    name, _, namespace = rest.rpartition(".")
    return (kind, name, namespace) if name else (kind, namespace, "")


def given(
    spec: dict[str, Any],
    args: argparse.Namespace,
    fields: dict[str, str],
    *,
    refs: dict[str, str] | None = None,
) -> None:
    """Copy each flag of ``fields`` (flag → field) that was given into ``spec``.

    ``refs`` likewise, each value as a ``LocalObjectReference`` (a Secret's
    name). A flag not given sets nothing, as Go's ``omitempty`` leaves it out.
    """
    for flag, field in fields.items():
        if getattr(args, flag):
            spec[field] = getattr(args, flag)
    for flag, field in (refs or {}).items():
        if getattr(args, flag):
            spec[field] = local_ref(getattr(args, flag))


def local_ref(name: str) -> dict[str, str]:
    """A ``LocalObjectReference``: ``{"name": name}``."""
    return {"name": name}


def cross_ref(kind: str, name: str, namespace: str) -> dict[str, str]:
    """A cross-namespace reference; ``namespace`` only when given (Go's omitempty)."""
    return {"kind": kind, "name": name, **({"namespace": namespace} if namespace else {})}


def flux_object(
    api_version: str, kind: str, args: argparse.Namespace, spec: dict[str, Any]
) -> dict[str, Any]:
    """The object ``args`` name (``name``, ``-n``, ``--label``) with ``spec``."""
    return {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"name": args.name, "namespace": args.namespace, **labels(args)},
        "spec": spec,
    }


def secret(
    args: argparse.Namespace, name: str, data: dict[str, str], *, type_: str | None = None
) -> dict[str, Any]:
    """The Secret ``name`` (in ``args``' namespace, with its labels) holding ``data``.

    Without ``type_`` it has none, as Flux writes it (the API server makes it Opaque).
    """
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": args.namespace, **labels(args)},
        "stringData": data,
        **({"type": type_} if type_ else {}),
    }


async def _apply(api: client.Client, args: argparse.Namespace) -> int:
    obj: dict[str, Any] = args.obj
    objects = applying.Objects(api=api, discovery=resources.Discovery(api))
    for secret in args.secrets(args, obj):
        terminal.action(f"applying Secret {secret['metadata']['name']}")
        await objects.apply(secret, field_manager=FIELD_MANAGER, force=True)
        obj["spec"]["secretRef"] = {"name": secret["metadata"]["name"]}
    terminal.action(f"applying {obj['kind']} {args.name} in {args.namespace} namespace")
    applied = await objects.apply(obj, field_manager=FIELD_MANAGER, force=True)
    terminal.success(f"{obj['kind']} applied")
    if obj["kind"] == "Secret":
        return 0
    if kinds.is_static(obj):
        terminal.success(f"{obj['kind']} {args.name} is ready")
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
    code = reconciling.report(kind, decided)
    webhook = (decided.get("status") or {}).get("webhookPath")
    if code == 0 and webhook:
        terminal.success(f"generated webhook URL {webhook}")
    return code


def _run(args: argparse.Namespace) -> int:
    try:
        args.obj = args.build(args)
    except (session.CliError, LookupError, OSError, ValueError) as error:
        terminal.failure(str(error))
        return 1
    if args.export:
        exporting.print_flux_yaml([args.obj])
        return 0
    return session.run(_apply, args)


def common_flags(
    parser: argparse.ArgumentParser,
    build: Callable[[argparse.Namespace], dict[str, Any]],
    *,
    secrets: Secrets | None = None,
) -> None:
    """The flags of every ``create`` verb; ``build`` makes its object, ``secrets`` its Secrets."""
    parser.add_argument("name")
    parser.add_argument("--export", action="store_true", help="print the YAML, apply nothing")
    parser.add_argument(
        "--label", action="append", default=[], help="a label KEY=VALUE (repeatable)"
    )
    parser.set_defaults(run=_run, build=build, secrets=secrets or (lambda args, obj: []))


def interval_flag(parser: argparse.ArgumentParser, help: str = "how often to reconcile") -> None:
    """``--interval``, a duration defaulting to Flux's ``1m``, kept in Go's form."""
    parser.add_argument("--interval", type=interval, default="1m0s", help=help)
