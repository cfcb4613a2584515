"""The whole source step against a real server and real storage: package, skip, GC, include."""

from __future__ import annotations

import datetime
import pathlib
import tarfile
import time
from collections.abc import Callable
from typing import Any

import pytest

from controllers.source.git import errors, including, syncing
from shared.api import meta, source
from shared.artifacts import storage
from tests.fixtures import gitservers


class Clock:
    """A settable clock for storage timestamps and GC (no sleeping)."""

    def __init__(self) -> None:
        # Starts at the real time: GC compares it with the files' real mtimes.
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: pathlib.Path, clock: Clock) -> storage.Storage:
    return storage.Storage(
        tmp_path / "storage",
        advertised_address="source-controller.flux-system.svc",
        retention=storage.RetentionPolicy(ttl=datetime.timedelta(minutes=1), records=2),
        clock=clock,
    )


def _spec(url: str, **fields: Any) -> source.GitRepositorySpec:
    return source.GitRepositorySpec(url=url, interval="1m", **fields)


def _status(spec: source.GitRepositorySpec, outcome: syncing.Outcome) -> source.GitRepositoryStatus:
    """What a reconciler would write after ``outcome`` (only the fields sync reads)."""
    return source.GitRepositoryStatus(
        artifact=outcome.artifact,
        included_artifacts=list(outcome.included_artifacts) or None,
        observed_ignore=spec.ignore,
        observed_recurse_submodules=spec.recurse_submodules,
        observed_include=spec.include,
        observed_sparse_checkout=spec.sparse_checkout,
        source_verification_mode=outcome.verified.mode if outcome.verified else None,
    )


def _members(store: storage.Storage, artifact: meta.Artifact) -> list[str]:
    with tarfile.open(store.local_path(artifact.path)) as archive:
        return sorted(m.name for m in archive.getmembers() if m.isfile())


def _archives(store: storage.Storage) -> list[str]:
    """Every stored tar.gz, as artifact paths."""
    return sorted(p.relative_to(store.root).as_posix() for p in store.root.rglob("*.tar.gz"))


def _files(root: pathlib.Path) -> dict[str, float]:
    return {str(p.relative_to(root)): p.stat().st_mtime for p in root.rglob("*") if p.is_file()}


KEY = storage.ObjectKey(kind="GitRepository", namespace="flux-system", name="app")


@pytest.fixture
def app(make_repo: Callable[..., gitservers.RepoBuilder]) -> gitservers.RepoBuilder:
    repo = make_repo("app.git")
    repo.commit("first", {"deploy/app.yaml": "v: 1\n", "logo.png": "png", "README.md": "hi"})
    return repo


async def test_new_commit_gives_new_artifact_and_old_one_is_collected(
    app: gitservers.RepoBuilder,
    http_server: gitservers.GitServer,
    store: storage.Storage,
    clock: Clock,
) -> None:
    spec = _spec(http_server.url("app.git"))
    first = await syncing.sync(
        key=KEY, spec=spec, status=None, credentials=syncing.Credentials(), store=store
    )
    assert first.changed
    assert first.artifact.revision == f"master@sha1:{app.rev()}"
    assert first.artifact.path.startswith("gitrepository/flux-system/app/")
    assert first.artifact.url == f"http://source-controller.flux-system.svc/{first.artifact.path}"
    assert first.commit is not None
    assert first.commit.event_message() == "stored artifact for commit 'first'"
    # default exclusions: images are left out when the repository has no ignore rules
    assert _members(store, first.artifact) == ["README.md", "deploy/app.yaml"]

    app.commit("second", {"deploy/app.yaml": "v: 2\n"})
    clock.now += 120  # past the 1m retention TTL
    second = await syncing.sync(
        key=KEY, spec=spec, status=_status(spec, first), credentials=syncing.Credentials(),
        store=store,
    )  # fmt: skip
    assert second.changed
    assert second.artifact.revision == f"master@sha1:{app.rev()}"
    assert second.artifact.digest != first.artifact.digest
    assert store.exists(second.artifact)
    assert not store.exists(first.artifact)
    assert second.garbage_collected == (first.artifact.path,)


