"""The server-side-apply resource manager: staged apply, drift, prune, wait and diff.

Used by kustomize-controller (and later helm-controller and the CLI) to make
a set of manifests true in the cluster, as fluxcd/pkg ``ssa`` does, but
knowing the live state from watch caches instead of a GET plus a dry-run
apply per object per reconcile:

- ``apply_all`` applies in stages (``inventory.stages``: CRDs, Namespaces,
  ClusterRoles by group and kind → wait until ready → kinds ending in
  ``Class`` → wait → the custom stage kinds → the rest), every object with
  field manager ``kustomize-controller``, forcing ownership, stamped with
  the owner labels (``<group>/name``, ``<group>/namespace``). Before any
  object of a stage is written, every kind in it is resolved through
  discovery (cached; a miss refreshes it): an object whose kind the server
  does not serve fails the stage with Flux's words (``Kind/ns/name dry-run
  failed: no matches for kind …``) and nothing of that stage is applied.
- Takeover (``takeover``): an existing object whose cache entry shows an
  overridden field manager (``kubectl``…) gets those managers' fields folded
  into ours (one JSON patch) and is applied, unless ``<group>/ssa: Merge``.
- Ignore rules (``ignoring``): pointers ``spec.ignore`` selects are left out
  of the drift comparison and keep their live values on apply.
- Per object it compares the cached live object with what it last applied
  (``drift``): unchanged desired state and unchanged owned fields → no
  request at all; otherwise one apply. A first apply is one write. Fields
  that changed behind our back are reported (``Change.fields``, ``drifted``).
- Annotations (in labels or annotations, values case-insensitive):
  ``<group>/ssa`` Override (default) / Merge / IfNotPresent (create only) /
  Ignore (never applied nor pruned); ``<group>/reconcile: disabled`` (same as
  Ignore); ``<group>/force: enabled`` (recreate on an immutable-field error,
  as ``force=True`` does for all); ``<group>/prune: disabled`` (never deleted).
- ``prune`` deletes objects that left the inventory, only when the live
  object carries our owner labels; an object that does not exist (or whose
  kind is not served) is no change and no error. ``wait`` polls health
  (``health`` rules) from the caches; ``diff`` is a server-side dry run for
  the CLI.

Live state comes from a ``LiveSource``: a callable giving an informer-style
cache (``get("ns/name")``, ``wait_synced()``) per kind, filled by a watch on
objects that carry the owner name label. Without one every object is applied
every time (still one write each) and drift is not reported.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

from shared.kube import (
    applying,
    changesets,
    client,
    drift,
    errors,
    health,
    ignoring,
    interning,
    inventory,
    resources,
    takeover,
    waiting,
)

FIELD_MANAGER = "kustomize-controller"
KUSTOMIZE_GROUP = changesets.KUSTOMIZE_GROUP
Action = changesets.Action
Change = changesets.Change
ChangeSet = changesets.ChangeSet
Owner = changesets.Owner
_CATCH_UP_SECONDS = 5.0


class CachedKind(Protocol):
    """An informer-style cache of one kind's owner-labelled objects."""

    resource_version: str
    """The newest resourceVersion the cache has seen (events and bookmarks)."""

    def get(self, key: str) -> dict[str, Any] | None: ...

    def field_managers(self, key: str) -> takeover.Summary:
        """Who manages the cached object (its managedFields without the fields)."""
        ...

    async def wait_synced(self) -> None: ...


LiveSource = Callable[[str, str], Awaitable[CachedKind]]
"""``(apiVersion, kind)`` → the cache of that kind (started; may not be synced yet)."""


class ApplyError(Exception):
    """Applying one object failed; the message names the object, as Flux's does."""

    def __init__(self, ref: inventory.Ref, cause: errors.KubeError) -> None:
        # NB: Flux's wording (it dry-runs before applying); kept so that Ready
        # messages read the same to users and their alert rules.
        super().__init__(f"{ref} dry-run failed: {cause.message}")
        self.ref = ref
        self.cause = cause


@dataclasses.dataclass(frozen=True, slots=True)
class _Applied:
    digest: str
    baseline: Any
    resource_version: str


def _flag(obj: Mapping[str, Any], key: str) -> str:
    metadata = obj.get("metadata") or {}
    for field in ("annotations", "labels"):
        value = (metadata.get(field) or {}).get(key)
        if value is not None:
            return str(value).lower()
    return ""


