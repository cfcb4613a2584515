"""``headwater get``: Flux's status tables for every kind.

``get sources git``, ``get kustomizations``, ``get sources all``, ``get
all``; ``-A`` for every namespace, ``--status-selector ready=false``,
``-w`` to print each change as it happens, ``-o yaml|json`` for the objects.
Columns are Flux's: NAME REVISION SUSPENDED READY MESSAGE (SOURCE after
NAME with ``--show-source`` for Kustomizations and HelmReleases), and for
the kinds Flux shows otherwise theirs (ImageRepository LAST SCAN, ImagePolicy IMAGE
TAG, ImageUpdateAutomation LAST RUN, Receiver and Alert no REVISION,
Provider only READY MESSAGE); NAMESPACE first with ``-A``; ``all`` prefixes
names with the kind. Exit code 0 even when
nothing matches (``✗ no … objects found`` on stderr, as Flux).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from ruamel.yaml import YAML

from headwater.cli import kinds, session, terminal
from shared.kube import client, errors


def revision(obj: dict[str, Any]) -> str:
    """The revision Flux shows: the artifact's, else the last applied or attempted one.

    A HelmRelease shows the chart version of its latest release
    (``status.history[0]``), else the last attempted one.
    """
    status = obj.get("status") or {}
    if obj.get("kind") == "HelmRelease":
        history = status.get("history") or [{}]
        return str(history[0].get("chartVersion") or status.get("lastAttemptedRevision") or "")
    artifact = status.get("artifact") or {}
    return str(
        artifact.get("revision")
        or status.get("lastAppliedRevision")
        or status.get("lastAttemptedRevision")
        or ""
    )


def ready(obj: dict[str, Any]) -> tuple[str, str]:
    """The Ready condition's status and message (``Unknown`` before any).

    A static object (Alert, Provider, an OCI HelmRepository: no status) is
    always ready, as Flux shows it.
    """
    if obj.get("kind") in kinds.STATIC_KINDS:
        return "True", f"{obj['kind']} is Ready"
    if obj.get("kind") == "HelmRepository" and (obj.get("spec") or {}).get("type") == "oci":
        return "True", "Helm repository is Ready"
    cond = session.condition(obj, "Ready")
    if cond is None:
        return "Unknown", "waiting to be reconciled"
    return str(cond.get("status", "Unknown")), str(cond.get("message", ""))


Column = tuple[str, Callable[[dict[str, Any]], str]]


def _status(obj: dict[str, Any], *path: str) -> str:
    value: Any = obj.get("status") or {}
    for key in path:
        value = (value or {}).get(key)
    return str(value or "")


def _suspended(obj: dict[str, Any]) -> str:
    return "True" if kinds.is_suspended(obj) else "False"


_READY: list[Column] = [("READY", lambda o: ready(o)[0]), ("MESSAGE", lambda o: ready(o)[1])]
_SUSPENDED: list[Column] = [("SUSPENDED", _suspended)]
# Flux's columns after NAME, per kind; the others show REVISION SUSPENDED READY MESSAGE.
_LAST_SCAN: Column = ("LAST SCAN", lambda o: _status(o, "lastScanResult", "scanTime"))
_IMAGE: Column = ("IMAGE", lambda o: _status(o, "latestRef", "name"))
_TAG: Column = ("TAG", lambda o: _status(o, "latestRef", "tag"))
_LAST_RUN: Column = ("LAST RUN", lambda o: _status(o, "lastAutomationRunTime"))
_COLUMNS: dict[str, list[Column]] = {
    "ImageRepository": [_LAST_SCAN, *_SUSPENDED, *_READY],
    "ImagePolicy": [_IMAGE, _TAG, *_READY],
    "ImageUpdateAutomation": [_LAST_RUN, *_SUSPENDED, *_READY],
    "Receiver": [*_SUSPENDED, *_READY],
    "Alert": [*_SUSPENDED, *_READY],
    "Provider": _READY,
}
_DEFAULT: list[Column] = [("REVISION", revision), *_SUSPENDED, *_READY]


def _source_ref(obj: dict[str, Any]) -> str:
    """Flux's SOURCE column: ``Kind/namespace/name`` of the sourceRef (a HelmRelease's chart's)."""
    spec = obj.get("spec") or {}
    ref = (
        spec.get("chartRef")
        or ((spec.get("chart") or {}).get("spec") or {}).get("sourceRef")
        or spec.get("sourceRef")
        or {}
    )
    namespace = ref.get("namespace") or obj["metadata"].get("namespace", "")
    return f"{ref.get('kind', '')}/{namespace}/{ref.get('name', '')}" if ref else ""


def _columns(kind: kinds.Kind, *, source: bool = False) -> list[Column]:
    if source:
        return [("SOURCE", _source_ref), *_COLUMNS.get(kind.name, _DEFAULT)]
    return _COLUMNS.get(kind.name, _DEFAULT)


def _row(
    obj: dict[str, Any],
    kind: kinds.Kind,
    *,
    all_namespaces: bool,
    prefix: str,
    source: bool = False,
) -> list[str]:
    columns = _columns(kind, source=source)
    row = [prefix + obj["metadata"]["name"], *(value(obj) for _, value in columns)]
    return [obj["metadata"].get("namespace", ""), *row] if all_namespaces else row


def _selected(obj: dict[str, Any], selector: str | None) -> bool:
    if not selector:
        return True
    condition_type, _, wanted = selector.partition("=")
    cond = session.condition(obj, condition_type.capitalize())
    return cond is not None and str(cond.get("status", "")).lower() == wanted.lower()


