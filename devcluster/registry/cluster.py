"""The cluster state and its write pipeline: every create, update and delete.

``Cluster`` owns the store, the resource registry, the change-event hub and
the type catalog. Handlers decode HTTP requests into calls here; this module
applies the API server's strategy rules in one place:

- metadata: ``uid``, ``creationTimestamp``, ``generateName``, name rules,
  namespace existence (404) and termination (403);
- ``resourceVersion``: one global counter; a stale precondition is 409;
  a write that changes nothing is skipped and keeps the version (SSA no-op);
- ``generation`` and the status/main-resource split (pure rules in
  ``strategies``);
- deletion: finalizers hold the object with ``deletionTimestamp`` set;
  it goes (DELETED event) when the last finalizer is removed;
- ``managedFields`` on every write through ``fieldmanager``;
- dry runs do all of this but store and publish nothing;
- a re-apply of the same configuration to the same object version is
  answered from memory (apply is a pure function of both); one of the same
  shape by the same manager takes ``reapply``'s fast path (``applycache``
  holds what it needs).

Resource-specific hooks (CRD registration, custom-resource validation) are
delegated to ``crds``; built-in validation and defaults to ``validation`` and
``defaults``.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime
from collections.abc import Callable
from typing import Any

from devcluster.apiextensions import crds
from devcluster.fieldmanager import applycache, fieldmanager, reapply
from devcluster.machinery import errors, objects
from devcluster.registry import defaults, services, strategies
from devcluster.schemas import kindchecks, resources, validation
from devcluster.storage import storage, watching
from devcluster.structuredmerge import managedfields, typeinfo

Obj = dict[str, Any]
JsonPaths = list[reapply.JsonPath]
Entries = list[managedfields.Entry]
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
_NAMESPACES = ("/namespaces", "")


@dataclasses.dataclass
class WriteOptions:
    """Query options of a write, plus the warnings it produces."""

    dry_run: bool = False
    manager: str | None = None
    field_validation: str = "Strict"
    force: bool = False
    user_agent: str | None = None
    warnings: list[str] = dataclasses.field(default_factory=list)
    # The request body as sent, when the handler has it (a cheap fingerprint of an apply).
    raw_body: bytes | None = None

    def manager_name(self) -> str:
        return self.manager or fieldmanager.manager_from_user_agent(self.user_agent)


class Cluster:
    """All state of one devcluster server; single-threaded (the event loop)."""

    def __init__(
        self,
        *,
        store: storage.Storage,
        catalog: typeinfo.Catalog,
        watch_history: int = 20000,
        clock: Callable[[], datetime.datetime] = objects.now,
        fast_reapply: bool = True,
    ) -> None:
        """``clock`` gives managedFields times; ``fast_reapply=False`` runs every apply
        through the full algorithm (no fast path, no decoded-entries cache)."""
        self.store = store
        self.catalog = catalog
        self.registry = resources.Registry()
        self.hub = watching.Hub(start_version=store.current_version(), retain=watch_history)
        # Whether a garbage collector runs (then Foreground/Orphan add finalizers
        # and namespace contents are left to it).
        self.collector_running = False
        self._types: dict[resources.Resource, typeinfo.Struct] = {}
        self._clock = clock
        self._fast_reapply = fast_reapply
        self._applied = applycache.Records()
        self._decoded = applycache.DecodedEntries()
        # How successful applies were answered: "memo" (unchanged), "fast" (reapply) or
        # "full"; "declined": the fast path was tried and left it to the full one;
        # "round_trip_checks": ``reapply.round_trips`` run.
        self.apply_paths: collections.Counter[str] = collections.Counter()
        for crd in store.list("apiextensions.k8s.io/customresourcedefinitions", None):
            self.registry.set_crd(crd["metadata"]["name"], crds.served_resources(crd))
        for name in SYSTEM_NAMESPACES:
            if store.get((*_NAMESPACES, name)) is None:
                namespace_res = self.registry.lookup("", "v1", "namespaces")
                assert namespace_res is not None
                self.create(
                    namespace_res,
                    "",
                    {"metadata": {"name": name}},
                    WriteOptions(manager="devcluster"),
                )

    # --- types ---------------------------------------------------------------

    def object_type(self, res: resources.Resource) -> typeinfo.Struct:
        found = self._types.get(res)
        if found is None:
            if res.crd is not None:
                found = typeinfo.from_crd_schema(
                    crds.version_schema(res.crd, res.version),
                    object_meta=self.catalog.definition(
                        "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
                    ),
                )
            else:
                built = self.catalog.object_type(
                    group=res.group, version=res.version, kind=res.kind
                )
                if built is None:
                    raise errors.internal(f"no schema for {res.kind}")
                found = built
            self._types[res] = found
        return found

    # --- reads ---------------------------------------------------------------

    def get(self, res: resources.Resource, namespace: str, name: str) -> Obj:
        found = self.store.get((res.key, namespace if res.namespaced else "", name))
        if found is None:
            raise errors.not_found(res.group, res.plural, name)
        return self.as_version(res, found)

    def list(self, res: resources.Resource, namespace: str | None) -> list[Obj]:
        items = self.store.list(res.key, namespace if res.namespaced else None)
        return [self.as_version(res, item) for item in items]

    @staticmethod
    def as_version(res: resources.Resource, obj: Obj) -> Obj:
        """``obj`` as the requested version (versions of one resource share a schema here)."""
        if obj.get("apiVersion") == res.group_version:
            return obj
        return {**obj, "apiVersion": res.group_version}

    def require_namespace(self, res: resources.Resource, namespace: str, *, creating: bool) -> None:
        if not res.namespaced:
            return
        found = self.store.get((*_NAMESPACES, namespace))
        if found is None:
            raise errors.not_found("", "namespaces", namespace)
        if creating and objects.meta(found).get("deletionTimestamp"):
            raise errors.forbidden(
                f"unable to create new content in namespace {namespace} because it is being"
                " terminated",
                group=res.group,
                plural=res.plural,
            )

    # --- writes --------------------------------------------------------------

    def _admit(
        self,
        res: resources.Resource,
        old: Obj | None,
        new: Obj,
        opts: WriteOptions,
        *,
        leaves: JsonPaths | None = None,
    ) -> Obj:
        """Validate (and for custom resources prune/default) ``new``.

        ``leaves``: ``new`` is the stored (valid) object with only the scalars
        at these JSON paths changed, so a built-in kind checks just those.
        """
        if res.key == "/secrets":
            # Decoding (a 400) comes before validation in the API server.
            undecodable = kindchecks.secret_data_error(new)
            if undecodable is not None:
                raise errors.bad_request(undecodable)
        strategies.check_metadata(res, new)
        if res.crd is not None:
            new = crds.admit_custom(
                res, new, field_validation=opts.field_validation, warnings=opts.warnings, old=old
            )
        elif leaves is not None and validation.leaves_valid(res, new, leaves):
            new = dict(new)
        else:
            new = validation.check_builtin(
                res, new, field_validation=opts.field_validation, warnings=opts.warnings
            )
            fill = defaults.defaulter(res.key)
            if fill is not None:
                new = fill(new)  # owns spec and its ports: safe to change below
            if res.key == "/services":
                if old is None:
                    services.allocate(new, self.store.list(res.key, None))
                else:
                    services.keep_allocated(old, new)
        if res.key == "apiextensions.k8s.io/customresourcedefinitions":
            new = crds.admit_definition(new, old, self.registry)
        if res.key == "/secrets":
            new = objects.fold_string_data(new)
        # The kind's validation, then (on update) its immutable fields, in one 422.
        refused = kindchecks.causes(res.key, new) if res.crd is None else []
        if old is not None:
            refused += strategies.immutable_causes(res, old, new)
        if refused:
            name = str(new["metadata"].get("name", ""))
            raise errors.invalid(res.group, res.kind, name, refused)
        return new

    def _initialize(self, res: resources.Resource, namespace: str, new: Obj) -> Obj:
        """Server-owned metadata of an object about to be created."""
        metadata = new["metadata"]
        if not metadata.get("name") and metadata.get("generateName"):
            metadata["name"] = objects.generate_name(str(metadata["generateName"]))
        self.require_namespace(res, namespace, creating=True)
        name = metadata.get("name")
        if (
            name
            and self.store.get((res.key, namespace if res.namespaced else "", name)) is not None
        ):
            raise errors.already_exists(res.group, res.plural, name)
        return strategies.create(res, new)

    def create(self, res: resources.Resource, namespace: str, body: Obj, opts: WriteOptions) -> Obj:
        new = strategies.check_body(res, body, namespace)
        if new["metadata"].get("resourceVersion"):
            raise errors.bad_request("resourceVersion should not be set on objects to be created")
        new = self._initialize(res, namespace, new)
        new = self._admit(res, None, new, opts)
        new = fieldmanager.update(
            None,
            new,
            manager=opts.manager_name(),
            schema=self.object_type(res),
            now=self._clock(),
            status_subresource=res.has_status,
        )
        return self._store(res, None, new, opts)

    def apply(
        self,
        res: resources.Resource,
        namespace: str,
        name: str,
        body: Obj,
        opts: WriteOptions,
        *,
        subresource: str = "",
    ) -> tuple[Obj, bool]:
        """Server-side apply by ``opts.manager``; returns the object and whether it was created."""
        fieldmanager.check_apply_body(body, api_version=res.group_version, kind=res.kind, name=name)
        strategies.check_body(res, body, namespace)
        # The applied configuration is kept as sent (kubectl's last-applied copy is of it).
        config = dict(body)
        metadata = dict(config.get("metadata") or {})
        metadata["name"] = name
        config["metadata"] = metadata
        old = self.store.get((res.key, namespace if res.namespaced else "", name))
        if old is None and subresource:
            raise errors.not_found(res.group, res.plural, name)
        given = metadata.get("resourceVersion")
        if given and (old is None or given != objects.meta(old).get("resourceVersion")):
            raise errors.modified(res.group, res.plural, name)
        if old is None:
            self.require_namespace(res, namespace, creating=True)
        memo_key = (
            res.key,
            namespace,
            name,
            str(opts.manager),
            subresource,
            opts.force,
            opts.field_validation,
        )
        record = self._applied.get(memo_key) if old is not None else None
        if (
            old is None
            or record is None
            or record.version != objects.meta(old).get("resourceVersion")
            or record.schema_generation != self.registry.generation
        ):
            record = None
        changes: JsonPaths | None = None
        if old is not None and record is not None:
            if opts.raw_body is not None and opts.raw_body == record.raw:
                changes = []
            else:
                changes = reapply.leaf_changes(record.config, config)
            if changes == []:
                # The same configuration applied to the same object version: apply is a
                # pure function of both, so the (unchanged) stored object is the answer.
                self.apply_paths["memo"] += 1
                return self.as_version(res, old), False
        schema = self.object_type(res)
        now = self._clock()
        defaulter = defaults.defaulter(res.key) if res.crd is None else None
        entries: Entries | None = None
        if old is not None and self._fast_reapply:
            entries = self._decoded.of(old)
        outcome: fieldmanager.Applied | None = None
        leaves: JsonPaths | None = None
        if old is not None and entries is not None and record is not None and changes:
            fast = self._reapply(
                res,
                old,
                config,
                record=record,
                changes=changes,
                entries=entries,
                now=now,
                subresource=subresource,
                opts=opts,
                defaulter=defaulter,
                schema=schema,
            )
            if fast is not None:
                outcome, leaves = fast.applied, fast.leaves
            else:
                self.apply_paths["declined"] += 1
        if outcome is None:
            outcome = fieldmanager.apply_tracked(
                old,
                config,
                manager=str(opts.manager),
                schema=schema,
                now=now,
                force=opts.force,
                subresource=subresource,
                status_subresource=res.has_status,
                defaulter=defaulter,
                entries=entries,
            )
        new = outcome.object
        # The result is fresh except for parts shared with the stored object, which
        # the strategy below copies before changing; a created object is all new.
        if res.namespaced:
            new["metadata"] = {**new.get("metadata", {}), "namespace": namespace}
        if old is None:
            new = objects.clone(new)
            new = self._initialize(res, namespace, new)
            new = self._admit(res, None, new, opts)
            stored = self._store(res, None, new, opts)
        else:
            new = strategies.update(res, old, new, subresource=subresource)
            new = self._admit(res, old, new, opts, leaves=leaves)
            stored = self._store(res, old, new, opts)
        self.apply_paths["full" if leaves is None else "fast"] += 1
        if not opts.dry_run and not opts.warnings:
            self._remember_apply(
                memo_key,
                old=old,
                stored=stored,
                config=config,
                outcome=outcome,
                fast=leaves is not None,
                previous=record if changes is not None else None,
                raw=opts.raw_body,
            )
        return stored, old is None

    def _reapply(
        self,
        res: resources.Resource,
        old: Obj,
        config: Obj,
        *,
        record: applycache.Record,
        changes: JsonPaths,
        entries: Entries,
        now: datetime.datetime,
        subresource: str,
        opts: WriteOptions,
        defaulter: fieldmanager.Defaulter | None,
        schema: typeinfo.Struct,
    ) -> reapply.Reapplied | None:
        """The fast path, when ``record`` (the previous apply, still live) allows it.

        Called only with the fast path on (``entries`` come from its cache).
        """
        if record.should_check():
            self.apply_paths["round_trip_checks"] += 1
            record.round_trips = reapply.round_trips(
                old,
                record.config,
                entries=entries,
                applied=record.applied,
                manager=str(opts.manager),
                subresource=subresource,
                schema=schema,
                status_subresource=res.has_status,
            )
            record.misses = 0 if record.round_trips else record.misses + 1
        elif record.round_trips is None:
            record.misses += 1  # a skipped check counts towards the next retry
        if not record.round_trips:
            return None
        return reapply.reapply(
            old,
            config,
            changes=changes,
            applied=record.applied,
            entries=entries,
            manager=str(opts.manager),
            schema=schema,
            now=now,
            subresource=subresource,
            status_subresource=res.has_status,
            defaulter=defaulter,
        )

    def _remember_apply(
        self,
        key: tuple[Any, ...],
        *,
        old: Obj | None,
        stored: Obj,
        config: Obj,
        outcome: fieldmanager.Applied,
        fast: bool,
        previous: applycache.Record | None,
        raw: bytes | None,
    ) -> None:
        """Record a successful apply (and its decoded entries) for the next one."""
        version = str(stored["metadata"]["resourceVersion"])
        record = applycache.Record(
            version=version,
            schema_generation=self.registry.generation,
            config=config,
            applied=outcome.applied,
            raw=raw,
        )
        written = old is None or version != objects.meta(old).get("resourceVersion")
        if fast and written and _same_content(stored, outcome.object):
            # Induction: what the fast path wrote round-trips whenever what it started from did.
            record.round_trips = True
        elif previous is not None and previous.round_trips is not True and previous.misses:
            # A same-shaped configuration did not round-trip lately: back off (see Record).
            record.misses = previous.misses
        self._applied.put(key, record)
        if self._fast_reapply and written:
            stored_fields = objects.meta(stored).get("managedFields")
            if stored_fields is not None and stored_fields is objects.meta(outcome.object).get(
                "managedFields"
            ):
                self._decoded.remember(stored, outcome.entries)

    def replace(
        self,
        res: resources.Resource,
        namespace: str,
        name: str,
        body: Obj,
        opts: WriteOptions,
        *,
        subresource: str = "",
    ) -> Obj:
        """PUT: ``body`` replaces the object (or its status)."""
        new = strategies.check_body(res, body, namespace)
        if new["metadata"].get("name", name) != name:
            raise errors.bad_request(
                f"the name of the object ({new['metadata'].get('name')}) does not match the name"
                f" on the URL ({name})"
            )
        new["metadata"]["name"] = name
        old = self.store.get((res.key, namespace if res.namespaced else "", name))
        if old is None:
            raise errors.not_found(res.group, res.plural, name)
        given = new["metadata"].get("resourceVersion")
        if given and given != objects.meta(old).get("resourceVersion"):
            raise errors.modified(res.group, res.plural, name)
        uid = new["metadata"].get("uid")
        if uid and uid != objects.meta(old).get("uid"):
            raise errors.conflict(
                res.group,
                res.plural,
                name,
                f"Precondition failed: UID in precondition: {uid}, UID in object meta:"
                f" {objects.meta(old).get('uid')}",
            )
        if not given and res.crd is not None:
            raise errors.invalid(
                res.group,
                res.kind,
                name,
                [
                    (
                        "FieldValueInvalid",
                        "metadata.resourceVersion",
                        "Invalid value: 0x0: must be specified for an update",
                    )
                ],
            )
        new = strategies.update(res, old, new, subresource=subresource)
        new = self._admit(res, old, new, opts)
        new = fieldmanager.update(
            old,
            new,
            manager=opts.manager_name(),
            schema=self.object_type(res),
            now=self._clock(),
            subresource=subresource,
            status_subresource=res.has_status,
        )
        return self._store(res, old, new, opts)

    def _store(self, res: resources.Resource, old: Obj | None, new: Obj, opts: WriteOptions) -> Obj:
        if old is not None and objects.without_volatile(new) == objects.without_volatile(old):
            return self.as_version(res, old)
        metadata = new["metadata"]
        if not metadata.get("managedFields"):
            metadata.pop("managedFields", None)
        key = (res.key, metadata.get("namespace", "") if res.namespaced else "", metadata["name"])
        deleting = metadata.get("deletionTimestamp") and not metadata.get("finalizers")
        if res.key == "/namespaces" and deleting:
            deleting = not (new.get("spec") or {}).get("finalizers")
        if opts.dry_run:
            if old is None:
                metadata.pop("resourceVersion", None)
            return new
        metadata["resourceVersion"] = str(self.store.next_version())
        if deleting:
            self._remove(res, key, new)
            return new
        self.store.put(key, new)
        self.hub.publish(
            watching.Event(
                "ADDED" if old is None else "MODIFIED",
                res.key,
                new,
                int(metadata["resourceVersion"]),
                old=old,
            )
        )
        if res.key == "apiextensions.k8s.io/customresourcedefinitions":
            self._serve_crd(new)
        return new

    def _remove(self, res: resources.Resource, key: storage.Key, obj: Obj) -> None:
        self.store.delete(key)
        self.hub.publish(
            watching.Event("DELETED", res.key, obj, int(obj["metadata"]["resourceVersion"]))
        )
        if res.key == "apiextensions.k8s.io/customresourcedefinitions":
            self._unserve_crd(obj)
        if res.key == "/namespaces" and not self.collector_running:
            self._purge_namespace(key[2])

    def _serve_crd(self, crd: Obj) -> None:
        served = crds.served_resources(crd)
        self.registry.set_crd(crd["metadata"]["name"], served)
        for res in served:
            self._types.pop(res, None)
        if not crds.is_established(crd):
            established = crds.with_established(crd)
            established["metadata"] = {
                **established["metadata"],
                "resourceVersion": str(self.store.next_version()),
            }
            key = ("apiextensions.k8s.io/customresourcedefinitions", "", crd["metadata"]["name"])
            self.store.put(key, established)
            self.hub.publish(
                watching.Event(
                    "MODIFIED", key[0], established, int(established["metadata"]["resourceVersion"])
                )
            )

    def _unserve_crd(self, crd: Obj) -> None:
        removed = self.registry.remove_crd(crd["metadata"]["name"])
        keys = {res.key for res in removed}
        for res in removed:
            self._types.pop(res, None)
        for key in keys:
            for obj in self.store.list(key, None):
                gone = objects.clone(obj)
                gone["metadata"]["resourceVersion"] = str(self.store.next_version())
                metadata = gone["metadata"]
                self.store.delete((key, metadata.get("namespace", ""), metadata["name"]))
                self.hub.publish(
                    watching.Event("DELETED", key, gone, int(metadata["resourceVersion"]))
                )

    def _purge_namespace(self, namespace: str) -> None:
        """Without a collector, a namespace's contents go with it."""
        seen: set[str] = set()
        for res in self.registry.all():
            if not res.namespaced or res.key in seen:
                continue
            seen.add(res.key)
            for obj in self.store.list(res.key, namespace):
                gone = objects.clone(obj)
                gone["metadata"]["resourceVersion"] = str(self.store.next_version())
                self.store.delete((res.key, namespace, gone["metadata"]["name"]))
                self.hub.publish(
                    watching.Event(
                        "DELETED", res.key, gone, int(gone["metadata"]["resourceVersion"])
                    )
                )

    def delete(
        self,
        res: resources.Resource,
        namespace: str,
        name: str,
        options: Obj,
        opts: WriteOptions,
    ) -> tuple[Obj, bool]:
        """Delete; returns the object and whether it is gone (vs held by finalizers)."""
        key = (res.key, namespace if res.namespaced else "", name)
        old = self.store.get(key)
        if old is None:
            raise errors.not_found(res.group, res.plural, name)
        preconditions = options.get("preconditions") or {}
        old_meta = objects.meta(old)
        if preconditions.get("uid") and preconditions["uid"] != old_meta.get("uid"):
            raise errors.conflict(
                res.group,
                res.plural,
                name,
                f"Precondition failed: UID in precondition: {preconditions['uid']}, UID in "
                f"object meta: {old_meta.get('uid')}",
            )
        if preconditions.get("resourceVersion") and preconditions[
            "resourceVersion"
        ] != old_meta.get("resourceVersion"):
            raise errors.conflict(
                res.group,
                res.plural,
                name,
                "Precondition failed: ResourceVersion in precondition: "
                f"{preconditions['resourceVersion']}, ResourceVersion in object meta: "
                f"{old_meta.get('resourceVersion')}",
            )
        finalizers = list(old_meta.get("finalizers") or [])
        policy = options.get("propagationPolicy")
        if options.get("orphanDependents") is True:
            policy = "Orphan"
        if self.collector_running and not old_meta.get("deletionTimestamp"):
            extra = {"Foreground": "foregroundDeletion", "Orphan": "orphan"}.get(policy or "")
            if extra and extra not in finalizers:
                finalizers.append(extra)
        held = bool(finalizers) or (res.key == "/namespaces")
        if held:
            if old_meta.get("deletionTimestamp"):
                return self.as_version(res, old), False
            new = objects.clone(old)
            new["metadata"]["deletionTimestamp"] = objects.timestamp()
            new["metadata"]["deletionGracePeriodSeconds"] = 0
            if finalizers:
                new["metadata"]["finalizers"] = finalizers
            if res.key == "/namespaces":
                new["status"] = {**(new.get("status") or {}), "phase": "Terminating"}
                if not self.collector_running:
                    new["spec"] = {}
            stored = self._store(res, old, new, opts)
            gone = not self.store.get(key) and not opts.dry_run
            return self.as_version(res, stored), gone
        if opts.dry_run:
            return self.as_version(res, old), True
        removed = objects.clone(old)
        removed["metadata"]["resourceVersion"] = str(self.store.next_version())
        self._remove(res, key, removed)
        return self.as_version(res, removed), True


def _same_content(a: Obj, b: Obj) -> bool:
    """Equal but for what every write changes (resourceVersion, generation, managedFields)."""
    volatile = ("resourceVersion", "generation", "managedFields")
    meta_a = {k: v for k, v in objects.meta(a).items() if k not in volatile}
    meta_b = {k: v for k, v in objects.meta(b).items() if k not in volatile}
    return meta_a == meta_b and {**a, "metadata": None} == {**b, "metadata": None}