async def test_unchanged_remote_means_one_request_no_clone_no_write(
    app: gitservers.RepoBuilder, http_server: gitservers.GitServer, store: storage.Storage
) -> None:
    spec = _spec(http_server.url("app.git"))
    first = await syncing.sync(
        key=KEY, spec=spec, status=None, credentials=syncing.Credentials(), store=store
    )
    before = _files(store.root)
    http_server.reset_log()
    again = await syncing.sync(
        key=KEY, spec=spec, status=_status(spec, first), credentials=syncing.Credentials(),
        store=store,
    )  # fmt: skip
    assert not again.changed
    assert again.commit is None
    assert again.artifact == first.artifact
    assert http_server.requests() == ["GET /app.git/info/refs?service=git-upload-pack 200"]
    assert _files(store.root) == before


@pytest.mark.parametrize(
    "change",
    [{"ignore": "*.md\n"}, {"sparse_checkout": ["deploy"]}, {"recurse_submodules": True}],
    ids=["ignore", "sparse", "submodules"],
)
async def test_content_config_change_repackages(
    app: gitservers.RepoBuilder,
    http_server: gitservers.GitServer,
    store: storage.Storage,
    change: dict[str, Any],
) -> None:
    spec = _spec(http_server.url("app.git"))
    first = await syncing.sync(
        key=KEY, spec=spec, status=None, credentials=syncing.Credentials(), store=store
    )
    changed_spec = _spec(http_server.url("app.git"), **change)
    again = await syncing.sync(
        key=KEY, spec=changed_spec, status=_status(spec, first),
        credentials=syncing.Credentials(), store=store,
    )  # fmt: skip
    assert again.changed


async def test_ignore_rules_sourceignore_and_spec_ignore(
    make_repo: Callable[..., gitservers.RepoBuilder],
    http_server: gitservers.GitServer,
    store: storage.Storage,
) -> None:
    repo = make_repo("app.git")
    repo.commit(
        "tree",
        {
            ".sourceignore": "secrets/\n",
            "deploy/.sourceignore": "*.tmp\n",
            "deploy/app.yaml": "a",
            "deploy/scratch.tmp": "t",
            "secrets/key.txt": "k",
            "docs/guide.md": "g",
            "logo.png": "png",
        },
    )
    spec = _spec(http_server.url("app.git"), ignore="docs/\n")
    outcome = await syncing.sync(
        key=KEY, spec=spec, status=None, credentials=syncing.Credentials(), store=store
    )
    # .sourceignore rules replace the default exclusions, so logo.png stays
    assert _members(store, outcome.artifact) == [
        ".sourceignore",
        "deploy/.sourceignore",
        "deploy/app.yaml",
        "logo.png",
    ]


async def test_same_tree_same_digest(
    app: gitservers.RepoBuilder,
    http_server: gitservers.GitServer,
    tmp_path: pathlib.Path,
    clock: Clock,
) -> None:
    spec = _spec(http_server.url("app.git"))
    digests = []
    for name in ("one", "two"):
        other = storage.Storage(tmp_path / name, advertised_address="x", clock=clock)
        outcome = await syncing.sync(
            key=KEY, spec=spec, status=None, credentials=syncing.Credentials(), store=other
        )
        digests.append(outcome.artifact.digest)
    assert digests[0] == digests[1]


async def _artifact_of(
    repo_name: str, server: gitservers.GitServer, store: storage.Storage
) -> including.IncludedArtifact:
    key = storage.ObjectKey(kind="GitRepository", namespace="flux-system", name=repo_name)
    outcome = await syncing.sync(
        key=key, spec=_spec(server.url(f"{repo_name}.git")), status=None,
        credentials=syncing.Credentials(), store=store,
    )  # fmt: skip
    return including.IncludedArtifact(
        include=source.GitRepositoryInclude(repository=meta.LocalObjectReference(name=repo_name)),
        artifact=outcome.artifact,
        archive=store.local_path(outcome.artifact.path),
    )


async def test_include_copies_from_path_to_path(
    app: gitservers.RepoBuilder,
    make_repo: Callable[..., gitservers.RepoBuilder],
    http_server: gitservers.GitServer,
    store: storage.Storage,
) -> None:
    make_repo("shared.git").commit("s", {"base/common.yaml": "c", "other/x.yaml": "x"})
    base = await _artifact_of("shared", http_server, store)
    default_paths = base
    mapped = including.IncludedArtifact(
        include=source.GitRepositoryInclude(
            repository=meta.LocalObjectReference(name="shared"),
            from_path="base",
            to_path="lib/common",
        ),
        artifact=base.artifact,
        archive=base.archive,
    )
    spec = _spec(http_server.url("app.git"), include=[default_paths.include, mapped.include])
    outcome = await syncing.sync(
        key=KEY, spec=spec, status=None, credentials=syncing.Credentials(),
        includes=[default_paths, mapped], store=store,
    )  # fmt: skip
    assert _members(store, outcome.artifact) == [
        "README.md",
        "deploy/app.yaml",
        "lib/common/common.yaml",
        "shared/base/common.yaml",
        "shared/other/x.yaml",
    ]
    assert outcome.included_artifacts == (base.artifact, base.artifact)


