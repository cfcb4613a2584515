"""``reconcile``, ``suspend`` and ``resume``: ask the controllers, then wait.

``reconcile`` sets ``reconcile.fluxcd.io/requestedAt`` to a fresh token and waits until
the controller answers it: ``status.lastHandledReconcileAt`` equals the
token, the Ready condition of the current generation is True or False and
the reconcile is over (no Reconciling=True but a failure being retried).
``--force`` and ``--reset`` exist for HelmReleases only, as in Flux: they
set ``reconcile.fluxcd.io/forceAt`` and ``resetAt`` to the same token,
which helm-controller answers in ``status.lastHandledForceAt`` and
``lastHandledResetAt``.
``--with-source`` reconciles the object's source first (``kinds.source_of``:
a HelmRelease's chart and, for a HelmChart, its source too; a static source
is skipped). ``suspend``
sets ``spec.suspend``; ``resume`` clears it, requests a reconcile and waits
for it like ``reconcile``. ``--all`` acts on every object of the kind in the
namespace. Exit code 0 when Ready=True, 1 otherwise. The static kinds
(Alert, Provider) have no ``reconcile`` (nothing reconciles them, as in
Flux) and ``resume`` does not wait for them.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
from typing import Any

from headwater.cli import getting, kinds, session, terminal
from shared.kube import client

REQUESTED_AT = "reconcile.fluxcd.io/requestedAt"
FORCE_AT = "reconcile.fluxcd.io/forceAt"
RESET_AT = "reconcile.fluxcd.io/resetAt"
_POLL = 0.5


def _token() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="microseconds")


def _in_progress(obj: dict[str, Any]) -> bool:
    """The controller is still working on it: Reconciling=True, not a failure it retries.

    NB: a reconcile that outlasts the progress delay writes its status midway,
    with the request handled but the previous Ready verdict still standing.
    """
    reconciling = session.condition(obj, "Reconciling")
    return (
        reconciling is not None
        and reconciling.get("status") == "True"
        and reconciling.get("reason") != "ProgressingWithRetry"
        and (session.condition(obj, "Stalled") or {}).get("status") != "True"
    )


def _decided(obj: dict[str, Any], token: str | None, generation: int | None) -> bool:
    status = obj.get("status") or {}
    cond = session.condition(obj, "Ready")
    wanted = obj["metadata"].get("generation", 0) if generation is None else generation
    return (
        (token is None or status.get("lastHandledReconcileAt") == token)
        and cond is not None
        and cond.get("status") in ("True", "False")
        and status.get("observedGeneration", -1) >= wanted
        and not _in_progress(obj)
    )


async def wait_decided(
    api: client.Client,
    kind: kinds.Kind,
    namespace: str,
    name: str,
    token: str | None,
    *,
    generation: int | None = None,
) -> dict[str, Any]:
    """The object once its controller decided Ready (polls).

    With a ``token``, only once ``status.lastHandledReconcileAt`` equals it;
    always only for ``generation`` (default: the object's current one).
    """
    path = kind.resource.path(namespace=namespace, name=name)
    async with terminal.progress(f"waiting for {kind.name} reconciliation"):
        while True:
            obj: dict[str, Any] = await api.request("GET", path)
            if _decided(obj, token, generation):
                return obj
            await asyncio.sleep(_POLL)


def report(kind: kinds.Kind, obj: dict[str, Any]) -> int:
    """Flux's closing lines for a decided object; its exit code."""
    status, message = getting.ready(obj)
    if status != "True":
        terminal.failure(f"{kind.name} reconciliation failed: {message}")
        return 1
    terminal.success(f"{kind.name} reconciliation completed")
    revision = getting.revision(obj)
    if revision:
        verb = "fetched" if kind.is_source else "applied"
        terminal.success(f"{verb} revision {revision}")
    return 0


async def request(
    api: client.Client,
    kind: kinds.Kind,
    namespace: str,
    name: str,
    *,
    also: tuple[str, ...] = (),
    resume: dict[str, Any] | None = None,
) -> str:
    """Annotate ``name`` with a fresh requestedAt token (and ``also``); the token.

    ``resume`` is a kind's resume patch (``Kind.suspend_patch(False)``), merged in.
    """
    token = _token()
    annotations = {REQUESTED_AT: token, **dict.fromkeys(also, token)}
    resume = resume or {}
    annotations.update((resume.get("metadata") or {}).get("annotations") or {})
    patch: dict[str, Any] = {"metadata": {"annotations": annotations}}
    if "spec" in resume:
        patch["spec"] = resume["spec"]
    await api.request(
        "PATCH",
        kind.resource.path(namespace=namespace, name=name),
        body=patch,
        content_type=client.MERGE_PATCH,
    )
    return token


async def reconcile_one(
    api: client.Client, kind: kinds.Kind, namespace: str, name: str, *, also: tuple[str, ...] = ()
) -> int:
    path = kind.resource.path(namespace=namespace, name=name)
    obj = await api.request("GET", path)
    if kinds.is_suspended(obj):
        raise session.CliError(
            f"{kind.name} {namespace}/{name} is suspended; "
            f"run: headwater resume {kind.words} {name} -n {namespace}"
        )
    terminal.action(f"annotating {kind.name} {name} in {namespace} namespace")
    token = await request(api, kind, namespace, name, also=also)
    terminal.success(f"{kind.name} annotated")
    return report(kind, await wait_decided(api, kind, namespace, name, token))


async def _reconcile_sources(
    api: client.Client, kind: kinds.Kind, namespace: str, name: str
) -> int:
    """Reconcile the source chain of an object, farthest first (``kinds.source_of``)."""
    obj = await api.request("GET", kind.resource.path(namespace=namespace, name=name))
    found = kinds.source_of(kind, obj)
    if found is None:
        return 0
    source, source_namespace, source_name = found
    path = source.resource.path(namespace=source_namespace, name=source_name)
    source_obj = await api.request("GET", path)
    if source.name == "HelmChart":
        code = await _reconcile_sources(api, source, source_namespace, source_name)
        if code:
            return code
    if kinds.is_static(source_obj):
        return 0
    return await reconcile_one(api, source, source_namespace, source_name)


async def _reconcile(api: client.Client, args: argparse.Namespace) -> int:
    kind: kinds.Kind = args.kind
    if getattr(args, "with_source", False):
        code = await _reconcile_sources(api, kind, args.namespace, args.name)
        if code:
            return code
    also = (FORCE_AT,) * bool(getattr(args, "force", False)) + (RESET_AT,) * bool(
        getattr(args, "reset", False)
    )
    return await reconcile_one(api, kind, args.namespace, args.name, also=also)


async def _names(api: client.Client, args: argparse.Namespace) -> list[str]:
    if args.all:
        listed = await getting.list_objects(api, args.kind, namespace=args.namespace)
        return [o["metadata"]["name"] for o in listed]
    if not args.name:
        raise session.CliError(f"name is required; or use --all for every {args.kind.words}")
    return list(args.name)


async def _suspend(api: client.Client, args: argparse.Namespace) -> int:
    kind: kinds.Kind = args.kind
    for name in await _names(api, args):
        terminal.action(f"suspending {kind.words} {name} in {args.namespace} namespace")
        await api.request(
            "PATCH",
            kind.resource.path(namespace=args.namespace, name=name),
            body=kind.suspend_patch(True),
            content_type=client.MERGE_PATCH,
        )
        terminal.success(f"{kind.words} suspended")
    return 0


async def _resume(api: client.Client, args: argparse.Namespace) -> int:
    kind: kinds.Kind = args.kind
    waiting: list[tuple[str, str]] = []
    for name in await _names(api, args):
        terminal.action(f"resuming {kind.words} {name} in {args.namespace} namespace")
        token = await request(api, kind, args.namespace, name, resume=kind.suspend_patch(False))
        terminal.success(f"{kind.words} resumed")
        waiting.append((name, token))
    if not args.wait or kind.static:
        return 0
    code = 0
    for name, token in waiting:
        code = max(code, report(kind, await wait_decided(api, kind, args.namespace, name, token)))
    return code


def register(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
) -> None:
    def configure_reconcile(parser: argparse.ArgumentParser, kind: kinds.Kind) -> None:
        parser.add_argument("name")
        if kind.name in ("Kustomization", "HelmRelease", "HelmChart"):
            parser.add_argument(
                "--with-source", action="store_true", help="reconcile the source first"
            )
        if kind.name == "HelmRelease":
            parser.add_argument(
                "--force", action="store_true", help="force a one-off install or upgrade"
            )
            parser.add_argument(
                "--reset", action="store_true", help="reset the failure counts of the release"
            )
        parser.set_defaults(run=lambda args: session.run(_reconcile, args))

    kinds.add_verb(
        commands,
        "reconcile",
        help="reconcile a Flux object now and wait",
        configure=configure_reconcile,
        common=common,
        kinds=[kind for kind in kinds.all_kinds() if not kind.static],
    )
    for verb, handler, text in (
        ("suspend", _suspend, "suspend the reconciliation of Flux objects"),
        ("resume", _resume, "resume suspended Flux objects and wait for them"),
    ):

        def configure(
            parser: argparse.ArgumentParser, _: kinds.Kind, verb: str = verb, handler: Any = handler
        ) -> None:
            parser.add_argument("name", nargs="*")
            parser.add_argument("--all", action="store_true", help="every object in the namespace")
            if verb == "resume":
                parser.add_argument(
                    "--wait",
                    action=argparse.BooleanOptionalAction,
                    default=True,
                    help="wait for the reconciliation (default true)",
                )
            parser.set_defaults(run=lambda args: session.run(handler, args))

        kinds.add_verb(commands, verb, help=text, configure=configure, common=common)
