"""Simulated infrastructure: volumes bind, load balancers get an address.

What a cluster's storage provisioner and cloud controller would do, reduced to
the status fields health checks read:

- a PersistentVolumeClaim becomes ``Bound`` (kstatus: "PVC is Bound"; Helm's
  legacy checker waits for it), with the requested capacity and access modes;
- a Service of type LoadBalancer gets ``status.loadBalancer.ingress`` of
  127.0.0.1 (Helm's legacy checker waits for an ingress).

The annotation ``devcluster.headwater.dev/simulate: pending`` keeps either one
unbound / without an address. Runs over the HTTP API like the kubelet.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from devcluster.controllers import apiclient, workloads

Obj = dict[str, Any]
Key = tuple[str, str, str]

CLAIMS = apiclient.Gvr("", "v1", "persistentvolumeclaims", True, "PersistentVolumeClaim")
SERVICES = apiclient.Gvr("", "v1", "services", True, "Service")
LOAD_BALANCER_ADDRESS = "127.0.0.1"


def claim_status(claim: Obj) -> Obj:
    spec = claim.get("spec") or {}
    requested = ((spec.get("resources") or {}).get("requests") or {}).get("storage")
    status: Obj = {"phase": "Bound", "accessModes": list(spec.get("accessModes") or [])}
    if requested is not None:
        status["capacity"] = {"storage": requested}
    return status


def service_status(service: Obj) -> Obj | None:
    """The status to write, or ``None`` for Services without a load balancer."""
    if (service.get("spec") or {}).get("type") != "LoadBalancer":
        return None
    return {"loadBalancer": {"ingress": [{"ip": LOAD_BALANCER_ADDRESS, "ipMode": "VIP"}]}}


class Infrastructure:
    """Binds claims and provisions load balancers ``delay`` seconds after first seen."""

    def __init__(self, client: apiclient.Client, *, delay: float) -> None:
        self._client = client.with_manager("kube-controller-manager")
        self._delay = delay
        self._queue: apiclient.WorkQueue[Key] = apiclient.WorkQueue()
        self._first_seen: dict[str, float] = {}
        self.informers = {
            gvr.plural: apiclient.Informer(
                client, gvr, transform=lambda o: o, handler=self._handler(gvr)
            )
            for gvr in (CLAIMS, SERVICES)
        }

    def _handler(self, gvr: apiclient.Gvr) -> apiclient.Handler[Obj]:
        def handle(kind: str, obj: Obj, old: Obj | None) -> None:
            namespace, name = apiclient.object_key(obj)
            if kind == "DELETED":
                self._first_seen.pop(str(obj["metadata"].get("uid")), None)
            else:
                self._queue.add((gvr.plural, namespace, name))

        return handle

    async def run(self, stop: asyncio.Event) -> None:
        await apiclient.run_until_stopped(
            self.informers.values(), self._queue, self._reconcile, workers=2, stop=stop
        )

    async def _reconcile(self, key: Key) -> None:
        plural, namespace, name = key
        obj = self.informers[plural].cache.get((namespace, name))
        if obj is None or obj["metadata"].get("deletionTimestamp"):
            return
        if workloads.simulate_mode(obj) == "pending":
            return
        status = claim_status(obj) if plural == CLAIMS.plural else service_status(obj)
        if status is None or workloads.same_status(obj.get("status") or {}, status):
            return
        uid = str(obj["metadata"].get("uid"))
        seen = self._first_seen.setdefault(uid, time.monotonic())
        remaining = seen + self._delay - time.monotonic()
        if remaining > 0:
            self._queue.add_after(key, remaining)
            return
        gvr = CLAIMS if plural == CLAIMS.plural else SERVICES
        await self._client.merge_patch(gvr.path(namespace, name, "status"), {"status": status})
