"""Leader election through a ``coordination.k8s.io/v1`` Lease, as client-go does it.

Candidates try every ``retry_period`` to acquire the Lease. A Lease held by
someone else is taken over only once it has not changed for
``lease_duration`` *as observed locally* (clocks of different machines are
never compared). The leader renews every ``retry_period`` (one PUT of the
Lease it last wrote; a GET first only when that fails); if it cannot renew
for ``renew_deadline`` it stops leading. A leader that stops releases the
Lease (empty holder, 1 s duration) so the next candidate takes over at once.
Defaults are Flux's: 35 s lease, 30 s renew deadline, 5 s retry period.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
from typing import Any

from shared.kube import client, errors, resources
from shared.runtime import logging


@dataclasses.dataclass(frozen=True, kw_only=True)
class LeaseConfig:
    namespace: str
    name: str
    identity: str
    lease_duration: float = 35.0
    renew_deadline: float = 30.0
    retry_period: float = 5.0


def _micro_now() -> str:
    """A ``MicroTime`` string (RFC 3339 with microseconds), as Leases store times."""
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    """Campaigns for one Lease; ``leading`` is set while this process leads."""

    def __init__(self, *, api: client.Client, config: LeaseConfig) -> None:
        self._api = api
        self.config = config
        self.leading = asyncio.Event()
        self.lost = asyncio.Event()
        self._observed: tuple[str, float] | None = None  # (resourceVersion, local time seen)
        self._lease: dict[str, Any] | None = None
        self._log = logging.get_logger(lease=f"{config.namespace}/{config.name}")

    @property
    def _path(self) -> str:
        return resources.LEASES.path(namespace=self.config.namespace, name=self.config.name)

    def _spec(self, *, transitions: int, acquire_time: str | None) -> dict[str, Any]:
        now = _micro_now()
        return {
            "holderIdentity": self.config.identity,
            "leaseDurationSeconds": max(1, round(self.config.lease_duration)),
            "acquireTime": acquire_time or now,
            "renewTime": now,
            "leaseTransitions": transitions,
        }

    async def _renew_written(self, written: dict[str, Any]) -> bool:
        """Renew the Lease as last written, without reading it first.

        NB: client-go's fast path. While leading, the Lease is the one this
        process last wrote unless someone else wrote it since; then the
        resourceVersion no longer matches, the PUT fails and the caller falls
        back to reading the Lease.
        """
        spec = written.get("spec", {})
        lease = {
            **written,
            "spec": self._spec(
                transitions=int(spec.get("leaseTransitions") or 0),
                acquire_time=spec.get("acquireTime"),
            ),
        }
        try:
            self._lease = await self._api.request("PUT", self._path, body=lease, verb="update")
        except errors.KubeError as error:
            self._log.debug("optimistic lease renewal failed", error=error)
            return False
        self._observed = (
            self._lease["metadata"]["resourceVersion"],
            asyncio.get_running_loop().time(),
        )
        return True

    async def _try_acquire_or_renew(self) -> bool:
        written = self._lease
        if self.leading.is_set() and written is not None and await self._renew_written(written):
            return True
        loop = asyncio.get_running_loop()
        try:
            lease = await self._api.request("GET", self._path, verb="get")
        except errors.NotFoundError:
            body = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": self.config.name, "namespace": self.config.namespace},
                "spec": self._spec(transitions=0, acquire_time=None),
            }
            collection = self._path.rsplit("/", 1)[0]
            try:
                self._lease = await self._api.request("POST", collection, body=body, verb="create")
            except (errors.AlreadyExistsError, errors.ConflictError):
                return False
            self._observed = (self._lease["metadata"]["resourceVersion"], loop.time())
            return True
        version = lease["metadata"]["resourceVersion"]
        if self._observed is None or self._observed[0] != version:
            self._observed = (version, loop.time())
        spec = lease.get("spec", {})
        holder = spec.get("holderIdentity") or ""
        duration = float(spec.get("leaseDurationSeconds") or self.config.lease_duration)
        mine = holder == self.config.identity
        expired = loop.time() - self._observed[1] >= duration
        if holder and not mine and not expired:
            return False
        transitions = int(spec.get("leaseTransitions") or 0) + (0 if mine else 1)
        lease["spec"] = self._spec(
            transitions=transitions, acquire_time=spec.get("acquireTime") if mine else None
        )
        try:
            self._lease = await self._api.request("PUT", self._path, body=lease, verb="update")
        except errors.ConflictError:
            return False
        self._observed = (self._lease["metadata"]["resourceVersion"], loop.time())
        return True

    async def _attempt(self) -> bool:
        try:
            return await self._try_acquire_or_renew()
        except errors.KubeError as error:
            self._log.info("leader election attempt failed", error=error)
            return False

    async def run(self) -> None:
        """Campaign until leading, then renew until the lease is lost (or cancelled).

        Returns when leadership is lost (``lost`` is then set): the process
        must stop reconciling, as controller-runtime exits in that case.
        """
        loop = asyncio.get_running_loop()
        while True:
            if await self._attempt():
                break
            await asyncio.sleep(self.config.retry_period)
        self._log.info("became leader", identity=self.config.identity)
        self.leading.set()
        last_renewal = loop.time()
        try:
            while True:
                await asyncio.sleep(self.config.retry_period)
                if await self._attempt():
                    last_renewal = loop.time()
                elif loop.time() - last_renewal >= self.config.renew_deadline:
                    self._log.error("leader lease lost", identity=self.config.identity)
                    self.leading.clear()
                    self.lost.set()
                    return
        except asyncio.CancelledError:
            await self.release()
            raise

    async def release(self) -> None:
        """Give the Lease up so another candidate can lead at once."""
        if not self.leading.is_set() or self._lease is None:
            return
        self.leading.clear()
        lease = dict(self._lease)
        lease["spec"] = {
            **lease.get("spec", {}),
            "holderIdentity": "",
            "leaseDurationSeconds": 1,
            "renewTime": _micro_now(),
        }
        try:
            await self._api.request("PUT", self._path, body=lease, verb="update")
            self._log.info("released leader lease", identity=self.config.identity)
        except errors.KubeError as error:
            self._log.error("unable to release leader lease", error=error)
