"""The GitRepository reconciler's steps, one at a time, against a devcluster and a Git server.

Each test builds a ``Run`` the way the skeleton does and calls one step (or
the steps in order), then checks the conditions that step owns:
``FetchFailed`` for an unsupported provider, ``IncludeUnavailable`` for
includes, ``SourceVerified``, ``ArtifactInStorage`` and ``ArtifactOutdated``
for the artifact.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from controllers.source.gitrepository import reconciler as gitrepository
from shared.api import crdgen, meta, source, source_conditions
from shared.artifacts import storage
from shared.kube import client, resources
from shared.runtime import conditions, events, informers, reconciling, results
from tests.fixtures import devcluster as devcluster_fixtures
from tests.fixtures import gitservers
from tests.fixtures.polling import eventually

_names = itertools.count()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[devcluster_fixtures.Devcluster]:
    with devcluster_fixtures.start_devcluster(tmp_path_factory.mktemp("steps")) as running:
        running.kubectl(
            "apply",
            "--server-side",
            "-f",
            "-",
            input=json.dumps(crdgen.crd_for(source.GitRepository)),
        )
        running.kubectl(
            "wait", "--for=condition=Established", "crd/gitrepositories.source.toolkit.fluxcd.io"
        )
        yield running


@pytest.fixture
def namespace(cluster: devcluster_fixtures.Devcluster) -> str:
    name = f"steps{next(_names)}"
    cluster.kubectl("create", "namespace", name)
    return name


@contextlib.asynccontextmanager
async def _reconciler(
    api: client.Client, namespace: str, store: storage.Storage
) -> AsyncIterator[tuple[gitrepository.GitRepositoryReconciler, informers.Informer]]:
    resource = await resources.Discovery(api).resolve(source.API_VERSION, "GitRepository")
    repositories = informers.Informer(
        api=api, resource=resource, scope=informers.Scope(namespace=namespace)
    )
    task = asyncio.create_task(repositories.run())
    recorder = events.Recorder(api=api, controller="source-controller")
    try:
        await asyncio.wait_for(repositories.wait_synced(), timeout=30)
        yield (
            gitrepository.GitRepositoryReconciler(
                api=api, store=store, recorder=recorder, repositories=repositories
            ),
            repositories,
        )
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await recorder.close()


def _repository(namespace: str, url: str, **spec: Any) -> source.GitRepository:
    return source.GitRepository.model_validate(
        {
            "apiVersion": source.API_VERSION,
            "kind": "GitRepository",
            "metadata": {"name": "app", "namespace": namespace, "generation": 1},
            "spec": {"interval": "1h", "url": url, **spec},
        }
    )


@contextlib.asynccontextmanager
async def _run(
    api: client.Client,
    reconciler: gitrepository.GitRepositoryReconciler,
    obj: source.GitRepository,
    status: source.GitRepositoryStatus | None = None,
) -> AsyncIterator[Any]:
    """A run as the skeleton builds it; its progress is never written (a long delay)."""
    tracker = reconciling.ProgressTracker(
        writer=reconciling.StatusWriter(api=api, path="/unused", written={}), delay=3600
    )
    run = reconciler.run_type(
        obj=obj, status=status or source.GitRepositoryStatus(), tracker=tracker
    )
    try:
        yield run
    finally:
        await tracker.stop()


def _condition(run: Any, type_: str) -> tuple[str, str] | None:
    found = conditions.get(run.status.conditions, type_)
    return None if found is None else (found.status, found.reason)


async def _step(reconciler: gitrepository.GitRepositoryReconciler, name: str, run: Any) -> None:
    (step,) = [s for s in reconciler.steps if s.name == name]
    await step.run(run)


async def test_unsupported_provider_stalls_with_fetch_failed(
    api: client.Client, namespace: str, store: storage.Storage
) -> None:
    async with _reconciler(api, namespace, store) as (reconciler, _):
        obj = _repository(namespace, "https://example.invalid/app.git", provider="azure")
        async with _run(api, reconciler, obj) as run:
            with pytest.raises(results.StallingError):
                await _step(reconciler, "provider", run)
    assert _condition(run, source_conditions.FETCH_FAILED_CONDITION) == (
        "True",
        source_conditions.INVALID_PROVIDER_CONFIGURATION_REASON,
    )


def _repositories_path(namespace: str) -> str:
    return f"/apis/{source.API_VERSION}/namespaces/{namespace}/gitrepositories"


async def _create_repository(api: client.Client, namespace: str, name: str) -> None:
    body = {
        "apiVersion": source.API_VERSION,
        "kind": "GitRepository",
        "metadata": {"name": name},
        "spec": {"interval": "1h", "url": "https://example.invalid/lib.git"},
    }
    await api.request("POST", _repositories_path(namespace), body=body, verb="create")


async def test_includes_set_include_unavailable_until_the_artifact_exists(
    api: client.Client,
    namespace: str,
    store: storage.Storage,
    make_repo: Callable[..., gitservers.RepoBuilder],
    http_server: gitservers.GitServer,
) -> None:
    lib = make_repo("lib.git")
    lib.commit("lib", {"lib.yaml": "lib"})
    include = [{"repository": {"name": "lib"}, "fromPath": ".", "toPath": "lib"}]
    async with _reconciler(api, namespace, store) as (reconciler, repositories):
        obj = _repository(namespace, http_server.url("lib.git"), include=include)

        async with _run(api, reconciler, obj) as missing:
            with pytest.raises(results.WaitingError):
                await _step(reconciler, "includes", missing)
        assert _condition(missing, source_conditions.INCLUDE_UNAVAILABLE_CONDITION) == (
            "True",
            source_conditions.NOT_FOUND_REASON,
        )

        await _create_repository(api, namespace, "lib")
        await eventually(lambda: repositories.get(f"{namespace}/lib") is not None)
        async with _run(api, reconciler, obj) as no_artifact:
            with pytest.raises(results.WaitingError):
                await _step(reconciler, "includes", no_artifact)
        assert _condition(no_artifact, source_conditions.INCLUDE_UNAVAILABLE_CONDITION) == (
            "True",
            source_conditions.NO_ARTIFACT_REASON,
        )

        # The included repository's artifact, stored by syncing it as "lib".
        lib_obj = _repository(namespace, http_server.url("lib.git"))
        lib_obj.metadata.name = "lib"
        async with _run(api, reconciler, lib_obj) as packaged:
            packaged.includes = []
            await _step(reconciler, "artifact", packaged)
        artifact = packaged.status.artifact
        assert artifact is not None
        await api.request(
            "PATCH",
            f"{_repositories_path(namespace)}/lib/status",
            body={"status": {"artifact": artifact.model_dump(mode="json", by_alias=True)}},
            content_type=client.MERGE_PATCH,
            verb="patch",
        )
        await eventually(
            lambda: ((repositories.get(f"{namespace}/lib") or {}).get("status") or {}).get(
                "artifact"
            )
        )
        async with _run(api, reconciler, obj, no_artifact.status) as available:
            await _step(reconciler, "includes", available)
        assert [i.artifact.revision for i in available.includes] == [artifact.revision]
        assert _condition(available, source_conditions.INCLUDE_UNAVAILABLE_CONDITION) is None


async def _keys_secret(api: client.Client, namespace: str, data: dict[str, bytes]) -> None:
    await api.request(
        "POST",
        f"/api/v1/namespaces/{namespace}/secrets",
        body={
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "keys"},
            "data": {name: base64.b64encode(value).decode() for name, value in data.items()},
        },
        verb="create",
    )


@pytest.mark.parametrize("key_kind", ["openpgp", "ssh"])
async def test_source_verified_and_artifact_outdated(
    api: client.Client,
    namespace: str,
    store: storage.Storage,
    make_repo: Callable[..., gitservers.RepoBuilder],
    http_server: gitservers.GitServer,
    request: pytest.FixtureRequest,
    key_kind: str,
) -> None:
    """A commit signed with an OpenPGP key (``*.asc``) or an SSH key (``*.sshpub``) verifies;
    an unsigned one after it does not."""
    key: gitservers.SigningKey
    if key_kind == "ssh":
        ssh_key: gitservers.SshSigningKey = request.getfixturevalue("ssh_signing_key")
        key, secret = ssh_key, {"author.sshpub": ssh_key.public_line}
    else:
        gpg_key: gitservers.GpgKey = request.getfixturevalue("gpg_key")
        key, secret = gpg_key, {"a.asc": gpg_key.public_armor}
    repo = make_repo("app.git")
    repo.commit("signed", {"a.yaml": "a"}, sign=key)
    await _keys_secret(api, namespace, secret)
    verify = {"mode": "HEAD", "secretRef": {"name": "keys"}}
    async with _reconciler(api, namespace, store) as (reconciler, _):
        obj = _repository(namespace, http_server.url("app.git"), verify=verify)
        async with _run(api, reconciler, obj) as first:
            first.includes = []
            await _step(reconciler, "artifact", first)
        verified = conditions.get(
            first.status.conditions, source_conditions.SOURCE_VERIFIED_CONDITION
        )
        assert verified is not None
        assert (verified.status, verified.reason) == ("True", meta.SUCCEEDED_REASON)
        assert verified.message == (
            f"verified signature of commit '{repo.rev()}' with key '{key.fingerprint}'"
        )
        assert first.status.source_verification_mode == "HEAD"
        assert _condition(first, source_conditions.ARTIFACT_IN_STORAGE_CONDITION) == (
            "True",
            meta.SUCCEEDED_REASON,
        )
        assert _condition(first, source_conditions.ARTIFACT_OUTDATED_CONDITION) is None

        repo.commit("unsigned", {"a.yaml": "b"})
        async with _run(api, reconciler, obj, first.status) as second:
            second.includes = []
            with pytest.raises(results.ReconcileError):
                await _step(reconciler, "artifact", second)
        outdated = conditions.get(
            second.status.conditions, source_conditions.ARTIFACT_OUTDATED_CONDITION
        )
        assert outdated is not None
        assert (outdated.status, outdated.reason) == ("True", gitrepository.NEW_REVISION_REASON)
        assert outdated.message == f"new upstream revision 'master@sha1:{repo.rev()}'"
        reconciling_condition = conditions.get(second.status.conditions, meta.RECONCILING)
        assert reconciling_condition is not None
        assert reconciling_condition.message == f"building artifact: {outdated.message}"
        assert _condition(second, source_conditions.SOURCE_VERIFIED_CONDITION) == (
            "False",
            source_conditions.INVALID_COMMIT_SIGNATURE_REASON,
        )
        summarized = conditions.summarize(
            second.status.conditions,
            summary=reconciler.summary,
            outcome=conditions.Outcome.RETRY,
            generation=1,
            error_reason=source_conditions.INVALID_COMMIT_SIGNATURE_REASON,
            error_message="unsigned",
        )
        ready = conditions.get(summarized.conditions, meta.READY)
        assert ready is not None
        # The verification failure, not "new upstream revision", is Ready's verdict.
        assert (ready.status, ready.reason) == (
            "False",
            source_conditions.INVALID_COMMIT_SIGNATURE_REASON,
        )
