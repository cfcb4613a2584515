"""Watch responses: a chunked stream of ``{"type", "object"}`` JSON lines.

Semantics (those of kube-apiserver):

- no ``resourceVersion`` or ``"0"``: synthetic ADDED events for what exists,
  then changes;
- version N: only changes after N; older than the retained history: one
  ERROR event carrying a 410 Expired Status ("too old resource version");
- ``sendInitialEvents=true``: ADDED events for what exists, then a BOOKMARK
  annotated ``k8s.io/initial-events-end: "true"`` (kubectl delete/wait and
  Helm's wait block on it);
- ``allowWatchBookmarks``: periodic BOOKMARKs carrying only the version;
- ``timeoutSeconds`` ends the stream; namespace, label and field selectors
  filter events, and a change that makes an object start or stop matching
  is sent as ADDED or DELETED (as the API server's watch cache does);
- Accept ``as=Table``: each event object is a one-row Table (``kubectl get -w``);
- a watch of custom resources ends (the stream closes, after the DELETED
  events of the objects) once their CRD is deleted, as kube-apiserver
  stops the resource's storage and with it every watch: clients see the
  watch close and a new one is 404, so they stop instead of waiting on a
  stream that will never carry another event.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiohttp import web

from devcluster.endpoints import requests, tables
from devcluster.machinery import errors, selectors
from devcluster.registry import cluster as cluster_mod
from devcluster.schemas import resources
from devcluster.serializers import encoding
from devcluster.storage import watching

Obj = dict[str, Any]
BOOKMARK_INTERVAL = 1.0
DEFAULT_TIMEOUT = 1800.0


class _Filter:
    def __init__(
        self,
        target: requests.Target,
        labels: tuple[selectors.Requirement, ...],
        fields: tuple[selectors.FieldRequirement, ...],
    ) -> None:
        self.namespace = target.namespace
        self.labels = labels
        self.fields = fields

    def matches(self, obj: Obj) -> bool:
        meta = obj.get("metadata") or {}
        if self.namespace is not None and meta.get("namespace") != self.namespace:
            return False
        return selectors.labels_match(self.labels, obj) and selectors.fields_match(self.fields, obj)


async def serve(
    request: web.Request,
    state: cluster_mod.Cluster,
    target: requests.Target,
    *,
    labels: tuple[selectors.Requirement, ...],
    fields: tuple[selectors.FieldRequirement, ...],
) -> web.StreamResponse:
    query = request.query
    res = target.resource
    version_text = query.get("resourceVersion", "")
    initial = requests.flag(query, "sendInitialEvents")
    bookmarks = requests.flag(query, "allowWatchBookmarks")
    if initial and query.get("resourceVersionMatch") != "NotOlderThan":
        raise errors.invalid(
            "meta.k8s.io",
            "ListOptions",
            "",
            [
                (
                    "FieldValueForbidden",
                    "resourceVersionMatch",
                    "Forbidden: sendInitialEvents requires setting resourceVersionMatch to "
                    "NotOlderThan",
                )
            ],
        )
    try:
        timeout = float(query.get("timeoutSeconds") or DEFAULT_TIMEOUT)
    except ValueError as error:
        raise errors.bad_request("invalid timeoutSeconds") from error
    table_version = tables.negotiate(request.headers.get("Accept"))
    include = query.get("includeObject", "Metadata")
    selection = _Filter(target, labels, fields)

    synthetic = initial or version_text in ("", "0")
    since: int | None
    if synthetic:
        since = None
    else:
        try:
            since = int(version_text)
        except ValueError as error:
            raise errors.bad_request(f"invalid resource version: {version_text}") from error

    response = web.StreamResponse(status=200)
    response.content_type = "application/json"
    response.enable_chunked_encoding()

    encode = _Encoder(res, table_version, include)

    try:
        subscription, backlog = state.hub.subscribe(res.key, since=since)
    except watching.TooOldError:
        await response.prepare(request)
        current = state.store.current_version()
        status = errors.expired(f"too old resource version: {version_text} ({current})").status()
        await response.write(encode("ERROR", status))
        await response.write_eof()
        return response

    await response.prepare(request)
    last_version = state.store.current_version()
    try:
        if synthetic:
            for obj in state.list(res, target.namespace):
                if selection.matches(obj):
                    await response.write(encode("ADDED", obj))
            if initial:
                await response.write(
                    encode("BOOKMARK", _bookmark(res, last_version, initial_events_end=True))
                )
        for event in backlog:
            await _send(response, encode, state, res, selection, event)
            last_version = event.version
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not _served(state, res):
                break
            try:
                event = await asyncio.wait_for(
                    subscription.queue.get(), timeout=min(remaining, BOOKMARK_INTERVAL)
                )
            except TimeoutError:
                transport = request.transport
                if transport is None or transport.is_closing():
                    break  # the client went away; nothing will read further events
                if bookmarks:
                    version = max(last_version, state.store.current_version())
                    await response.write(encode("BOOKMARK", _bookmark(res, version)))
                continue
            await _send(response, encode, state, res, selection, event)
            last_version = event.version
        await response.write_eof()
    except ConnectionResetError:
        pass
    finally:
        subscription.close()
    return response


def _served(state: cluster_mod.Cluster, res: resources.Resource) -> bool:
    """Whether ``res`` is still served by the same CRD (built-ins always are)."""
    if res.crd is None:
        return True
    found = state.registry.lookup(res.group, res.version, res.plural)
    if found is None or found.crd is None:
        return False
    return bool(found.crd["metadata"].get("uid") == res.crd["metadata"].get("uid"))


def _bookmark(res: resources.Resource, version: int, *, initial_events_end: bool = False) -> Obj:
    """A BOOKMARK event's object: only the kind and ``version`` (plus the end-of-initial-events
    annotation after a ``sendInitialEvents`` listing)."""
    metadata: Obj = {"resourceVersion": str(version)}
    if initial_events_end:
        metadata["annotations"] = {"k8s.io/initial-events-end": "true"}
    return {"kind": res.kind, "apiVersion": res.group_version, "metadata": metadata}


class _Encoder:
    """Encodes events as watch lines; ``plain`` ones (no Table) are the same for all watchers."""

    def __init__(self, res: Any, table_version: str | None, include: str) -> None:
        self.res = res
        self.table_version = table_version
        self.include = include
        self.plain = table_version is None

    def __call__(self, kind: str, obj: Obj) -> bytes:
        if self.table_version is not None and kind not in ("BOOKMARK", "ERROR"):
            obj = tables.table(self.res, [obj], version=self.table_version, include=self.include)
        return encoding.to_json({"type": kind, "object": obj}) + b"\n"


async def _send(
    response: web.StreamResponse,
    encode: _Encoder,
    state: cluster_mod.Cluster,
    res: Any,
    selection: _Filter,
    event: watching.Event,
) -> None:
    obj = state.as_version(res, event.object)
    matches = selection.matches(obj)
    kind = event.type
    if kind == "MODIFIED" and event.old is not None:
        matched = selection.matches(event.old)
        if matches and not matched:
            kind = "ADDED"
        elif matched and not matches:
            kind, matches = "DELETED", True
    if not matches:
        return
    if encode.plain:
        key = (kind, str(obj.get("apiVersion")))
        line = event.lines.get(key)
        if line is None:
            line = event.lines[key] = encode(kind, obj)
        await response.write(line)
    else:
        await response.write(encode(kind, obj))