async def list_objects(
    api: client.Client, kind: kinds.Kind, *, namespace: str | None, name: str | None = None
) -> list[dict[str, Any]]:
    """The objects of ``kind`` (every namespace when ``namespace`` is None), by name."""
    resource = kind.resource
    if name is not None:
        obj = await api.request("GET", resource.path(namespace=namespace, name=name))
        return [obj]
    listing = await api.request("GET", resource.path(namespace=namespace))
    items = listing.get("items") or []
    for item in items:
        item.setdefault("apiVersion", kind.api_version)
        item.setdefault("kind", kind.name)
    return sorted(items, key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))


def dump(objects_: list[dict[str, Any]], output: str) -> None:
    """Objects as one YAML stream or a JSON list (a single object when only one)."""
    if output == "json":
        body: Any = (
            objects_[0]
            if len(objects_) == 1
            else {"apiVersion": "v1", "kind": "List", "items": objects_}
        )
        json.dump(body, sys.stdout, indent=2)
        print()
        return
    yaml = YAML()
    yaml.default_flow_style = False
    yaml.dump_all(objects_, sys.stdout)


def _header(kind: kinds.Kind, all_namespaces: bool, *, source: bool = False) -> list[str]:
    header = ["NAME", *(name for name, _ in _columns(kind, source=source))]
    return ["NAMESPACE", *header] if all_namespaces else header


async def _watch(api: client.Client, kind: kinds.Kind, args: argparse.Namespace) -> int:
    source: bool = args.show_source
    namespace = None if args.all_namespaces else args.namespace
    listing = await api.request("GET", kind.resource.path(namespace=namespace))
    version = listing["metadata"].get("resourceVersion", "")
    for item in listing.get("items") or []:
        item.setdefault("kind", kind.name)
    rows = [
        _row(o, kind, all_namespaces=args.all_namespaces, prefix="", source=source)
        for o in listing.get("items") or []
        if _selected(o, args.status_selector) and (args.name in (None, o["metadata"]["name"]))
    ]
    terminal.table(_header(kind, args.all_namespaces, source=source), rows)
    query = {"watch": "true", "resourceVersion": version, "allowWatchBookmarks": "false"}
    async for event in api.stream(kind.resource.path(namespace=namespace), query=query):
        obj = event.get("object") or {}
        if event.get("type") == "ERROR" or not obj.get("metadata"):
            continue
        if args.name not in (None, obj["metadata"]["name"]) or not _selected(
            obj, args.status_selector
        ):
            continue
        row = _row(obj, kind, all_namespaces=args.all_namespaces, prefix="", source=source)
        print("   ".join(row), flush=True)
    return 0


async def _get(api: client.Client, args: argparse.Namespace) -> int:
    source: bool = args.show_source
    selected: list[kinds.Kind] = args.kinds if hasattr(args, "kinds") else [args.kind]
    if getattr(args, "watch", False):
        return await _watch(api, selected[0], args)
    namespace = None if args.all_namespaces else args.namespace
    found: list[dict[str, Any]] = []
    for kind in selected:
        try:
            listed = await list_objects(api, kind, namespace=namespace, name=args.name)
        except errors.NotFoundError:
            if len(selected) == 1:
                raise
            continue  # ``all``: a kind whose CRD is not installed has no objects
        objs = [o for o in listed if _selected(o, args.status_selector)]
        found.extend(objs)
        if args.output or not objs:
            continue
        prefix = f"{kind.name.lower()}/" if len(selected) > 1 else ""
        rows = [
            _row(o, kind, all_namespaces=args.all_namespaces, prefix=prefix, source=source)
            for o in objs
        ]
        if found != objs:
            print()
        terminal.table(_header(kind, args.all_namespaces, source=source), rows)
    if args.output:
        dump(found, args.output)
    elif not found:
        where = "any namespace" if args.all_namespaces else f"{args.namespace} namespace"
        terminal.failure(f"no {' '.join(k.words for k in selected)} objects found in {where}")
    return 0


def _arguments(parser: argparse.ArgumentParser, *, name: bool) -> None:
    if name:
        parser.add_argument("name", nargs="?", help="only this object")
    else:
        parser.set_defaults(name=None)
    parser.add_argument("-A", "--all-namespaces", action="store_true", help="in every namespace")
    parser.add_argument(
        "--status-selector", help="only objects with this condition status, e.g. ready=false"
    )
    parser.add_argument("-o", "--output", choices=("yaml", "json"), help="print the objects")
    parser.set_defaults(run=lambda args: session.run(_get, args), show_source=False)


def register(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
) -> None:
    def configure(parser: argparse.ArgumentParser, kind: kinds.Kind) -> None:
        _arguments(parser, name=True)
        if kind.name in ("Kustomization", "HelmRelease"):
            parser.add_argument(
                "--show-source", action="store_true", help="add a SOURCE column (Kind/ns/name)"
            )
        parser.add_argument("-w", "--watch", action="store_true", help="print each change")

    verbs, groups = kinds.add_verb(
        commands, "get", help="print the status of Flux objects", configure=configure, common=common
    )
    for group_word, group in groups.items():
        every = group.add_parser("all", parents=[common], help=f"every {group_word} kind")
        every.set_defaults(kinds=[k for k in kinds.all_kinds() if k.group_word == group_word])
        _arguments(every, name=False)
    everything = verbs.add_parser("all", parents=[common], help="every Flux kind")
    everything.set_defaults(kinds=kinds.all_kinds())
    _arguments(everything, name=False)
