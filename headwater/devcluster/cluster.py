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
  answered from memory (apply is a pure function of both).

Resource-specific hooks (CRD registration, custom-resource validation) are
delegated to ``crds``; built-in validation and defaults to ``validation`` and
``defaults``.
"""

from __future__ import annotations

import collections
import dataclasses
import json
from typing import Any

from headwater.devcluster import (
    crds,
    defaults,
    errors,
    fieldmanager,
    objects,
    resources,
    services,
    storage,
    strategies,
    typeinfo,
    validation,
    watching,
)

Obj = dict[str, Any]
APPLY_MEMO_SIZE = 4096
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

    def manager_name(self) -> str:
        return self.manager or fieldmanager.manager_from_user_agent(self.user_agent)


class Cluster:
    """All state of one devcluster server; single-threaded (the event loop)."""

    def __init__(
        self, *, store: storage.Storage, catalog: typeinfo.Catalog, watch_history: int = 20000
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.registry = resources.Registry()
        self.hub = watching.Hub(start_version=store.current_version(), retain=watch_history)
        # Whether a garbage collector runs (then Foreground/Orphan add finalizers
        # and namespace contents are left to it).
        self.collector_running = False
        self._types: dict[resources.Resource, typeinfo.Struct] = {}
        # Last configuration applied per (object, manager…) with the version it produced.
        self._applied: collections.OrderedDict[tuple[Any, ...], tuple[str, int, str]] = (
            collections.OrderedDict()
        )
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

    def _admit(self, res: resources.Resource, old: Obj | None, new: Obj, opts: WriteOptions) -> Obj:
        """Validate (and for custom resources prune/default) ``new``."""
        strategies.check_metadata(res, new)
        if res.crd is not None:
            new = crds.admit_custom(
                res, new, field_validation=opts.field_validation, warnings=opts.warnings, old=old
            )
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
        if old is not None:
            strategies.check_immutable(res, old, new)
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
            now=objects.now(),
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
        try:
            fieldmanager.check_apply_body(
                body, api_version=res.group_version, kind=res.kind, name=name
            )
        except fieldmanager.FieldManagerError as error:
            raise errors.ApiError(error.code, error.reason, str(error)) from error
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
        fingerprint = json.dumps(config, sort_keys=True, separators=(",", ":"))
        if old is not None:
            memo = self._applied.get(memo_key)
            version = objects.meta(old).get("resourceVersion")
            if memo is not None and memo == (version, self.registry.generation, fingerprint):
                # The same configuration applied to the same object version: apply is a
                # pure function of both, so the (unchanged) stored object is the answer.
                return self.as_version(res, old), False
        try:
            new = fieldmanager.apply(
                old,
                config,
                manager=str(opts.manager),
                schema=self.object_type(res),
                now=objects.now(),
                force=opts.force,
                subresource=subresource,
                status_subresource=res.has_status,
                defaulter=defaults.defaulter(res.key) if res.crd is None else None,
            )
        except fieldmanager.FieldManagerError as error:
            raise errors.ApiError(
                error.code, error.reason, str(error), details=error.status().get("details")
            ) from error
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
            new = self._admit(res, old, new, opts)
            stored = self._store(res, old, new, opts)
        if not opts.dry_run and not opts.warnings:
            self._remember_apply(
                memo_key,
                (stored["metadata"]["resourceVersion"], self.registry.generation, fingerprint),
            )
        return stored, old is None

    def _remember_apply(self, key: tuple[Any, ...], entry: tuple[str, int, str]) -> None:
        self._applied[key] = entry
        self._applied.move_to_end(key)
        while len(self._applied) > APPLY_MEMO_SIZE:
            self._applied.popitem(last=False)

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
            now=objects.now(),
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
