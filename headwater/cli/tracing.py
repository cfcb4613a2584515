"""``tree``, ``trace`` and ``events``: what Flux applied, and why it is there.

``tree kustomization NAME`` walks ``status.inventory`` and nests every
Kustomization found in it. ``trace [KIND/]NAME`` follows an object's owner
labels (``kustomize.toolkit.fluxcd.io/name``/``namespace``) to the
Kustomization that applied it, then to its source, revision and commit;
exit code 1 when the object is not managed by Flux. ``events --for
KIND/NAME`` prints the events of an object, of its source and of what it
applied, oldest first, in kubectl's columns.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from typing import Any

from ruamel.yaml import YAML

from headwater.cli import getting, kinds, session, terminal
from shared.kube import client, errors, inventory, resources

OWNER_NAME = "kustomize.toolkit.fluxcd.io/name"
OWNER_NAMESPACE = "kustomize.toolkit.fluxcd.io/namespace"
_KUSTOMIZATION = "Kustomization"
_KS_GROUP = "kustomize.toolkit.fluxcd.io"


def _label(ref: inventory.Ref) -> str:
    parts = [ref.kind, ref.namespace, ref.name] if ref.namespace else [ref.kind, ref.name]
    return "/".join(parts)


async def _tree(api: client.Client, ref: inventory.Ref, depth: int) -> dict[str, Any]:
    """Flux's tree node: the object and, for a Kustomization, what it applied."""
    node: dict[str, Any] = {
        "ObjMetadata": {
            "Namespace": ref.namespace,
            "Name": ref.name,
            "GroupKind": {"Group": ref.group, "Kind": ref.kind},
        },
        "Children": [],
    }
    if ref.group != _KS_GROUP or ref.kind != _KUSTOMIZATION or depth > 20:
        return node
    kind = kinds.by_kind_name(_KUSTOMIZATION)
    try:
        obj = await api.request("GET", kind.resource.path(namespace=ref.namespace, name=ref.name))
    except errors.NotFoundError:
        return node
    entries = ((obj.get("status") or {}).get("inventory") or {}).get("entries")
    for child in inventory.from_entries(entries):
        node["Children"].append(await _tree(api, child, depth + 1))
    return node


def _print_tree(
    node: dict[str, Any], prefix: str = "", last: bool = True, top: bool = True
) -> None:
    meta = node["ObjMetadata"]
    ref = inventory.Ref(
        group=meta["GroupKind"]["Group"],
        kind=meta["GroupKind"]["Kind"],
        namespace=meta["Namespace"],
        name=meta["Name"],
    )
    if top:
        print(_label(ref))
    else:
        print(f"{prefix}{'└── ' if last else '├── '}{_label(ref)}")
    inner = "" if top else prefix + ("    " if last else "│   ")
    children = node["Children"]
    for index, child in enumerate(children):
        _print_tree(child, inner, index == len(children) - 1, top=False)


async def _run_tree(api: client.Client, args: argparse.Namespace) -> int:
    kind: kinds.Kind = args.kind
    await api.request("GET", kind.resource.path(namespace=args.namespace, name=args.name))
    root = inventory.Ref(group=_KS_GROUP, kind=kind.name, namespace=args.namespace, name=args.name)
    tree = await _tree(api, root, 0)
    if args.output == "json":
        json.dump(tree, sys.stdout, indent=2)
        print()
    elif args.output == "yaml":
        YAML().dump(tree, sys.stdout)
    else:
        _print_tree(tree)
    return 0


async def _resolve(
    api: client.Client, target: str, kind_flag: str | None, api_version: str | None
) -> tuple[resources.Resource, str]:
    kind_name, _, name = target.rpartition("/")
    kind_name = kind_flag or kind_name
    if not kind_name:
        raise session.CliError(f"which kind is {target!r}? write KIND/NAME or give --kind")
    discovery = resources.Discovery(api)
    if api_version:
        return await discovery.resolve(api_version, kind_name), name
    return await discovery.search(kind_name), name


def _fields(rows: list[tuple[str, str]]) -> None:
    for label, value in rows:
        print(f"{label + ':':<16}{value}")


def _status_rows(obj: dict[str, Any]) -> list[tuple[str, str]]:
    status, message = getting.ready(obj)
    cond = session.condition(obj, "Ready") or {}
    when = (obj.get("status") or {}).get("lastHandledReconcileAt") or cond.get(
        "lastTransitionTime", ""
    )
    state = f"Last reconciled at {when}" if status == "True" else f"Ready={status}"
    return [("Status", state), ("Message", message)]