@pytest.mark.parametrize(
    ("from_path", "to_path", "error"),
    [("../..", None, errors.IllegalPathError), (None, "../../escape", errors.IllegalPathError),
     ("missing", None, errors.CopyError)],
)  # fmt: skip
async def test_include_paths_are_checked(
    app: gitservers.RepoBuilder,
    make_repo: Callable[..., gitservers.RepoBuilder],
    http_server: gitservers.GitServer,
    store: storage.Storage,
    from_path: str | None,
    to_path: str | None,
    error: type[errors.GitError],
) -> None:
    make_repo("shared.git").commit("s", {"base/common.yaml": "c"})
    base = await _artifact_of("shared", http_server, store)
    bad = including.IncludedArtifact(
        include=source.GitRepositoryInclude(
            repository=meta.LocalObjectReference(name="shared"),
            from_path=from_path,
            to_path=to_path,
        ),
        artifact=base.artifact,
        archive=base.archive,
    )
    spec = _spec(http_server.url("app.git"), include=[bad.include])
    with pytest.raises(error):
        await syncing.sync(
            key=KEY, spec=spec, status=None, credentials=syncing.Credentials(), includes=[bad],
            store=store,
        )  # fmt: skip
    assert _archives(store) == [base.artifact.path]


async def test_verification_failure_stores_nothing(
    app: gitservers.RepoBuilder,
    http_server: gitservers.GitServer,
    store: storage.Storage,
    gpg_key: gitservers.GpgKey,
) -> None:
    spec = _spec(
        http_server.url("app.git"),
        verify=source.GitRepositoryVerification(
            mode="HEAD", secret_ref=meta.LocalObjectReference(name="keys")
        ),
    )
    credentials = syncing.Credentials(verification={"a.asc": gpg_key.public_armor})
    with pytest.raises(errors.InvalidCommitSignatureError):
        await syncing.sync(key=KEY, spec=spec, status=None, credentials=credentials, store=store)
    assert _archives(store) == []


async def test_verified_sync_records_mode(
    make_repo: Callable[..., gitservers.RepoBuilder],
    http_server: gitservers.GitServer,
    store: storage.Storage,
    gpg_key: gitservers.GpgKey,
) -> None:
    repo = make_repo("app.git")
    repo.commit("signed", {"a.yaml": "a"}, sign=gpg_key)
    repo.tag("v1.0.0", message="signed", sign=gpg_key)
    spec = _spec(
        http_server.url("app.git"),
        ref=source.GitRepositoryRef(semver="1.x"),
        verify=source.GitRepositoryVerification(
            mode="TagAndHEAD", secret_ref=meta.LocalObjectReference(name="keys")
        ),
    )
    credentials = syncing.Credentials(verification={"a.asc": gpg_key.public_armor})
    outcome = await syncing.sync(
        key=KEY, spec=spec, status=None, credentials=credentials, store=store
    )
    assert outcome.verified is not None
    assert outcome.verified.mode == "TagAndHEAD"
    assert outcome.artifact.revision == f"v1.0.0@sha1:{repo.rev()}"


async def test_cold_sync_is_ls_remote_plus_one_shallow_fetch(
    app: gitservers.RepoBuilder, http_server: gitservers.GitServer, store: storage.Storage
) -> None:
    spec = _spec(http_server.url("app.git"))
    http_server.reset_log()
    await syncing.sync(
        key=KEY, spec=spec, status=None, credentials=syncing.Credentials(), store=store
    )
    assert http_server.requests() == [
        "GET /app.git/info/refs?service=git-upload-pack 200",  # ls-remote
        "GET /app.git/info/refs?service=git-upload-pack 200",  # fetch: advertisement
        "POST /app.git/git-upload-pack 200",  # fetch: depth-1 pack
    ]
