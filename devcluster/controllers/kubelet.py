"""Simulated workload controllers and kubelet: status that health checks believe.

There are no nodes and no containers, so this module plays kube-controller-manager's
workload controllers and the kubelet over the devcluster's HTTP API:

- Deployment → one ReplicaSet per pod template (``<name>-<pod-template-hash>``),
  older ones scaled to 0; ReplicaSet, StatefulSet, DaemonSet (one simulated
  node) and Job → Pods with controller ownerReferences; a StatefulSet's
  volumeClaimTemplates → PersistentVolumeClaims (bound by ``infrastructure``);
- each Pod becomes Running and Ready ``delay`` seconds after it was first seen,
  or Succeeded when it runs to completion (Job pods, and pods with
  ``restartPolicy`` Never/OnFailure such as Helm test hooks), and every
  owner's status is derived from its pods, with the fields and condition
  reasons the real controllers write, so kstatus, ``kubectl rollout status``,
  ``kubectl wait --for=condition=Available`` and Helm's wait reach their
  verdicts;
- annotation ``devcluster.headwater.dev/simulate`` on a workload (copied to
  what it creates) or on a Pod: ``fail`` → containers in CrashLoopBackOff, the
  Deployment's Progressing=False/ProgressDeadlineExceeded, a Job Failed with
  BackoffLimitExceeded; ``pending`` → pods stay Pending, never ready.

Deletion of children is the garbage collector's job (ownerReferences).
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import json
import time
from typing import Any

from devcluster.controllers import apiclient, workloads

Obj = dict[str, Any]
Key = tuple[str, str, str]  # (plural, namespace, name)

PODS = apiclient.Gvr("", "v1", "pods", True, "Pod")
REPLICASETS = apiclient.Gvr("apps", "v1", "replicasets", True, "ReplicaSet")
DEPLOYMENTS = apiclient.Gvr("apps", "v1", "deployments", True, "Deployment")
STATEFULSETS = apiclient.Gvr("apps", "v1", "statefulsets", True, "StatefulSet")
DAEMONSETS = apiclient.Gvr("apps", "v1", "daemonsets", True, "DaemonSet")
JOBS = apiclient.Gvr("batch", "v1", "jobs", True, "Job")
RESOURCES = (PODS, REPLICASETS, DEPLOYMENTS, STATEFULSETS, DAEMONSETS, JOBS)
CLAIMS = apiclient.Gvr("", "v1", "persistentvolumeclaims", True, "PersistentVolumeClaim")
_BY_KIND = {gvr.kind: gvr for gvr in RESOURCES}


def now() -> str:
    return datetime.datetime.now(tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _ref(owner: Obj, gvr: apiclient.Gvr) -> Obj:
    return workloads.owner_reference(owner, api_version=gvr.api_version, kind=gvr.kind)


def template_hash(template: Obj) -> str:
    """A stable, label-safe hash of a pod template (like pod-template-hash)."""
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).digest()
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    return "".join(alphabet[b % len(alphabet)] for b in digest[:10])


def child_name(parent_uid: str, parent_name: str, index: int) -> str:
    """Deterministic pod names, so a retried create is an AlreadyExists, not a twin."""
    digest = hashlib.sha256(f"{parent_uid}/{index}".encode()).digest()
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    return f"{parent_name}-" + "".join(alphabet[b % len(alphabet)] for b in digest[:5])


class Kubelet:
    """Reconciles workloads and pods; one instance per server."""

    def __init__(
        self,
        client: apiclient.Client,
        *,
        delay: float,
        claims: dict[tuple[str, str], Obj] | None = None,
    ) -> None:
        """``claims``: a cache of PersistentVolumeClaims by (namespace, name), to
        create a StatefulSet's claims only once (another informer keeps it)."""
        self._client = client.with_manager("kube-controller-manager")
        self._claims = claims if claims is not None else {}
        self._kubelet = client.with_manager("kubelet")
        self._delay = delay
        self._queue: apiclient.WorkQueue[Key] = apiclient.WorkQueue()
        self._first_seen: dict[str, float] = {}
        # Template hashes by owner uid, valid while its generation stands (the
        # template is spec, so any change to it bumps the generation).
        self._hashes: dict[str, tuple[int, str]] = {}
        self.informers: dict[str, apiclient.Informer[Obj]] = {
            gvr.plural: apiclient.Informer(
                client, gvr, transform=lambda o: o, handler=self._handler(gvr)
            )
            for gvr in RESOURCES
        }

    async def run(self, stop: asyncio.Event) -> None:
        await apiclient.run_until_stopped(
            self.informers.values(), self._queue, self._reconcile, workers=4, stop=stop
        )

    def _handler(self, gvr: apiclient.Gvr) -> apiclient.Handler[Obj]:
        def handle(kind: str, obj: Obj, old: Obj | None) -> None:
            namespace, name = apiclient.object_key(obj)
            if kind == "DELETED":
                self._first_seen.pop(str(obj["metadata"].get("uid")), None)
                self._hashes.pop(str(obj["metadata"].get("uid")), None)
            else:
                self._queue.add((gvr.plural, namespace, name))
            owner = workloads.controller_of(obj)
            if owner is not None and owner.get("kind") in _BY_KIND:
                self._queue.add((_BY_KIND[owner["kind"]].plural, namespace, owner["name"]))
                # A Deployment reads its pods too (crash loops fail its rollout),
                # and a pod change need not change its ReplicaSet's counts.
                parent = self._get(_BY_KIND[owner["kind"]].plural, namespace, owner["name"])
                grand = workloads.controller_of(parent) if parent is not None else None
                if grand is not None and grand.get("kind") == "Deployment":
                    self._queue.add(("deployments", namespace, grand["name"]))

        return handle

    def _template_hash(self, owner: Obj) -> str:
        """``template_hash`` of the owner's pod template, computed once per generation."""
        meta = owner["metadata"]
        uid, generation = str(meta.get("uid")), meta.get("generation")
        known = self._hashes.get(uid)
        if known is not None and generation is not None and known[0] == generation:
            return known[1]
        digest = template_hash((owner.get("spec") or {}).get("template") or {})
        if generation is not None:
            self._hashes[uid] = (generation, digest)
        return digest

    def _get(self, plural: str, namespace: str, name: str) -> Obj | None:
        return self.informers[plural].cache.get((namespace, name))

    def _owned(self, plural: str, owner: Obj) -> list[Obj]:
        uid = owner["metadata"]["uid"]
        namespace = owner["metadata"].get("namespace", "")
        return sorted(
            (
                o
                for (ns, _), o in self.informers[plural].cache.items()
                if ns == namespace
                and (workloads.controller_of(o) or {}).get("uid") == uid
                and not o["metadata"].get("deletionTimestamp")
            ),
            key=lambda o: str(o["metadata"]["name"]),
        )

    async def _reconcile(self, key: Key) -> None:
        plural, namespace, name = key
        obj = self._get(plural, namespace, name)
        if obj is None or obj["metadata"].get("deletionTimestamp"):
            return
        step = {
            "pods": self._pod,
            "replicasets": self._replicaset,
            "deployments": self._deployment,
            "statefulsets": self._statefulset,
            "daemonsets": self._daemonset,
            "jobs": self._job,
        }[plural]
        await step(obj)

    async def _patch_status(self, gvr: apiclient.Gvr, obj: Obj, status: Obj) -> None:
        if workloads.same_status(obj.get("status") or {}, status):
            return
        namespace, name = apiclient.object_key(obj)
        client = self._kubelet if gvr is PODS else self._client
        await client.merge_patch(gvr.path(namespace, name, "status"), {"status": status})

    # --- pods ------------------------------------------------------------------

    async def _pod(self, pod: Obj) -> None:
        uid = str(pod["metadata"].get("uid"))
        seen = self._first_seen.setdefault(uid, time.monotonic())
        remaining = seen + self._delay - time.monotonic()
        if remaining > 0:
            namespace, name = apiclient.object_key(pod)
            self._queue.add_after(("pods", namespace, name), remaining)
            return
        status = workloads.pod_status(
            pod,
            mode=workloads.simulate_mode(pod),
            completes=workloads.runs_to_completion(pod),
            now=now(),
        )
        await self._patch_status(PODS, pod, status)

    async def _ensure_pods(self, owner: Obj, wanted: list[Obj]) -> list[Obj]:
        """Create the missing ones of ``wanted`` pods; return the owner's live pods."""
        existing = {p["metadata"]["name"] for p in self._owned("pods", owner)}
        namespace = owner["metadata"].get("namespace", "")
        for pod in wanted:
            if pod["metadata"]["name"] not in existing:
                await self._client.create(PODS.path(namespace), pod)
        return self._owned("pods", owner)

    async def _delete_pods(self, pods: list[Obj]) -> None:
        for pod in pods:
            namespace, name = apiclient.object_key(pod)
            await self._client.delete(PODS.path(namespace, name), uid=pod["metadata"]["uid"])

    # --- ReplicaSet ------------------------------------------------------------

    async def _replicaset(self, rs: Obj) -> None:
        replicas = workloads.spec_replicas(rs)
        meta = rs["metadata"]
        names = [child_name(meta["uid"], meta["name"], i) for i in range(replicas)]
        wanted = [workloads.pod_for(rs, name=n, owner_ref=_ref(rs, REPLICASETS)) for n in names]
        pods = await self._ensure_pods(rs, wanted)
        extra = [p for p in pods if p["metadata"]["name"] not in names]
        await self._delete_pods(extra)
        live = [p for p in pods if p["metadata"]["name"] in names]
        ready = sum(1 for p in live if workloads.pod_ready(p))
        status: Obj = {
            "replicas": len(live),
            "fullyLabeledReplicas": len(live),
            "readyReplicas": ready,
            "availableReplicas": ready,
            "observedGeneration": meta.get("generation", 1),
        }
        await self._patch_status(REPLICASETS, rs, status)

    # --- Deployment ------------------------------------------------------------

    async def _deployment(self, deploy: Obj) -> None:
        meta = deploy["metadata"]
        spec = deploy.get("spec") or {}
        replicas = workloads.spec_replicas(deploy)
        pod_hash = self._template_hash(deploy)
        new_name = f"{meta['name']}-{pod_hash}"
        sets = self._owned("replicasets", deploy)
        new = next((s for s in sets if s["metadata"]["name"] == new_name), None)
        old = [s for s in sets if s["metadata"]["name"] != new_name]
        created = False
        if new is None and not spec.get("paused"):
            revision = 1 + max((workloads.revision(s) for s in sets), default=0)
            body = workloads.replicaset_for(
                deploy,
                name=new_name,
                pod_hash=pod_hash,
                revision=revision,
                owner_ref=_ref(deploy, DEPLOYMENTS),
            )
            new = await self._client.create(REPLICASETS.path(meta.get("namespace")), body)
            created = new is not None
        elif new is not None and workloads.spec_replicas(new) != replicas:
            await self._client.merge_patch(
                REPLICASETS.path(meta.get("namespace"), new_name), {"spec": {"replicas": replicas}}
            )
        for stale in old:
            if workloads.spec_replicas(stale) != 0:
                await self._client.merge_patch(
                    REPLICASETS.path(meta.get("namespace"), stale["metadata"]["name"]),
                    {"spec": {"replicas": 0}},
                )
        pods = self._owned("pods", new) if new is not None else []
        status = workloads.deployment_status(
            deploy,
            new=new,
            old=old,
            new_pods=pods,
            created=created,
            mode=workloads.simulate_mode(deploy),
            now=now(),
        )
        await self._patch_status(DEPLOYMENTS, deploy, status)

    # --- StatefulSet -----------------------------------------------------------

    async def _statefulset(self, sts: Obj) -> None:
        meta = sts["metadata"]
        spec = sts.get("spec") or {}
        replicas = workloads.spec_replicas(sts)
        revision = f"{meta['name']}-{self._template_hash(sts)}"
        names = [f"{meta['name']}-{i}" for i in range(replicas)]
        wanted = [
            workloads.pod_for(
                sts,
                name=n,
                owner_ref=_ref(sts, STATEFULSETS),
                labels={
                    "controller-revision-hash": revision,
                    "statefulset.kubernetes.io/pod-name": n,
                    "apps.kubernetes.io/pod-index": str(i),
                },
            )
            for i, n in enumerate(names)
        ]
        await self._ensure_claims(sts, replicas)
        pods = await self._ensure_pods(sts, wanted)
        on_delete = (spec.get("updateStrategy") or {}).get("type") == "OnDelete"
        outdated = [
            p
            for p in pods
            if p["metadata"]["name"] not in names
            or (not on_delete and workloads.label(p, "controller-revision-hash") != revision)
        ]
        await self._delete_pods(outdated)
        live = [p for p in pods if p not in outdated]
        updated = sum(1 for p in live if workloads.label(p, "controller-revision-hash") == revision)
        ready = sum(1 for p in live if workloads.pod_ready(p))
        previous = (sts.get("status") or {}).get("currentRevision") or revision
        current = revision if updated == replicas == len(live) else previous
        status: Obj = {
            "observedGeneration": meta.get("generation", 1),
            "replicas": len(live),
            "readyReplicas": ready,
            "availableReplicas": ready,
            "currentReplicas": updated if current == revision else len(live) - updated,
            "updatedReplicas": updated,
            "currentRevision": current,
            "updateRevision": revision,
            "collisionCount": 0,
        }
        await self._patch_status(STATEFULSETS, sts, status)

    async def _ensure_claims(self, sts: Obj, replicas: int) -> None:
        """One PVC per volumeClaimTemplate and ordinal, as the StatefulSet controller
        makes them (``<template>-<statefulset>-<ordinal>``, kept after scale-down)."""
        meta = sts["metadata"]
        namespace = meta.get("namespace", "")
        selector = ((sts.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        for template in (sts.get("spec") or {}).get("volumeClaimTemplates") or []:
            tmeta = template.get("metadata") or {}
            for ordinal in range(replicas):
                name = f"{tmeta.get('name')}-{meta['name']}-{ordinal}"
                if self._claims.get((namespace, name)) is not None:
                    continue
                claim = {
                    "apiVersion": "v1",
                    "kind": "PersistentVolumeClaim",
                    "metadata": {
                        "name": name,
                        "namespace": namespace,
                        "labels": {**(tmeta.get("labels") or {}), **selector},
                    },
                    "spec": template.get("spec") or {},
                }
                await self._client.create(CLAIMS.path(namespace), claim)

    # --- DaemonSet -------------------------------------------------------------

    async def _daemonset(self, ds: Obj) -> None:
        meta = ds["metadata"]
        revision = self._template_hash(ds)
        name = child_name(meta["uid"], meta["name"], 0)
        wanted = workloads.pod_for(
            ds,
            name=name,
            owner_ref=_ref(ds, DAEMONSETS),
            labels={
                "controller-revision-hash": revision,
                "pod-template-generation": str(meta.get("generation", 1)),
            },
        )
        pods = await self._ensure_pods(ds, [wanted])
        outdated = [
            p
            for p in pods
            if p["metadata"]["name"] != name
            or workloads.label(p, "controller-revision-hash") != revision
        ]
        await self._delete_pods(outdated)
        live = [p for p in pods if p not in outdated]
        ready = sum(1 for p in live if workloads.pod_ready(p))
        status: Obj = {
            "observedGeneration": meta.get("generation", 1),
            "desiredNumberScheduled": 1,
            "currentNumberScheduled": len(live),
            "updatedNumberScheduled": len(live),
            "numberReady": ready,
            "numberAvailable": ready,
            "numberMisscheduled": 0,
        }
        if ready < 1:
            status["numberUnavailable"] = 1
        await self._patch_status(DAEMONSETS, ds, status)

    # --- Job -------------------------------------------------------------------

    async def _job(self, job: Obj) -> None:
        spec = job.get("spec") or {}
        status = dict(job.get("status") or {})
        if spec.get("suspend") or workloads.job_finished(status):
            return
        meta = job["metadata"]
        pods = self._owned("pods", job)
        succeeded = sum(1 for p in pods if workloads.phase(p) == "Succeeded")
        failed = sum(1 for p in pods if workloads.phase(p) == "Failed")
        active = [p for p in pods if workloads.phase(p) not in ("Succeeded", "Failed")]
        completions = int(spec.get("completions") or 1)
        parallelism = spec.get("parallelism")
        parallelism = parallelism if isinstance(parallelism, int) else 1
        mode = workloads.simulate_mode(job)
        done = succeeded >= completions or (mode == "fail" and failed > 0)
        if not done:
            want = max(0, min(parallelism, completions - succeeded) - len(active))
            start = len(pods)
            wanted = [
                workloads.pod_for(
                    job,
                    name=child_name(meta["uid"], meta["name"], start + i),
                    owner_ref=_ref(job, JOBS),
                    labels={
                        "batch.kubernetes.io/job-name": meta["name"],
                        "job-name": meta["name"],
                        "batch.kubernetes.io/controller-uid": meta["uid"],
                        "controller-uid": meta["uid"],
                    },
                )
                for i in range(want)
            ]
            if wanted:
                active += [p for p in await self._ensure_pods(job, wanted) if p not in pods]
        new_status = workloads.job_status(
            status,
            active=len([p for p in active if not done]),
            ready=sum(1 for p in active if workloads.pod_ready(p)),
            succeeded=succeeded,
            failed=failed,
            completions=completions,
            failing=mode == "fail" and failed > 0,
            now=now(),
        )
        await self._patch_status(JOBS, job, new_status)