async def _trace(api: client.Client, args: argparse.Namespace) -> int:
    resource, name = await _resolve(api, args.target, args.kind, args.api_version)
    namespace = args.namespace if resource.namespaced else None
    obj = await api.request("GET", resource.path(namespace=namespace, name=name))
    labels = obj["metadata"].get("labels") or {}
    _fields(
        [("Object", f"{resource.kind}/{name}")] + ([("Namespace", namespace)] if namespace else [])
    )
    if OWNER_NAME not in labels:
        _fields([("Status", "Not managed by Flux")])
        raise session.CliError(
            f"{resource.kind}/{name} has no {OWNER_NAME} label: it was not applied by Flux"
        )
    _fields([("Status", "Managed by Flux")])
    ks_kind = kinds.by_kind_name(_KUSTOMIZATION)
    ks_namespace = labels.get(OWNER_NAMESPACE, namespace or args.namespace)
    ks = await api.request(
        "GET", ks_kind.resource.path(namespace=ks_namespace, name=labels[OWNER_NAME])
    )
    spec = ks.get("spec") or {}
    print("---")
    _fields(
        [
            ("Kustomization", labels[OWNER_NAME]),
            ("Namespace", ks_namespace),
            ("Target", spec.get("targetNamespace", "")),
            ("Path", spec.get("path", "")),
            ("Revision", getting.revision(ks)),
            *_status_rows(ks),
        ]
    )
    ref = spec.get("sourceRef") or {}
    source_kind = kinds.by_kind_name(ref.get("kind", "GitRepository"))
    source_namespace = ref.get("namespace") or ks_namespace
    source = await api.request(
        "GET", source_kind.resource.path(namespace=source_namespace, name=ref.get("name", ""))
    )
    source_spec = source.get("spec") or {}
    revision = getting.revision(source)
    print("---")
    rows = [
        (source_kind.name, ref.get("name", "")),
        ("Namespace", source_namespace),
        ("URL", source_spec.get("url", "")),
    ]
    for field, value in (source_spec.get("ref") or {}).items():
        rows.append((field.capitalize(), str(value)))
    rows.append(("Revision", revision))
    if ":" in revision:
        rows.append(("Commit", revision.rpartition(":")[2]))
    _fields([*rows, *_status_rows(source)])
    return 0


def _age(event: dict[str, Any]) -> str:
    stamp = (
        event.get("lastTimestamp")
        or event.get("eventTime")
        or event["metadata"].get("creationTimestamp")
    )
    if not stamp:
        return "<unknown>"
    when = datetime.datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
    seconds = int((datetime.datetime.now(datetime.UTC) - when).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"


async def _related(
    api: client.Client, kind_name: str, name: str, namespace: str
) -> set[tuple[str, str, str]]:
    """The (kind, namespace, name) of the object, its source and what it applied."""
    related = {(kind_name, namespace, name)}
    try:
        kind = kinds.by_kind_name(kind_name)
    except LookupError:
        return related
    obj = await api.request("GET", kind.resource.path(namespace=namespace, name=name))
    ref = (obj.get("spec") or {}).get("sourceRef") or {}
    if ref:
        related.add((ref["kind"], ref.get("namespace") or namespace, ref["name"]))
    entries = ((obj.get("status") or {}).get("inventory") or {}).get("entries")
    for child in inventory.from_entries(entries):
        related.add((child.kind, child.namespace, child.name))
    return related


async def _events(api: client.Client, args: argparse.Namespace) -> int:
    namespace = None if args.all_namespaces else args.namespace
    listing = await api.request("GET", resources.EVENTS.path(namespace=namespace))
    events: list[dict[str, Any]] = listing.get("items") or []
    if args.for_:
        kind_name, _, name = args.for_.partition("/")
        if not name:
            raise session.CliError("--for takes KIND/NAME, e.g. --for Kustomization/apps")
        wanted = await _related(api, kind_name, name, args.namespace)
        known = {k.lower() for k, _, _ in wanted}
        if kind_name.lower() not in known:
            wanted.add((kind_name, args.namespace, name))
        events = [
            e
            for e in events
            if (
                (e.get("involvedObject") or {}).get("kind", ""),
                (e.get("involvedObject") or {}).get("namespace", ""),
                (e.get("involvedObject") or {}).get("name", ""),
            )
            in wanted
        ]
    if args.types:
        events = [e for e in events if e.get("type") in args.types.split(",")]
    events.sort(key=lambda e: str(e.get("lastTimestamp") or e.get("eventTime") or ""))
    header = ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    rows = [
        [
            _age(e),
            str(e.get("type", "")),
            str(e.get("reason", "")),
            f"{(e.get('involvedObject') or {}).get('kind', '')}/"
            f"{(e.get('involvedObject') or {}).get('name', '')}",
            str(e.get("message", "")).replace("\n", " "),
        ]
        for e in events
    ]
    if args.all_namespaces:
        header = ["NAMESPACE", *header]
        rows = [[e["metadata"].get("namespace", ""), *r] for e, r in zip(events, rows, strict=True)]
    if not rows:
        terminal.failure("no events found")
        return 0
    terminal.table(header, rows)
    return 0


def register(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
) -> None:
    def configure_tree(parser: argparse.ArgumentParser, _: kinds.Kind) -> None:
        parser.add_argument("name")
        parser.add_argument("-o", "--output", choices=("json", "yaml"), help="the tree as data")
        parser.set_defaults(run=lambda args: session.run(_run_tree, args))

    kinds.add_verb(
        commands,
        "tree",
        help="print what a Kustomization applied, nested",
        configure=configure_tree,
        common=common,
        kinds=[kinds.by_kind_name(_KUSTOMIZATION)],
    )
    trace = commands.add_parser(
        "trace", parents=[common], help="trace an object to the Flux objects that applied it"
    )
    trace.add_argument("target", metavar="[KIND/]NAME")
    trace.add_argument("--kind", help="the object's kind (or write KIND/NAME)")
    trace.add_argument("--api-version", help="the object's apiVersion (e.g. apps/v1)")
    trace.set_defaults(run=lambda args: session.run(_trace, args))

    events = commands.add_parser("events", parents=[common], help="print Flux's events")
    events.add_argument("--for", dest="for_", metavar="KIND/NAME", help="only about this object")
    events.add_argument("-A", "--all-namespaces", action="store_true", help="every namespace")
    events.add_argument("--types", help="only these types, comma-separated (Normal,Warning)")
    events.set_defaults(run=lambda args: session.run(_events, args))
