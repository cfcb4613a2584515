"""``trace`` and ``events``: why an object is there, and what Flux said about it.

``trace [KIND/]NAME`` follows an object's owner labels to the Flux object
that applied it — a Kustomization (``kustomize.toolkit.fluxcd.io/name`` and
``/namespace``) or a HelmRelease (``helm.toolkit.fluxcd.io/name`` and
``/namespace``) — climbing ``ownerReferences`` first when the object itself
has none (a Pod of a ReplicaSet of an applied Deployment), as Flux does.
It then prints that object and its source chain with revisions: the
Kustomization's source and commit; or the HelmRelease, its HelmChart and
the chart's source (HelmRepository, GitRepository, Bucket), or its
``chartRef`` (OCIRepository, HelmChart, ExternalArtifact). Exit code 1
when the object is not managed by Flux. ``events --for KIND/NAME`` prints
the events of an object, of its source and of what it applied, oldest
first, in kubectl's columns.
"""

from __future__ import annotations

import argparse
import datetime
from typing import Any

from headwater.cli import getting, kinds, releases, session, terminal
from shared.kube import client, errors, inventory, resources

OWNER_NAME = "kustomize.toolkit.fluxcd.io/name"
OWNER_NAMESPACE = "kustomize.toolkit.fluxcd.io/namespace"
_MAX_OWNERS = 10


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


async def _owner(
    api: client.Client, obj: dict[str, Any], namespace: str
) -> tuple[str, str, str] | None:
    """("Kustomization"|"HelmRelease", namespace, name) of what applied ``obj``, or None.

    The object's own owner labels first, then those of its owners (by
    ``ownerReferences``, in the object's namespace), as Flux climbs them.
    """
    discovery = resources.Discovery(api)
    current = obj
    for _ in range(_MAX_OWNERS):
        labels = current["metadata"].get("labels") or {}
        if labels.get(OWNER_NAME):
            return "Kustomization", labels.get(OWNER_NAMESPACE) or namespace, labels[OWNER_NAME]
        helm_owner = releases.owner(labels, namespace)
        if helm_owner is not None:
            return "HelmRelease", *helm_owner
        references = current["metadata"].get("ownerReferences") or []
        if not references:
            return None
        reference = references[0]
        try:
            resource = await discovery.resolve(reference["apiVersion"], reference["kind"])
            current = await api.request(
                "GET",
                resource.path(
                    namespace=namespace if resource.namespaced else None, name=reference["name"]
                ),
            )
        except errors.NotFoundError:
            return None
    return None


async def _get(api: client.Client, kind_name: str, namespace: str, name: str) -> dict[str, Any]:
    kind = kinds.by_kind_name(kind_name)
    try:
        found: dict[str, Any] = await api.request(
            "GET", kind.resource.path(namespace=namespace, name=name)
        )
    except errors.NotFoundError as error:
        raise session.CliError(f"failed to find {kind.name} {namespace}/{name}") from error
    return found


def _source(obj: dict[str, Any]) -> None:
    """Print a source section: where it reads from, what it fetched, its status."""
    spec = obj.get("spec") or {}
    metadata = obj["metadata"]
    print("---")
    rows = [(obj["kind"], metadata["name"]), ("Namespace", metadata.get("namespace", ""))]
    if obj["kind"] == "HelmChart":
        rows += [("Chart", spec.get("chart", "")), ("Version", spec.get("version", "*"))]
    elif obj["kind"] == "ExternalArtifact":
        ref = spec.get("sourceRef") or {}
        rows.append(("Source", f"{ref.get('kind')}/{ref.get('namespace')}/{ref.get('name')}"))
    else:
        rows.append(("URL", spec.get("url", "")))
    for field, value in (spec.get("ref") or {}).items():
        rows.append((field.capitalize(), str(value)))
    revision = getting.revision(obj)
    if revision:
        rows.append(("Revision", revision))
    if obj["kind"] == "GitRepository" and ":" in revision:
        rows.append(("Commit", revision.rpartition(":")[2]))
    _fields([*rows, *_status_rows(obj)])


async def _trace_kustomization(api: client.Client, namespace: str, name: str) -> None:
    ks = await _get(api, "Kustomization", namespace, name)
    spec = ks.get("spec") or {}
    print("---")
    _fields(
        [
            ("Kustomization", name),
            ("Namespace", namespace),
            ("Target", spec.get("targetNamespace", "")),
            ("Path", spec.get("path", "")),
            ("Revision", getting.revision(ks)),
            *_status_rows(ks),
        ]
    )
    ref = spec.get("sourceRef") or {}
    _source(await _get(api, ref.get("kind", "GitRepository"), ref.get("namespace") or namespace,
                       ref.get("name", "")))  # fmt: skip


async def _trace_helmrelease(api: client.Client, namespace: str, name: str) -> None:
    hr = await _get(api, "HelmRelease", namespace, name)
    spec = hr.get("spec") or {}
    status = hr.get("status") or {}
    print("---")
    rows = [("HelmRelease", name), ("Namespace", namespace)]
    if spec.get("targetNamespace"):
        rows.append(("Target", spec["targetNamespace"]))
    rows.append(("Revision", str(status.get("lastAttemptedRevision") or "")))
    _fields([*rows, *_status_rows(hr)])
    chart_ref = spec.get("chartRef")
    if chart_ref:
        source_namespace = chart_ref.get("namespace") or namespace
        source = await _get(api, chart_ref["kind"], source_namespace, chart_ref["name"])
    elif status.get("helmChart"):
        chart_namespace, _, chart_name = str(status["helmChart"]).partition("/")
        source = await _get(api, "HelmChart", chart_namespace, chart_name)
    else:
        return
    _source(source)
    if source["kind"] == "HelmChart":
        ref = (source.get("spec") or {}).get("sourceRef") or {}
        source_namespace = source["metadata"].get("namespace", namespace)
        _source(await _get(api, ref["kind"], source_namespace, ref["name"]))


async def _trace(api: client.Client, args: argparse.Namespace) -> int:
    resource, name = await _resolve(api, args.target, args.kind, args.api_version)
    namespace = args.namespace if resource.namespaced else None
    obj = await api.request("GET", resource.path(namespace=namespace, name=name))
    _fields(
        [("Object", f"{resource.kind}/{name}")] + ([("Namespace", namespace)] if namespace else [])
    )
    found = await _owner(api, obj, namespace or args.namespace)
    if found is None:
        _fields([("Status", "Not managed by Flux")])
        raise session.CliError(
            f"{resource.kind}/{name} has no {OWNER_NAME} or {releases.OWNER_NAME} label, "
            "nor an owner with one: it was not applied by Flux"
        )
    _fields([("Status", "Managed by Flux")])
    owner_kind, owner_namespace, owner_name = found
    if owner_kind == "Kustomization":
        await _trace_kustomization(api, owner_namespace, owner_name)
    else:
        await _trace_helmrelease(api, owner_namespace, owner_name)
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
    obj.setdefault("kind", kind.name)
    source = kinds.source_of(kind, obj)
    if source is not None:
        related.add((source[0].name, source[1], source[2]))
    if kind.name == "HelmRelease":
        applied = await releases.applied(api, obj, resources.Discovery(api))
    else:
        entries = ((obj.get("status") or {}).get("inventory") or {}).get("entries")
        applied = inventory.from_entries(entries)
    related.update((child.kind, child.namespace, child.name) for child in applied)
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
