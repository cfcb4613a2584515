"""Kustomization reconciler steps below the end-to-end level (pure: no cluster is contacted).

``status.history`` (``history.record``), ``spec.deletionPolicy``
(``deletes_applied_objects``) and the source step (the source lookup is the
boundary: a plain function standing in for the informer caches) with
``--no-cross-namespace-refs``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from controllers.kustomize import __main__ as kustomize_main
from controllers.kustomize import building
from controllers.kustomize.kustomization import announcing, history
from controllers.kustomize.kustomization import reconciler as kustomization
from shared.api import kustomize, meta, source
from shared.artifacts import errors as artifact_errors
from shared.kube import client, inventory, kubeconfig, ratelimit, resourcemanager, resources
from shared.runtime import conditions, events, informers, options, reconciling, results

DIGEST = "sha256:" + "a" * 64
T0, T1, T2 = "2026-01-01T00:00:00Z", "2026-01-01T00:01:00Z", "2026-01-01T00:02:00Z"


def _artifact(revision: str = "main@sha1:1", **metadata: str) -> meta.Artifact:
    return meta.Artifact(
        path="gitrepository/ns/repo/1.tar.gz",
        url="http://source/1.tar.gz",
        revision=revision,
        digest=DIGEST,
        last_update_time=T0,
        metadata=metadata or None,
    )


def _record(
    status: kustomize.KustomizationStatus, digest: str, reason: str, now: str, **kw: Any
) -> history.Repeats | None:
    return history.record(
        status,
        digest=digest,
        artifact=kw.get("artifact", _artifact()),
        reason=reason,
        duration=kw.get("duration", "1.5s"),
        now=now,
        repeats=kw.get("repeats"),
    )


def _summary(status: kustomize.KustomizationStatus) -> list[tuple[str, str, int, str]]:
    return [
        (h.digest, h.last_reconciled_status, h.total_reconciliations, h.last_reconciled)
        for h in status.history or []
    ]


def test_history_adds_newest_first_and_counts_repeats_apart_until_folded() -> None:
    status = kustomize.KustomizationStatus()
    assert _record(status, "d1", "ReconciliationSucceeded", T0) is None
    repeats = _record(status, "d1", "ReconciliationSucceeded", T1)
    assert repeats is not None
    assert _record(status, "d1", "ReconciliationSucceeded", T2, repeats=repeats) is repeats
    # Repeats of the newest entry leave status alone (a no-op run writes nothing) …
    assert _summary(status) == [("d1", "ReconciliationSucceeded", 1, T0)]
    # … and are added when status is written anyway.
    repeats.fold(status)
    assert _summary(status) == [("d1", "ReconciliationSucceeded", 3, T2)]
    repeats.fold(status)
    assert _summary(status) == [("d1", "ReconciliationSucceeded", 3, T2)]

    pending = _record(status, "d1", "ReconciliationSucceeded", T2)
    assert _record(status, "d1", "HealthCheckFailed", T2, repeats=pending) is None
    assert _summary(status) == [
        ("d1", "HealthCheckFailed", 1, T2),
        ("d1", "ReconciliationSucceeded", 4, T2),
    ]
    _record(status, "d1", "ReconciliationSucceeded", T2, duration="2.5s")
    assert _summary(status) == [
        ("d1", "ReconciliationSucceeded", 5, T2),
        ("d1", "HealthCheckFailed", 1, T2),
    ]
    (newest, _) = status.history or []
    assert (newest.first_reconciled, newest.last_reconciled_duration) == (T0, "2.5s")


def test_history_keeps_five_entries_and_the_origin_revision() -> None:
    status = kustomize.KustomizationStatus()
    for n in range(7):
        _record(status, f"d{n}", "ReconciliationSucceeded", T0)
    assert [h.digest for h in status.history or []] == ["d6", "d5", "d4", "d3", "d2"]

    origin = _artifact("v1@sha256:b", **{history.ORIGIN_REVISION_KEY: "main@sha1:c"})
    _record(status, "oci", "ReconciliationSucceeded", T1, artifact=origin)
    assert (status.history or [])[0].metadata == {
        "revision": "v1@sha256:b",
        "originRevision": "main@sha1:c",
    }


@pytest.mark.parametrize(
    ("policy", "prune", "suspend", "deletes"),
    [
        (None, True, False, True),
        (None, False, False, False),
        ("MirrorPrune", True, False, True),
        ("MirrorPrune", False, False, False),
        ("Delete", False, False, True),
        ("WaitForTermination", False, False, True),
        ("Orphan", True, False, False),
        ("Delete", True, True, False),
    ],
)
def test_deletion_policy(policy: str | None, prune: bool, suspend: bool, deletes: bool) -> None:
    spec = kustomize.KustomizationSpec.model_validate(
        {
            "interval": "1m",
            "prune": prune,
            "suspend": suspend,
            "sourceRef": {"kind": "GitRepository", "name": "repo"},
            **({"deletionPolicy": policy} if policy else {}),
        }
    )
    assert kustomization.deletes_applied_objects(spec) is deletes


SOURCES: dict[tuple[str, str, str], dict[str, Any]] = {
    ("GitRepository", "apps", "repo"): {
        "status": {"artifact": _artifact().model_dump(mode="json", by_alias=True)}
    },
    ("GitRepository", "infra", "shared"): {
        "status": {"artifact": _artifact("main@sha1:2").model_dump(mode="json", by_alias=True)}
    },
    ("GitRepository", "apps", "empty"): {"status": {}},
}


async def _lookup(kind: str, namespace: str, name: str) -> dict[str, Any] | None:
    return SOURCES.get((kind, namespace, name))


@contextlib.asynccontextmanager
async def _reconciler(**settings: Any) -> AsyncIterator[kustomization.KustomizationReconciler]:
    async with aiohttp.ClientSession() as session:
        # NB: the source step contacts no API server; the client is never used.
        api = client.Client(
            configuration=kubeconfig.Connection(host="http://127.0.0.1:9"),
            session=session,
            limiter=ratelimit.TokenBucket(qps=1, burst=1),
        )
        resource = resources.Resource(
            group=kustomize.GROUP,
            version="v1",
            kind="Kustomization",
            plural="kustomizations",
            namespaced=True,
        )
        yield kustomization.KustomizationReconciler(
            api=api,
            discovery=resources.Discovery(api),
            recorder=events.Recorder(api=api, controller="kustomize-controller"),
            kustomizations=informers.Informer(api=api, resource=resource),
            source=_lookup,
            live=None,  # type: ignore[arg-type]  # the source step applies nothing
            settings=kustomization.Settings(**settings),
            session=session,
        )


def _kustomization(source_ref: dict[str, str], **status: Any) -> kustomize.Kustomization:
    return kustomize.Kustomization.model_validate(
        {
            "apiVersion": kustomize.API_VERSION,
            "kind": "Kustomization",
            "metadata": {"name": "app", "namespace": "apps", "generation": 1},
            "spec": {"interval": "5m", "prune": True, "sourceRef": source_ref},
            "status": status or None,
        }
    )


@pytest.mark.parametrize(
    ("source_ref", "settings", "error", "reason", "message"),
    [
        ({"kind": "GitRepository", "name": "repo"}, {}, None, "", ""),
        (
            {"kind": "GitRepository", "name": "shared", "namespace": "infra"},
            {},
            None,
            "",
            "",
        ),
        (
            {"kind": "GitRepository", "name": "shared", "namespace": "infra"},
            {"no_cross_namespace_refs": True},
            results.StallingError,
            meta.ACCESS_DENIED_REASON,
            "cannot access GitRepository/infra/shared: cross-namespace references are not allowed",
        ),
        (
            {"kind": "GitRepository", "name": "absent"},
            {},
            results.WaitingError,
            meta.ARTIFACT_FAILED_REASON,
            "Source 'GitRepository/apps/absent' not found",
        ),
        (
            {"kind": "GitRepository", "name": "empty"},
            {},
            results.WaitingError,
            meta.ARTIFACT_FAILED_REASON,
            "Source 'GitRepository/apps/empty' is not ready, artifact not found",
        ),
    ],
    ids=["same namespace", "cross namespace", "cross namespace refused", "missing", "no artifact"],
)
async def test_source_step(
    source_ref: dict[str, str],
    settings: dict[str, Any],
    error: type[results.ReconcileError] | None,
    reason: str,
    message: str,
) -> None:
    async with _reconciler(**settings) as reconciler:
        obj = _kustomization(source_ref)
        tracker = reconciling.ProgressTracker(
            writer=reconciling.StatusWriter(api=None, path="", written={}),  # type: ignore[arg-type]
            delay=3600,
        )
        run = reconciler.run_type(obj=obj, status=kustomize.KustomizationStatus(), tracker=tracker)
        (step,) = [s for s in reconciler.steps if s.name == "source"]
        try:
            if error is None:
                await step.run(run)
                found = SOURCES[
                    ("GitRepository", source_ref.get("namespace", "apps"), source_ref["name"])
                ]
                assert run.revision == found["status"]["artifact"]["revision"]
                progress = conditions.get(run.status.conditions, meta.RECONCILING)
                assert progress is not None
                assert progress.message == (
                    f"Fetching manifests for revision {run.revision} with a timeout of 5m0s"
                )
                return
            with pytest.raises(error) as raised:
                await step.run(run)
        finally:
            await tracker.stop()
    assert (raised.value.reason, raised.value.message) == (reason, message)


def test_apply_event_lists_changes_with_drift_and_the_commit() -> None:
    def change(name: str, action: resourcemanager.Action, **kw: Any) -> resourcemanager.Change:
        ref = inventory.Ref(group="", version="v1", kind="ConfigMap", namespace="apps", name=name)
        return resourcemanager.Change(ref=ref, action=action, **kw)

    change_set = resourcemanager.ChangeSet(
        changes=[
            change("new", resourcemanager.Action.CREATED),
            change("same", resourcemanager.Action.UNCHANGED),
            change(
                "edited", resourcemanager.Action.CONFIGURED, drifted=True, fields=("data.color",)
            ),
            change("old", resourcemanager.Action.DELETED),
        ]
    )
    assert announcing.change_lines(change_set) == [
        "ConfigMap/apps/new created",
        "ConfigMap/apps/edited configured (drift: data.color)",
        "ConfigMap/apps/old deleted",
    ]
    artifact = _artifact(
        **{source.ARTIFACT_COMMIT_SUBJECT_KEY: "Bump", source.ARTIFACT_COMMIT_AUTHOR_KEY: "Ann"}
    )
    assert announcing.change_metadata(artifact) == {
        "revision": "main@sha1:1",
        "commitSubject": "Bump",
        "commitAuthor": "Ann",
    }


def test_only_the_finished_event_asks_for_a_commit_status() -> None:
    artifact = _artifact(**{history.ORIGIN_REVISION_KEY: "main@sha1:c"})
    assert announcing.finished_metadata(artifact) == {
        "revision": "main@sha1:1",
        "originRevision": "main@sha1:c",
        "commit_status": "update",
    }
    assert "commit_status" not in announcing.change_metadata(artifact)
    assert announcing.artifact_metadata(artifact) == {
        "revision": "main@sha1:1",
        "originRevision": "main@sha1:c",
    }
    assert announcing.finished_message(0.0751902, 300) == (
        "Reconciliation finished in 75.1902ms, next run in 5m0s"
    )


def _run(reconciler: kustomization.KustomizationReconciler, obj: kustomize.Kustomization) -> Any:
    tracker = reconciling.ProgressTracker(
        writer=reconciling.StatusWriter(api=None, path="", written={}),  # type: ignore[arg-type]
        delay=3600,
    )
    return reconciler.run_type(obj=obj, status=kustomize.KustomizationStatus(), tracker=tracker)


async def test_an_encrypted_secret_without_decryption_is_never_applied() -> None:
    sealed = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db", "namespace": "apps"},
        "sops": {"mac": "ENC[...]"},
    }
    async with _reconciler() as reconciler:
        run = _run(reconciler, _kustomization({"kind": "GitRepository", "name": "repo"}))
        run.artifact = _artifact()
        run.built = building.Build(objects=[sealed], manifests="", digest=DIGEST)
        (step,) = [s for s in reconciler.steps if s.name == "apply"]
        # NB: refused before the inventory is recorded: no API request is made.
        with pytest.raises(results.WaitingError) as refused:
            await step.run(run)
    assert (refused.value.reason, refused.value.message) == (
        meta.RECONCILIATION_FAILED_REASON,
        "Secret/apps/db is SOPS encrypted, configuring decryption is required for this "
        "secret to be reconciled",
    )


@pytest.mark.parametrize("retries", [0, 1])
async def test_http_retry_bounds_the_artifact_download_attempts(retries: int) -> None:
    """``--http-retry``: a source answering 503 is asked 1 + retries times, then FetchError."""
    attempts: list[str] = []

    async def unavailable(request: web.Request) -> web.Response:
        attempts.append(request.path)
        return web.Response(status=503)

    app = web.Application()
    app.router.add_get("/{name}", unavailable)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    artifact = _artifact().model_copy(update={"url": f"http://127.0.0.1:{port}/1.tar.gz"})
    try:
        async with _reconciler(http_retry=retries) as reconciler:
            obj = _kustomization({"kind": "GitRepository", "name": "repo"})
            with pytest.raises(artifact_errors.FetchError):
                await reconciler._render(obj, artifact, keys=None)
    finally:
        await runner.cleanup()
    assert attempts == ["/1.tar.gz"] * (1 + retries)


def test_http_retry_flag_defaults_to_fluxs_nine() -> None:
    parsed = kustomize_main.parse_args([])
    assert options.parsed(kustomize_main.Flags, parsed).http_retry == 9
    given = kustomize_main.parse_args(["--http-retry=2"])
    assert options.parsed(kustomize_main.Flags, given).http_retry == 2
