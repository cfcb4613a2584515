"""Simulated HorizontalPodAutoscaler controller: replicas kept within min/max, status written.

The devcluster runs no workloads and collects no metrics, so it cannot
compute a recommendation; what it does is what kube-controller-manager's HPA
controller does in that situation, reduced to what clients read:

- the scale target (``spec.scaleTargetRef``: a Deployment, StatefulSet,
  ReplicaSet or ReplicationController) is read through its ``/scale``
  subresource; its replicas are clamped into ``[minReplicas (default 1),
  maxReplicas]`` and written back through ``/scale`` when that changes them
  (``status.lastScaleTime`` records when);
- ``status`` gets ``currentReplicas`` (the target's), ``desiredReplicas``
  and the conditions ``AbleToScale`` (``SucceededGetScale``, or
  ``FailedGetScale`` when the target is missing), ``ScalingActive``
  (``False``: ``FailedGetResourceMetric`` — there are no metrics) and
  ``ScalingLimited`` (``TooFewReplicas``/``TooManyReplicas`` when clamped,
  else ``DesiredWithinRange``).

HPAs are reconciled on every change and every ``resync`` seconds, as the
real controller re-evaluates on its sync period. Runs over the HTTP API like
the kubelet.
"""

from __future__ import annotations

import asyncio
from typing import Any

from devcluster.controllers import apiclient, workloads
from devcluster.machinery import objects

Obj = dict[str, Any]
Key = tuple[str, str]
HPAS = apiclient.Gvr(
    "autoscaling", "v2", "horizontalpodautoscalers", True, "HorizontalPodAutoscaler"
)
TARGETS = {
    ("apps", "Deployment"): apiclient.Gvr("apps", "v1", "deployments", True, "Deployment"),
    ("apps", "StatefulSet"): apiclient.Gvr("apps", "v1", "statefulsets", True, "StatefulSet"),
    ("apps", "ReplicaSet"): apiclient.Gvr("apps", "v1", "replicasets", True, "ReplicaSet"),
    ("", "ReplicationController"): apiclient.Gvr(
        "", "v1", "replicationcontrollers", True, "ReplicationController"
    ),
}
RESYNC = 5.0


def bounds(hpa: Obj) -> tuple[int, int]:
    spec = hpa.get("spec") or {}
    low = int(spec.get("minReplicas") or 1)
    return low, max(low, int(spec.get("maxReplicas") or low))


def desired(hpa: Obj, current: int) -> tuple[int, str]:
    """The replicas to run and the ScalingLimited reason."""
    low, high = bounds(hpa)
    if current < low:
        return low, "TooFewReplicas"
    if current > high:
        return high, "TooManyReplicas"
    return current, "DesiredWithinRange"


_LIMITED = {
    "TooFewReplicas": "the desired replica count is less than the minimum replica count",
    "TooManyReplicas": "the desired replica count is more than the maximum replica count",
    "DesiredWithinRange": "the desired count is within the acceptable range",
}


def _condition(kind: str, status: str, reason: str, message: str, old: Obj) -> Obj:
    previous: Obj = next((c for c in old.get("conditions") or () if c.get("type") == kind), {})
    changed = previous.get("status") != status
    return {
        "type": kind,
        "status": status,
        "lastTransitionTime": (
            objects.timestamp() if changed else previous.get("lastTransitionTime")
        ),
        "reason": reason,
        "message": message,
    }


def status(hpa: Obj, *, current: int | None, wanted: int, limit: str, scaled: bool) -> Obj:
    """The status to write (``current`` is ``None`` when the target is missing)."""
    old = hpa.get("status") or {}
    ref = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
    if current is None:
        able = _condition(
            "AbleToScale",
            "False",
            "FailedGetScale",
            "the HPA controller was unable to get the target's current scale: "
            f'{str(ref.get("kind", "")).lower()}s "{ref.get("name")}" not found',
            old,
        )
        return {"currentReplicas": 0, "desiredReplicas": 0, "conditions": [able]}
    conditions = [
        _condition(
            "AbleToScale",
            "True",
            "SucceededGetScale",
            "the HPA controller was able to get the target's current scale",
            old,
        ),
        _condition(
            "ScalingActive",
            "False",
            "FailedGetResourceMetric",
            "the HPA was unable to compute the replica count: the devcluster serves no metrics",
            old,
        ),
        _condition(
            "ScalingLimited",
            "False" if limit == "DesiredWithinRange" else "True",
            limit,
            _LIMITED[limit],
            old,
        ),
    ]
    found: Obj = {"currentReplicas": current, "desiredReplicas": wanted, "conditions": conditions}
    last = objects.timestamp() if scaled else old.get("lastScaleTime")
    if last:
        found["lastScaleTime"] = last
    return found


class Autoscaler:
    """Reconciles every HorizontalPodAutoscaler of the cluster."""

    def __init__(self, client: apiclient.Client, *, resync: float = RESYNC) -> None:
        self._client = client.with_manager("horizontal-pod-autoscaler")
        self._resync = resync
        self._queue: apiclient.WorkQueue[Key] = apiclient.WorkQueue()
        # One pending resync per HPA, pushed back by every reconcile.
        self._resyncs: dict[Key, asyncio.TimerHandle] = {}
        self.informer = apiclient.Informer(client, HPAS, transform=lambda o: o, handler=self._seen)

    def _seen(self, kind: str, obj: Obj, old: Obj | None) -> None:
        key = apiclient.object_key(obj)
        if kind != "DELETED":
            self._queue.add(key)
        elif key in self._resyncs:
            self._resyncs.pop(key).cancel()

    def _resync_later(self, key: Key) -> None:
        pending = self._resyncs.pop(key, None)
        if pending is not None:
            pending.cancel()

        def fire() -> None:
            self._resyncs.pop(key, None)
            self._queue.add(key)

        self._resyncs[key] = asyncio.get_running_loop().call_later(self._resync, fire)

    async def run(self, stop: asyncio.Event) -> None:
        try:
            await apiclient.run_until_stopped(
                [self.informer], self._queue, self._reconcile, workers=1, stop=stop
            )
        finally:
            for pending in self._resyncs.values():
                pending.cancel()

    async def _reconcile(self, key: Key) -> None:
        namespace, name = key
        hpa = self.informer.cache.get(key)
        if hpa is None or hpa["metadata"].get("deletionTimestamp"):
            return
        self._resync_later(key)
        ref = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
        group = str(ref.get("apiVersion", "")).rpartition("/")[0]
        gvr = TARGETS.get((group, str(ref.get("kind", ""))))
        path = gvr.path(namespace, str(ref.get("name")), "scale") if gvr else None
        scale = await self._client.get(path) if path else None
        if scale is None or path is None:
            new = status(hpa, current=None, wanted=0, limit="", scaled=False)
        else:
            current = int((scale.get("spec") or {}).get("replicas") or 0)
            wanted, limit = desired(hpa, current)
            if wanted != current:
                await self._client.merge_patch(path, {"spec": {"replicas": wanted}})
            observed = int((scale.get("status") or {}).get("replicas") or current)
            new = status(
                hpa, current=observed, wanted=wanted, limit=limit, scaled=wanted != current
            )
        if not workloads.same_status(hpa.get("status") or {}, new):
            await self._client.merge_patch(HPAS.path(namespace, name, "status"), {"status": new})