def _key(ref: inventory.Ref) -> str:
    return f"{ref.namespace}/{ref.name}" if ref.namespace else ref.name


def _older(cached: str, ours: str) -> bool:
    # NB: resourceVersions are opaque, but every API server (etcd's revision,
    # the devcluster's counter) uses integers; a cache holding a version below
    # the one our own apply returned has not seen that write yet.
    try:
        return int(cached) < int(ours)
    except ValueError:
        return False


def _is_immutable(error: errors.KubeError) -> bool:
    if not isinstance(error, errors.InvalidError):
        return False
    texts = [error.message] + [str(cause.get("message", "")) for cause in error.causes]
    return any("immutable" in text for text in texts)


class ResourceManager:
    """Applies, prunes, waits and diffs for any owner (see the module docstring)."""

    def __init__(
        self,
        *,
        objects: applying.Objects,
        live: LiveSource | None = None,
        field_manager: str = FIELD_MANAGER,
        group: str = KUSTOMIZE_GROUP,
        concurrency: int = 50,
        sync_timeout: float = 60.0,
        override_managers: Sequence[takeover.FieldManager] | None = None,
        custom_stage_kinds: frozenset[inventory.GroupKind] = frozenset(),
    ) -> None:
        self.objects = objects
        self.field_manager = field_manager
        self.override_managers = (
            tuple(override_managers)
            if override_managers is not None
            else takeover.overridden(field_manager)
        )
        self.custom_stage_kinds = custom_stage_kinds
        self.group = group
        self._live = live
        self._sync_timeout = sync_timeout
        self._limit = asyncio.Semaphore(concurrency)
        self._applied: dict[tuple[str, str, str, str], _Applied] = {}
        self._written: dict[tuple[str, str], str] = {}

    # --- live state ----------------------------------------------------------------------

    async def _cache(self, api_version: str, kind: str) -> CachedKind | None:
        if self._live is None:
            return None
        cache = await self._live(api_version, kind)
        await asyncio.wait_for(cache.wait_synced(), self._sync_timeout)
        # Read our own writes: wait (briefly) until the watch has delivered the
        # newest version we wrote of this kind, so a write just made is not taken
        # for a missing object. Past the deadline a redundant apply is the cost.
        # The cache protocol has no "version reached" event, hence the polling.
        written = self._written.get((api_version, kind))
        deadline = asyncio.get_running_loop().time() + _CATCH_UP_SECONDS
        while (  # noqa: ASYNC110
            written
            and _older(cache.resource_version, written)
            and asyncio.get_running_loop().time() < deadline
        ):
            await asyncio.sleep(0.01)
        return cache

    async def _get(self, ref: inventory.Ref) -> dict[str, Any] | None:
        try:
            return await self.objects.get(
                ref.api_version, ref.kind, ref.name, namespace=ref.namespace or None
            )
        except errors.NotFoundError:
            return None

    async def live(self, ref: inventory.Ref) -> dict[str, Any] | None:
        """The live object: from its kind's cache when watched and owned, else one GET."""
        cache = await self._cache(ref.api_version, ref.kind)
        if cache is not None:
            cached = cache.get(_key(ref))
            if cached is not None:
                return cached
        return await self._get(ref)

    # --- apply ---------------------------------------------------------------------------

    def _desired(self, obj: Mapping[str, Any], owner: Owner) -> dict[str, Any]:
        desired = copy.deepcopy(dict(obj))
        metadata = desired.setdefault("metadata", {})
        metadata.pop("managedFields", None)
        metadata.pop("resourceVersion", None)
        metadata["labels"] = {**(metadata.get("labels") or {}), **owner.labels}
        return desired

    def _skipped(self, obj: Mapping[str, Any]) -> bool:
        return (
            _flag(obj, f"{self.group}/reconcile") == "disabled"
            or _flag(obj, f"{self.group}/ssa") == "ignore"
        )

    async def _recreate(self, desired: dict[str, Any], *, within: float) -> dict[str, Any]:
        ref = inventory.Ref.of(desired)
        await self.objects.delete(desired, propagation="Foreground")
        deadline = asyncio.get_running_loop().time() + within
        while await self._get(ref) is not None:
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"{ref} was not deleted within {within}s for recreation")
            await asyncio.sleep(0.2)
        return await self.objects.apply(desired, field_manager=self.field_manager, force=True)

    async def _cleanup(self, live: Mapping[str, Any], *, take_over: bool) -> bool:
        """Remove kubectl/Flux v1 leftovers and take fields over (one JSON patch, when any).

        With ``take_over`` the object is read first (caches keep no
        managedFields) and the overridden managers' entries are folded into
        ours (``takeover.take_over``). True when the object was patched.
        """
        operations = takeover.leftover_removals(live)
        if take_over:
            current = await self._get(inventory.Ref.of(live))
            entries = ((current or {}).get("metadata") or {}).get("managedFields") or []
            replaced = takeover.take_over(entries, self.override_managers, self.field_manager)
            if replaced is not None and current is not None:
                # NB: the test makes a write between our GET and this patch fail
                # the patch (the next reconcile retries) instead of being lost.
                version = current["metadata"].get("resourceVersion")
                operations += [
                    {"op": "test", "path": "/metadata/resourceVersion", "value": version},
                    {"op": "replace", "path": "/metadata/managedFields", "value": replaced},
                ]
        if not operations:
            return False
        try:
            patched = await self.objects.patch(live, operations, content_type=client.JSON_PATCH)
        except (errors.InvalidError, errors.ConflictError, errors.NotFoundError):
            return False  # NB: a stale cache entry or a write since our GET; next time
        version = str(patched.get("metadata", {}).get("resourceVersion", ""))
        self._note_write(live["apiVersion"], live["kind"], version)
        return True

    def _takes_over(self, cache: CachedKind, ref: inventory.Ref) -> bool:
        return takeover.needed(cache.field_managers(_key(ref)), self.override_managers)

    async def apply(
        self,
        obj: Mapping[str, Any],
        *,
        owner: Owner,
        force: bool = False,
        ignore: ignoring.Rules = ignoring.Rules(),  # noqa: B008 - frozen, never mutated
    ) -> Change:
        """Apply one object unless the cache shows it is already as wanted."""
        ref = inventory.Ref.of(obj)
        if self._skipped(obj):
            return Change(ref=ref, action=Action.SKIPPED)
        desired = self._desired(obj, owner)
        policy = _flag(desired, f"{self.group}/ssa")
        cache = await self._cache(ref.api_version, ref.kind)
        live = cache.get(_key(ref)) if cache is not None else None
        if policy == "ifnotpresent" and (live or await self._get(ref)) is not None:
            return Change(ref=ref, action=Action.SKIPPED)
        ignored = ignore.pointers(desired)
        shape = ignoring.without(desired, ignored) if ignored else desired
        want = drift.digest(shape)
        record = self._applied.get(ref.key)
        fields: tuple[str, ...] = ()
        drifted = False
        payload = desired
        if live is not None and cache is not None:
            cleaned = False
            if policy != "merge" and _flag(live, f"{self.group}/ssa") != "merge":
                cleaned = await self._cleanup(live, take_over=self._takes_over(cache, ref))
            current = drift.project(live, shape)
            live_version = str(live.get("metadata", {}).get("resourceVersion", ""))
            # NB: after a takeover (``cleaned``) the object is applied even when our
            # fields hold: the apply is what drops the taken-over fields Git lacks.
            if record is not None and record.digest == want:
                unchanged = current == record.baseline
                if not cleaned and (unchanged or _older(live_version, record.resource_version)):
                    return Change(ref=ref, action=Action.UNCHANGED)
                fields = tuple(drift.changed_fields(record.baseline, current))
                drifted = not unchanged
            elif not cleaned and record is None and current == drift.project(shape, shape):
                # NB: after a restart nothing is recorded; a live object that already
                # holds every desired value needs no write.
                self._applied[ref.key] = _Applied(want, current, live_version)
                return Change(ref=ref, action=Action.UNCHANGED)
            else:
                fields = tuple(drift.changed_fields(current, drift.project(shape, shape)))
            if ignored:
                payload = ignoring.adopt(desired, live, ignored)
        recreate = force or _flag(desired, f"{self.group}/force") == "enabled"
        async with self._limit:
            try:
                applied = await self.objects.apply(
                    payload, field_manager=self.field_manager, force=True
                )
                recreated = False
            except errors.KubeError as error:
                if not (recreate and _is_immutable(error)):
                    raise ApplyError(ref, error) from error
                applied = await self._recreate(desired, within=self._sync_timeout)
                recreated = True
        version = str(applied.get("metadata", {}).get("resourceVersion", ""))
        baseline = interning.compact(drift.project(applied, shape))
        self._applied[ref.key] = _Applied(want, baseline, version)
        self._note_write(ref.api_version, ref.kind, version)
        if recreated or (live is None and self._created_by_us(applied, cache=cache)):
            return Change(ref=ref, action=Action.CREATED)
        if live is None and record is not None and record.resource_version == version:
            return Change(ref=ref, action=Action.UNCHANGED)
        if live is not None and str(live["metadata"].get("resourceVersion")) == version:
            return Change(ref=ref, action=Action.UNCHANGED)
        return Change(ref=ref, action=Action.CONFIGURED, fields=fields, drifted=drifted)

    def _note_write(self, api_version: str, kind: str, version: str) -> None:
        newest = self._written.get((api_version, kind), "")
        if not newest or _older(newest, version):
            self._written[(api_version, kind)] = version

    def _created_by_us(self, applied: Mapping[str, Any], *, cache: CachedKind | None) -> bool:
        entries = applied.get("metadata", {}).get("managedFields") or []
        managers = {entry.get("manager") for entry in entries}
        if managers:
            return managers == {self.field_manager}
        return cache is not None

    async def apply_all(
        self,
        objects: Iterable[Mapping[str, Any]],
        *,
        owner: Owner,
        force: bool = False,
        ignore: ignoring.Rules = ignoring.Rules(),  # noqa: B008 - frozen, never mutated
        wait_interval: float = 2.0,
        wait_timeout: float = 60.0,
    ) -> ChangeSet:
        """Apply in stages, waiting for cluster definitions and classes (module docstring).

        ``ApplyError`` names the first object of a stage whose kind is not
        served; nothing of that stage has been written then.
        """
        change_set = ChangeSet()
        stages = inventory.stages(objects, custom_kinds=self.custom_stage_kinds)
        for index, stage in enumerate(stages):
            await self._check_kinds(stage)
            changes = await asyncio.gather(
                *(self.apply(obj, owner=owner, force=force, ignore=ignore) for obj in stage)
            )
            change_set.changes.extend(changes)
            last = index == len(stages) - 1
            gate = inventory.is_cluster_definition(stage[0]) or inventory.is_class(stage[0])
            if not last and gate:
                ready = [c.ref for c in changes if c.action != Action.SKIPPED]
                await self.wait(ready, interval=wait_interval, within=wait_timeout)
                # A changed CRD may serve other versions now; discovery refreshes on a
                # miss, so only a changed CRD needs its cached lists dropped.
                if any(
                    c.ref.kind == "CustomResourceDefinition"
                    and c.action in (Action.CREATED, Action.CONFIGURED)
                    for c in changes
                ):
                    self.objects.discovery.forget()
        return change_set

    async def _check_kinds(self, stage: Sequence[Mapping[str, Any]]) -> None:
        """Refuse a stage holding an object whose kind the server does not serve."""
        for obj in stage:
            if self._skipped(obj):
                continue
            try:
                await self.objects.discovery.resolve(obj["apiVersion"], obj["kind"])
            except errors.NotFoundError as missing:
                raise ApplyError(inventory.Ref.of(obj), missing) from missing

    # --- prune and delete ----------------------------------------------------------------

    def _protected(self, live: Mapping[str, Any]) -> bool:
        return self._skipped(live) or _flag(live, f"{self.group}/prune") == "disabled"

    async def _delete(self, ref: inventory.Ref, *, owner: Owner) -> Change | None:
        try:
            live = await self.live(ref)
        except errors.NotFoundError:
            # NB: the kind is not served (say, an inventory recorded ahead of a
            # CRD that was never created), so no such object exists.
            return None
        if live is None:
            return None
        if not owner.owns(live) or self._protected(live):
            return Change(ref=ref, action=Action.SKIPPED)
        async with self._limit:
            try:
                await self.objects.delete(live)
            except errors.NotFoundError:
                return None
        self._applied.pop(ref.key, None)
        return Change(ref=ref, action=Action.DELETED)

    async def prune(self, refs: Sequence[inventory.Ref], *, owner: Owner) -> ChangeSet:
        """Delete ``refs`` that are ours and not protected; definitions after the rest."""
        ordered = inventory.sort_for_prune(refs)
        first = [r for r in ordered if not inventory.is_definition_ref(r)]
        last = [r for r in ordered if inventory.is_definition_ref(r)]
        change_set = ChangeSet()
        for group in (first, last):
            changes = await asyncio.gather(*(self._delete(ref, owner=owner) for ref in group))
            change_set.changes.extend(change for change in changes if change is not None)
        return change_set

    async def find_owned(self, owner: Owner) -> list[inventory.Ref]:
        """Every object that carries ``owner``'s labels, of any kind the server lists.

        One LIST per served resource (``Discovery.served``) with the owner's
        label selector: for finding what a killed run created before any
        record of it was written, never on a reconcile's usual path. A
        resource that cannot be listed (forbidden to an impersonated account,
        an aggregated API that is down) is passed over.
        """
        selector = ",".join(f"{key}={value}" for key, value in owner.labels.items())
        served = [r for r in await self.objects.discovery.served() if "list" in r.verbs]

        async def labelled(resource: resources.Resource) -> list[dict[str, Any]]:
            async with self._limit:
                try:
                    return await self.objects.list(resource, label_selector=selector)
                except errors.KubeError:
                    return []

        found = await asyncio.gather(*(labelled(resource) for resource in served))
        return inventory.merge([], [inventory.Ref.of(obj) for objs in found for obj in objs])

    async def wait_for_termination(
        self, refs: Sequence[inventory.Ref], *, interval: float, within: float
    ) -> None:
        """Poll until every ref is gone; ``WaitError`` lists the survivors at the deadline."""
        deadline = asyncio.get_running_loop().time() + within
        while True:
            remaining = [ref for ref in refs if await self._get(ref) is not None]
            if not remaining:
                return
            if asyncio.get_running_loop().time() > deadline:
                lines = sorted(f"{ref} termination timeout" for ref in remaining)
                raise waiting.WaitError(f"[{', '.join(lines)}]", statuses={})
            await asyncio.sleep(interval)

    # --- health --------------------------------------------------------------------------

    async def status(
        self, ref: inventory.Ref, *, readers: tuple[health.Reader, ...] = ()
    ) -> health.Result:
        """The health of one object (NotFound when absent, Unknown on an API error)."""
        try:
            live = await self.live(ref)
        except (errors.KubeError, TimeoutError) as error:
            return health.Result(health.Status.UNKNOWN, str(error))
        if live is None:
            return health.Result(health.Status.NOT_FOUND, "Resource not found")
        return health.compute_flux(live, readers=readers)

    async def wait(
        self,
        refs: Sequence[inventory.Ref],
        *,
        interval: float = 5.0,
        within: float = 300.0,
        fail_fast: bool = True,
        readers: tuple[health.Reader, ...] = (),
        ttl_jobs: Sequence[inventory.Ref] = (),
    ) -> dict[inventory.Ref, health.Result]:
        """Flux's wait loop over ``refs`` (``waiting.wait``), reading from the caches."""

        async def read(ref: inventory.Ref) -> health.Result:
            return await self.status(ref, readers=readers)

        return await waiting.wait(
            refs,
            read=read,
            interval=interval,
            within=within,
            fail_fast=fail_fast,
            ttl_jobs=ttl_jobs,
        )

    # --- diff ----------------------------------------------------------------------------

    async def diff(self, objects: Iterable[Mapping[str, Any]], *, owner: Owner) -> ChangeSet:
        """What ``apply_all`` would do, by server-side dry run (one GET and one dry run each)."""

        async def one(obj: Mapping[str, Any]) -> Change:
            ref = inventory.Ref.of(obj)
            if self._skipped(obj):
                return Change(ref=ref, action=Action.SKIPPED)
            desired = self._desired(obj, owner)
            async with self._limit:
                live = await self._get(ref)
                try:
                    dry = await self.objects.apply(
                        desired, field_manager=self.field_manager, force=True, dry_run=True
                    )
                except errors.KubeError as error:
                    raise ApplyError(ref, error) from error
            if live is None:
                return Change(ref=ref, action=Action.CREATED)
            fields = tuple(
                drift.changed_fields(drift.project(live, desired), drift.project(dry, desired))
            )
            return Change(
                ref=ref, action=Action.CONFIGURED if fields else Action.UNCHANGED, fields=fields
            )

        return ChangeSet(list(await asyncio.gather(*(one(obj) for obj in objects))))
