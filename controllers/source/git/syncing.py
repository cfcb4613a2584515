"""One GitRepository sync: remote revision → (skip | checkout → verify → include → package).

Contract: ``sync`` is the single call the future GitRepository reconciler makes
for its source step. Inputs are plain typed values: the object's storage key,
its ``spec`` and current ``status`` models, decoded Secret data, the included
artifacts, and the ``Storage``. It returns an ``Outcome`` or raises an
``errors.GitError`` whose ``reason`` (and ``stalling``) the reconciler turns
into conditions; it writes no status itself.

Steps, each skipped when it cannot matter:

1. validate auth data and ``spec.ref`` (and the verification mode) — no I/O;
2. ask the remote for the ref's commit: one round trip (none for a bare
   ``ref.commit``);
3. if that revision equals ``status.artifact.revision``, the artifact file
   is still in storage, and nothing content-affecting changed (``ignore``,
   ``recurseSubmodules``, ``include`` and the included artifacts,
   ``sparseCheckout``, the verification mode), return ``changed=False``:
   no clone, nothing written;
4. otherwise shallow-checkout into a private temp dir, verify signatures,
   copy includes, and under the object's storage lock archive with the
   ignore rules and collect garbage. The temp dir is removed on every path.

The Git, copy, archive and removal work of step 4 runs in worker threads.
"""

from __future__ import annotations

import asyncio
import dataclasses
import pathlib
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence

from controllers.source.git import (
    auth,
    checkout,
    errors,
    including,
    refs,
    revisions,
    verification,
)
from shared.api import meta, source
from shared.artifacts import errors as artifact_errors
from shared.artifacts import ignoring, storage

SecretData = Mapping[str, bytes]


@dataclasses.dataclass(frozen=True)
class Credentials:
    """Decoded data of the Secrets the spec references (None when not referenced)."""

    secret: SecretData | None = None
    proxy: SecretData | None = None
    verification: SecretData | None = None


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What the sync did; the reconciler maps it to status, conditions and events."""

    changed: bool
    """False when the stored artifact was still current (nothing cloned or written)."""
    artifact: meta.Artifact
    resolved: refs.ResolvedRef
    commit: revisions.CommitInfo | None
    """The checked-out commit; None when unchanged (it was not fetched)."""
    verified: verification.Verified | None
    """None when ``spec.verify`` is unset, or when unchanged (the last verification stands)."""
    included_artifacts: tuple[meta.Artifact, ...]
    garbage_collected: tuple[str, ...] = ()


def time_limit(spec: source.GitRepositorySpec) -> float:
    """``spec.timeout`` in seconds."""
    return meta.parse_duration(spec.timeout).total_seconds()


def _same_includes(
    status: source.GitRepositoryStatus, includes: Sequence[including.IncludedArtifact]
) -> bool:
    previous = status.included_artifacts or []
    if len(previous) != len(includes):
        return False
    return all(
        old.revision == new.artifact.revision and old.digest == new.artifact.digest
        for old, new in zip(previous, includes, strict=True)
    )


def is_unchanged(
    *,
    spec: source.GitRepositorySpec,
    status: source.GitRepositoryStatus | None,
    remote_revision: str | None,
    includes: Sequence[including.IncludedArtifact],
    store: storage.Storage,
) -> bool:
    """True when the stored artifact already is what a full sync would produce."""
    if status is None or status.artifact is None or remote_revision is None:
        return False
    if status.artifact.revision != remote_revision or not store.exists(status.artifact):
        return False
    if spec.verify is not None and status.source_verification_mode != verification.normalize_mode(
        spec.verify.mode
    ):
        return False
    return (
        status.observed_ignore == spec.ignore
        and bool(status.observed_recurse_submodules) == bool(spec.recurse_submodules)
        and (status.observed_include or []) == (spec.include or [])
        and (status.observed_sparse_checkout or []) == (spec.sparse_checkout or [])
        and _same_includes(status, includes)
    )


async def sync(
    *,
    key: storage.ObjectKey,
    spec: source.GitRepositorySpec,
    status: source.GitRepositoryStatus | None,
    credentials: Credentials,
    includes: Sequence[including.IncludedArtifact] = (),
    store: storage.Storage,
    on_new_revision: Callable[[str], None] | None = None,
) -> Outcome:
    """Bring the object's artifact up to date with the remote (see the module docstring).

    ``on_new_revision`` is told the remote revision before a checkout starts
    (for progress reporting).
    """
    options = auth.options_for(
        spec.url, secret_data=credentials.secret, proxy_data=credentials.proxy
    )
    plan = refs.plan(spec.ref)
    if spec.verify is not None:
        verification.check_mode(spec.verify.mode, plan=plan)
        if credentials.verification is None:
            raise errors.VerificationError("spec.verify is set but its secret was not given")
    limit = time_limit(spec)
    resolved = await checkout.resolve(options, ref=spec.ref, time_limit=limit)
    included = tuple(i.artifact for i in includes)
    if is_unchanged(
        spec=spec, status=status, remote_revision=resolved.revision, includes=includes, store=store
    ):
        assert status is not None
        assert status.artifact is not None
        return Outcome(
            changed=False,
            artifact=status.artifact,
            resolved=resolved,
            commit=None,
            verified=None,
            included_artifacts=included,
        )
    if on_new_revision is not None and resolved.revision:
        on_new_revision(resolved.revision)
    workdir = pathlib.Path(tempfile.mkdtemp(prefix="headwater-gitrepo-"))
    try:
        tree = workdir / "tree"
        tree.mkdir()
        result = await checkout.checkout(
            options,
            resolved,
            dest=tree,
            time_limit=limit,
            recurse_submodules=bool(spec.recurse_submodules),
            sparse_checkout=spec.sparse_checkout,
        )
        verified = None
        if spec.verify is not None:
            assert credentials.verification is not None
            verified = await verification.verify(
                mode=spec.verify.mode,
                plan=plan,
                result=result,
                secret_data=credentials.verification,
            )
        await including.apply(tree, includes)
        artifact, deleted = await _package(
            store, key=key, tree=tree, revision=result.commit.revision, spec_ignore=spec.ignore
        )
    finally:
        # NB: a checkout can hold many thousands of files; delete them off the event loop.
        await asyncio.to_thread(shutil.rmtree, workdir, ignore_errors=True)
    return Outcome(
        changed=True,
        artifact=artifact,
        resolved=resolved,
        commit=result.commit,
        verified=verified,
        included_artifacts=included,
        garbage_collected=tuple(deleted),
    )


async def _package(
    store: storage.Storage,
    *,
    key: storage.ObjectKey,
    tree: pathlib.Path,
    revision: str,
    spec_ignore: str | None,
) -> tuple[meta.Artifact, list[str]]:
    try:
        # NB: reading .sourceignore files is disk I/O; keep it off the event loop.
        matcher = await asyncio.to_thread(ignoring.source_matcher, tree, spec_ignore=spec_ignore)
        async with store.lock(key):
            artifact = await store.archive(key, source=tree, revision=revision, exclude=matcher)
            deleted = await store.garbage_collect(artifact)
    except artifact_errors.ArchiveLimitError as exc:
        raise errors.StorageOperationError(
            f"packaging {revision} failed: {exc} (--artifact-max-size); "
            "exclude files with spec.ignore or raise the limit"
        ) from exc
    except artifact_errors.ArtifactError as exc:
        raise errors.StorageOperationError(f"packaging {revision} failed: {exc}") from exc
    return artifact, deleted
