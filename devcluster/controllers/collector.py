"""Garbage collection through ownerReferences, and namespace deletion.

Plays kube-controller-manager's garbage collector and namespace controller over
the devcluster's HTTP API. It discovers every resource that can be listed,
watched and deleted (again whenever a CRD changes), keeps a small ownership
graph (uid → owners, owner uid → dependents) and acts on it:

- a dependent whose owners are all gone is deleted (Background);
- a dependent with some owners alive loses only its references to the gone ones;
- an owner deleted with ``propagationPolicy: Foreground`` holds the
  ``foregroundDeletion`` finalizer (the server adds it): its dependents are
  deleted, and once none with ``blockOwnerDeletion`` remains the finalizer is
  removed and the owner goes;
- ``Orphan`` (the ``orphan`` finalizer): dependents lose their reference to the
  owner, then the finalizer is removed;
- a namespace in ``Terminating`` has all its objects deleted; once none is left
  its ``kubernetes`` finalizer is removed through ``/finalize`` and it goes.

The server adds the policy finalizers and hands namespaces over only while a
collector runs (``Cluster.collector_running``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
from collections.abc import Mapping
from typing import Any

import structlog

from devcluster.controllers import apiclient

Obj = dict[str, Any]
WorkKey = tuple[str, str]  # ("uid", uid) | ("namespace", name) | ("discover", "")

FOREGROUND = "foregroundDeletion"
ORPHAN = "orphan"
NAMESPACE_FINALIZER = "kubernetes"
NAMESPACES = apiclient.Gvr("", "v1", "namespaces", False, "Namespace")
CRDS = apiclient.Gvr(
    "apiextensions.k8s.io", "v1", "customresourcedefinitions", False, "CustomResourceDefinition"
)

_log = structlog.get_logger("devcluster.controllers.collector")


@dataclasses.dataclass(frozen=True)
class OwnerRef:
    uid: str
    api_version: str
    kind: str
    name: str
    block: bool


@dataclasses.dataclass(frozen=True)
class Node:
    """What the graph keeps of an object: identity, owners, deletion state."""

    uid: str
    gvr: apiclient.Gvr
    namespace: str
    name: str
    owners: tuple[OwnerRef, ...]
    deleting: bool
    finalizers: tuple[str, ...]

    @property
    def path(self) -> str:
        return self.gvr.path(self.namespace or None, self.name)


def to_node(gvr: apiclient.Gvr, obj: Obj) -> Node:
    meta = obj.get("metadata") or {}
    owners = tuple(
        OwnerRef(
            uid=str(ref.get("uid", "")),
            api_version=str(ref.get("apiVersion", "")),
            kind=str(ref.get("kind", "")),
            name=str(ref.get("name", "")),
            block=bool(ref.get("blockOwnerDeletion")),
        )
        for ref in meta.get("ownerReferences") or []
    )
    return Node(
        uid=str(meta.get("uid", "")),
        gvr=gvr,
        namespace=str(meta.get("namespace") or ""),
        name=str(meta.get("name", "")),
        owners=owners,
        deleting=bool(meta.get("deletionTimestamp")),
        finalizers=tuple(meta.get("finalizers") or ()),
    )


class Collector:
    """The garbage collector and namespace controller of one server."""

    def __init__(
        self,
        client: apiclient.Client,
        *,
        shared: Mapping[tuple[str, str], apiclient.Informer[Obj]] | None = None,
    ) -> None:
        """``shared``: informers of full objects another controller runs, by
        (group, plural); the collector adds its handler to them instead of
        opening a second watch of the same resource."""
        self._client = client.with_manager("kube-controller-manager")
        self._shared = dict(shared or {})
        self._watched: set[tuple[str, str]] = set()
        self._synced_events: list[asyncio.Event] = []
        self._nodes: dict[str, Node] = {}
        self._dependents: dict[str, set[str]] = {}
        self._terminating: set[str] = set()
        self._tasks: dict[apiclient.Gvr, asyncio.Task[None]] = {}
        self._kinds: dict[tuple[str, str], apiclient.Gvr] = {}
        self._queue: apiclient.WorkQueue[WorkKey] = apiclient.WorkQueue()
        self._stop = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        self._stop = stop
        self._start(CRDS)
        self._queue.add(("discover", ""))
        worker = asyncio.create_task(self._queue.run(self._reconcile, workers=2, stop=stop))
        try:
            await stop.wait()
        finally:
            tasks = [worker, *self._tasks.values()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    # --- discovery and informers ---------------------------------------------

    async def _discover(self) -> None:
        found: list[apiclient.Gvr] = []
        core = await self._client.request("GET", "/api/v1")
        found += _resources(core, group="", version="v1")
        groups = await self._client.request("GET", "/apis")
        for group in groups.get("groups") or []:
            preferred = (group.get("preferredVersion") or {}).get("groupVersion")
            if not preferred:
                continue
            listing = await self._client.get(f"/apis/{preferred}")
            if listing is not None:
                name, _, version = str(preferred).rpartition("/")
                found += _resources(listing, group=name, version=version)
        # Keyed by group and kind: an ownerReference may name any served version.
        self._kinds = {(gvr.group, gvr.kind): gvr for gvr in found}
        wanted = {_unversioned(g): g for g in found}
        for gvr, task in list(self._tasks.items()):
            # An informer ends by itself when its resource stops being served
            # (404); a CRD deleted and re-created quickly needs a new one.
            if gvr is not CRDS and (_unversioned(gvr) not in wanted or task.done()):
                self._tasks.pop(gvr).cancel()
                self._watched.discard(_unversioned(gvr))
        for key, gvr in wanted.items():
            if key not in self._watched:
                self._start(gvr)

    def _start(self, gvr: apiclient.Gvr) -> None:
        key = _unversioned(gvr)
        self._watched.add(key)
        shared = self._shared.get(key)
        if shared is not None:

            def handle(kind: str, new: Obj, old: Obj | None) -> None:
                self._handle(kind, to_node(gvr, new), None if old is None else to_node(gvr, old))

            shared.add_handler(handle)
            self._synced_events.append(shared.synced)
            return
        informer: apiclient.Informer[Node] = apiclient.Informer(
            self._client,
            gvr,
            transform=functools.partial(to_node, gvr),
            handler=self._handle,
        )
        self._synced_events.append(informer.synced)
        self._tasks[gvr] = asyncio.create_task(informer.run(self._stop))

    def _synced(self) -> bool:
        return all(event.is_set() for event in self._synced_events)

    # --- the graph -------------------------------------------------------------

    def _handle(self, kind: str, node: Node, old: Node | None) -> None:
        if node.gvr == CRDS:
            self._queue.add(("discover", ""))
            return
        if old is not None:
            for ref in old.owners:
                self._dependents.get(ref.uid, set()).discard(old.uid)
        if kind == "DELETED":
            self._nodes.pop(node.uid, None)
            for dependent in self._dependents.pop(node.uid, set()):
                self._queue.add(("uid", dependent))
            for ref in node.owners:
                self._queue.add(("uid", ref.uid))
            if node.namespace in self._terminating:
                self._queue.add(("namespace", node.namespace))
            if node.gvr == NAMESPACES:
                self._terminating.discard(node.name)
            return
        self._nodes[node.uid] = node
        for ref in node.owners:
            self._dependents.setdefault(ref.uid, set()).add(node.uid)
        if node.gvr == NAMESPACES:
            if node.deleting:
                self._terminating.add(node.name)
                self._queue.add(("namespace", node.name))
            return
        if node.owners or (node.deleting and {FOREGROUND, ORPHAN} & set(node.finalizers)):
            self._queue.add(("uid", node.uid))
        if node.deleting and node.namespace in self._terminating:
            self._queue.add(("namespace", node.namespace))

    async def _reconcile(self, key: WorkKey) -> None:
        kind, value = key
        if kind == "discover":
            await self._discover()
            # Objects seen before their owners' kinds were known get another look.
            for uid, known in list(self._nodes.items()):
                if known.owners:
                    self._queue.add(("uid", uid))
        elif kind == "namespace":
            await self._namespace(value)
        else:
            node = self._nodes.get(value)
            if node is None:
                return
            if node.deleting and ORPHAN in node.finalizers:
                await self._orphan(node)
            elif node.deleting and FOREGROUND in node.finalizers:
                await self._foreground(node)
            elif node.owners and not node.deleting:
                await self._attempt_to_delete(node)

    # --- ownerReferences -------------------------------------------------------

    async def _owner_state(self, node: Node, ref: OwnerRef) -> str:
        """``alive``, ``waiting`` (deleting in foreground) or ``absent``."""
        owner = self._nodes.get(ref.uid)
        if owner is not None:
            return "waiting" if owner.deleting and FOREGROUND in owner.finalizers else "alive"
        group = ref.api_version.rpartition("/")[0]
        gvr = self._kinds.get((group, ref.kind))
        if gvr is None:
            # NB: an owner of a kind not (yet) served is kept, as the real GC retries.
            return "alive"
        live = await self._client.get(gvr.path(node.namespace or None, ref.name))
        if live is not None and (live.get("metadata") or {}).get("uid") == ref.uid:
            return "alive"
        return "absent"

    async def _attempt_to_delete(self, node: Node) -> None:
        states = {ref.uid: await self._owner_state(node, ref) for ref in node.owners}
        if "alive" in states.values():
            gone = {uid for uid, state in states.items() if state != "alive"}
            if gone:
                await self._drop_owner_refs(node, gone)
            return
        if "waiting" in states.values() and self._dependents.get(node.uid):
            policy = "Foreground"
        elif ORPHAN in node.finalizers:
            policy = "Orphan"
        elif FOREGROUND in node.finalizers:
            policy = "Foreground"
        else:
            policy = "Background"
        _log.debug("collector.delete", path=node.path, policy=policy)
        await self._client.delete(node.path, propagation=policy, uid=node.uid)

    async def _drop_owner_refs(self, node: Node, uids: set[str]) -> None:
        live = await self._client.get(node.path)
        if live is None or (live.get("metadata") or {}).get("uid") != node.uid:
            return
        meta = live["metadata"]
        kept = [r for r in meta.get("ownerReferences") or [] if r.get("uid") not in uids]
        await self._client.merge_patch(
            node.path,
            {
                "metadata": {
                    "ownerReferences": kept or None,
                    "resourceVersion": meta["resourceVersion"],
                }
            },
        )

    async def _remove_finalizer(self, node: Node, finalizer: str) -> None:
        live = await self._client.get(node.path)
        if live is None or (live.get("metadata") or {}).get("uid") != node.uid:
            return
        meta = live["metadata"]
        kept = [f for f in meta.get("finalizers") or [] if f != finalizer]
        await self._client.merge_patch(
            node.path,
            {"metadata": {"finalizers": kept or None, "resourceVersion": meta["resourceVersion"]}},
        )

    async def _foreground(self, owner: Node) -> None:
        blocking = 0
        for uid in list(self._dependents.get(owner.uid, ())):
            dependent = self._nodes.get(uid)
            if dependent is None:
                continue
            if any(r.uid == owner.uid and r.block for r in dependent.owners):
                blocking += 1
            if not dependent.deleting:
                await self._attempt_to_delete(dependent)
        if blocking == 0:
            await self._remove_finalizer(owner, FOREGROUND)

    async def _orphan(self, owner: Node) -> None:
        for uid in list(self._dependents.get(owner.uid, ())):
            dependent = self._nodes.get(uid)
            if dependent is not None:
                await self._drop_owner_refs(dependent, {owner.uid})
        await self._remove_finalizer(owner, ORPHAN)

    # --- namespaces ------------------------------------------------------------

    async def _namespace(self, name: str) -> None:
        if not self._synced():
            self._queue.add_after(("namespace", name), 0.1)
            return
        remaining = [n for n in self._nodes.values() if n.namespace == name and n.gvr.namespaced]
        for node in remaining:
            if not node.deleting:
                await self._client.delete(node.path, propagation="Background", uid=node.uid)
        if remaining:
            return  # their DELETED events bring the namespace back here
        live = await self._client.get(NAMESPACES.path(None, name))
        if live is None or not (live.get("metadata") or {}).get("deletionTimestamp"):
            return
        finalizers = list((live.get("spec") or {}).get("finalizers") or [])
        if NAMESPACE_FINALIZER not in finalizers:
            return
        live["spec"] = {
            **(live.get("spec") or {}),
            "finalizers": [f for f in finalizers if f != NAMESPACE_FINALIZER],
        }
        await self._client.request("PUT", NAMESPACES.path(None, name, "finalize"), body=live)


def _unversioned(gvr: apiclient.Gvr) -> tuple[str, str]:
    return gvr.group, gvr.plural


def _resources(listing: Obj, *, group: str, version: str) -> list[apiclient.Gvr]:
    out = []
    for res in listing.get("resources") or []:
        name = str(res.get("name", ""))
        verbs = set(res.get("verbs") or [])
        if "/" in name or not {"list", "watch", "delete"} <= verbs:
            continue
        out.append(
            apiclient.Gvr(
                group, version, name, bool(res.get("namespaced")), str(res.get("kind", ""))
            )
        )
    return out
