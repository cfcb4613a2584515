"""API discovery: from apiVersion and kind to the REST resource that serves it.

``Discovery`` asks the server for one group-version's resource list the first
time a kind of it is needed, and caches it. A kind that is not in the cached
list triggers one fresh look-up before the answer is "not served" — so a CRD
that became Established after the cache was filled is found, with no periodic
re-discovery. ``forget`` drops a group-version (for example on CRD deletion).
"""

from __future__ import annotations

import asyncio
import dataclasses

from shared.kube import client, errors


@dataclasses.dataclass(frozen=True, kw_only=True)
class Resource:
    """A served REST resource (``deployments`` in ``apps/v1``)."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    verbs: frozenset[str] = frozenset()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(
        self,
        *,
        namespace: str | None = None,
        name: str | None = None,
        subresource: str | None = None,
    ) -> str:
        """The REST path of the collection, or of one object (and its subresource)."""
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        if name is not None:
            base += f"/{name}"
            if subresource:
                base += f"/{subresource}"
        return base


def split_api_version(api_version: str) -> tuple[str, str]:
    """``("apps", "v1")`` for ``apps/v1``; ``("", "v1")`` for the core group."""
    group, _, version = api_version.rpartition("/")
    return group, version


SECRETS = Resource(group="", version="v1", kind="Secret", plural="secrets", namespaced=True)
CONFIG_MAPS = Resource(
    group="", version="v1", kind="ConfigMap", plural="configmaps", namespaced=True
)
EVENTS = Resource(group="", version="v1", kind="Event", plural="events", namespaced=True)
LEASES = Resource(
    group="coordination.k8s.io", version="v1", kind="Lease", plural="leases", namespaced=True
)
"""The core resources the runtime reads and writes without discovery."""


class Discovery:
    """A cache of group-version resource lists, refreshed on a miss."""

    def __init__(self, api: client.Client) -> None:
        self._api = api
        self._cache: dict[str, dict[str, Resource]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def _fetch(self, api_version: str) -> dict[str, Resource]:
        group, version = split_api_version(api_version)
        path = f"/apis/{group}/{version}" if group else f"/api/{version}"
        try:
            listing = await self._api.request("GET", path, verb="discovery")
        except errors.NotFoundError:
            return {}
        kinds: dict[str, Resource] = {}
        for item in listing.get("resources", []):
            if "/" in item["name"]:
                continue  # a subresource such as deployments/status
            kinds[item["kind"]] = Resource(
                group=group,
                version=version,
                kind=item["kind"],
                plural=item["name"],
                namespaced=bool(item.get("namespaced")),
                verbs=frozenset(item.get("verbs", ())),
            )
        return kinds

    async def resolve(self, api_version: str, kind: str) -> Resource:
        """The resource serving ``kind`` in ``api_version``; ``NotFoundError`` if none."""
        cached = self._cache.get(api_version)
        if cached is not None and kind in cached:
            return cached[kind]
        lock = self._locks.setdefault(api_version, asyncio.Lock())
        async with lock:
            cached = self._cache.get(api_version)
            if cached is None or kind not in cached:
                self._cache[api_version] = cached = await self._fetch(api_version)
        if kind not in cached:
            raise errors.NotFoundError(
                f'no matches for kind "{kind}" in version "{api_version}"',
                status=404,
                reason="NotFound",
            )
        return cached[kind]

    async def search(self, name: str) -> Resource:
        """The resource a user means by ``name``, as kubectl finds it.

        ``name`` is a kind, plural, singular or short name in any case
        (``deploy``, ``Deployment``, ``gitrepositories``); the core group is
        searched first, then every group at its preferred version, in the
        server's order. ``NotFoundError`` when nothing serves it.
        """
        wanted = name.lower()
        versions = ["v1"]
        groups = await self._api.request("GET", "/apis", verb="discovery")
        versions += [g["preferredVersion"]["groupVersion"] for g in groups.get("groups", [])]
        for api_version in versions:
            group, version = split_api_version(api_version)
            path = f"/apis/{group}/{version}" if group else f"/api/{version}"
            listing = await self._api.request("GET", path, verb="discovery")
            for item in listing.get("resources", []):
                names = {item["name"], item["kind"].lower(), item.get("singularName", "")}
                names.update(item.get("shortNames") or ())
                if "/" not in item["name"] and wanted in names:
                    return await self.resolve(api_version, item["kind"])
        raise errors.NotFoundError(
            f'the server doesn\'t have a resource type "{name}"', status=404, reason="NotFound"
        )

    async def served(self) -> list[Resource]:
        """Every resource the server serves, each group at its preferred version.

        Asks the server afresh (``/api``, ``/apis`` and each group-version):
        for a rare search over all kinds, not for a reconcile's hot path.
        """
        versions = ["v1"]
        groups = await self._api.request("GET", "/apis", verb="discovery")
        versions += [g["preferredVersion"]["groupVersion"] for g in groups.get("groups", [])]
        found: list[Resource] = []
        for api_version in versions:
            self._cache[api_version] = kinds = await self._fetch(api_version)
            found.extend(kinds.values())
        return found

    def forget(self, api_version: str | None = None) -> None:
        """Drop the cached list of ``api_version`` (or of every group-version)."""
        if api_version is None:
            self._cache.clear()
        else:
            self._cache.pop(api_version, None)
