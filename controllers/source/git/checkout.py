"""Talking to a Git remote: ref lookup without a clone, and a shallow checkout of one ref.

Contract:

- ``list_refs`` is the ls-remote equivalent: one request to the remote (one
  HTTP GET for http(s), one SSH session), protocol v0 so that annotated tags
  come back peeled. It returns full ref names → object ids.
- ``resolve`` applies ``spec.ref`` to that listing (no listing is needed for
  a bare ``ref.commit``) and returns ``refs.ResolvedRef`` whose ``revision``
  the reconciler compares with the stored artifact's to skip unchanged work.
- ``checkout`` fetches the resolved object (depth 1, except a commit that a
  branch must contain, which needs the branch's history) into memory objects
  (``packs``), writes the commit's tree to ``dest`` (no ``.git``), fills
  submodules when asked, and returns the commit facts and signed payloads.

All three run the blocking dulwich work in a worker thread (``asyncio.to_thread``)
and bound it by ``time_limit`` seconds (``spec.timeout``): a deadline is checked on every transport
read/write and every tree entry, and sockets get the same timeout.
Every failure is an ``errors.GitError``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
import pathlib
import posixpath
import tempfile
import time
import urllib.parse
from collections.abc import Iterator, Sequence

import dulwich.client
import dulwich.config
import dulwich.errors
import dulwich.objects
import dulwich.refs
import dulwich.repo

from controllers.source.git import (
    auth,
    errors,
    packs,
    refs,
    revisions,
    transports,
    unpacking,
    worktrees,
)
from shared.api import source

MAX_SUBMODULE_DEPTH = 8
MAX_GITMODULES_SIZE = 1 << 20
"""A ``.gitmodules`` file is read whole; larger ones are refused."""


@dataclasses.dataclass(frozen=True)
class SignedPayload:
    """An object's bytes without its signature, and the armored signature (if any)."""

    payload: bytes
    signature: bytes | None


@dataclasses.dataclass(frozen=True)
class CheckoutResult:
    """What a checkout produced in ``dest`` and what events and verification need."""

    commit: revisions.CommitInfo
    commit_signature: SignedPayload
    tag_signature: SignedPayload | None
    """The annotated tag object's payload, None for a lightweight tag or a non-tag ref."""
    files: int
    submodules: tuple[str, ...]


class _Deadline:
    def __init__(self, timeout: float, *, url: str) -> None:
        self._end = time.monotonic() + timeout
        self._timeout = timeout
        self._url = url

    def check(self, *_: object) -> None:
        if time.monotonic() > self._end:
            raise errors.GitTimeoutError(
                f"Git operation on {self._url} exceeded the timeout of {self._timeout:g}s"
            )

    @property
    def remaining(self) -> float:
        return max(0.1, self._end - time.monotonic())


def _attach(transport: transports.Transport, deadline: _Deadline) -> None:
    # NB: dulwich calls report_activity on every protocol read and write, which
    # makes it the one hook that can stop a transfer that is slow but not idle.
    transport.client._report_activity = deadline.check


def _list_refs_sync(options: auth.AuthOptions, *, timeout: float) -> dict[str, str]:
    display = auth.redact(options.url)
    deadline = _Deadline(timeout, url=display)
    with (
        errors.translating(url=display),
        transports.open_client(options, timeout=timeout) as transport,
    ):
        _attach(transport, deadline)
        result = transport.client.get_refs(transport.path.encode(), protocol_version=0)
    listing: dict[str, str] = {}
    for name, sha in result.refs.items():
        if sha is None or sha == packs.ZERO_ID or name.startswith(b"capabilities^{}"):
            continue
        listing[name.decode("utf-8", "replace")] = sha.decode("ascii")
    return listing


async def list_refs(options: auth.AuthOptions, *, time_limit: float) -> dict[str, str]:
    """The remote's refs (``refs/heads/main`` → id, ``refs/tags/v1^{}`` → peeled id)."""
    return await asyncio.to_thread(_list_refs_sync, options, timeout=time_limit)


async def resolve(
    options: auth.AuthOptions,
    *,
    ref: source.GitRepositoryRef | None,
    time_limit: float,
) -> refs.ResolvedRef:
    """What ``ref`` points at on the remote now (no listing needed for a bare commit)."""
    plan = refs.plan(ref)
    display = auth.redact(options.url)
    if not plan.needs_listing:
        return refs.resolve(plan, {}, url=display)
    listing = await list_refs(options, time_limit=time_limit)
    if not listing:
        raise errors.EmptyRepositoryError(f"{display} is an empty repository (no refs)")
    return refs.resolve(plan, listing, url=display)


def _lookup(objects: packs.ObjectMap, object_id: bytes, *, what: str) -> packs.PackedObject:
    obj = objects.get(dulwich.objects.ObjectID(object_id))
    if obj is None:
        raise errors.GitOperationError(f"the remote did not send {what} {object_id.decode()}")
    return obj


def _peel(
    objects: packs.ObjectMap, object_id: str
) -> tuple[dulwich.objects.Commit, dulwich.objects.Tag | None]:
    """The commit behind ``object_id`` and the first (outermost) annotated tag on the way."""
    tag: dulwich.objects.Tag | None = None
    obj = _lookup(objects, object_id.encode("ascii"), what="object")
    for _ in range(16):
        if isinstance(obj, dulwich.objects.Tag):
            tag = tag or obj
            obj = _lookup(objects, obj.object[1], what="tagged object")
            continue
        break
    if not isinstance(obj, dulwich.objects.Commit):
        raise errors.GitOperationError(f"object {object_id} does not point at a commit")
    return obj, tag


def _signed(obj: dulwich.objects.Commit | dulwich.objects.Tag) -> SignedPayload:
    try:
        payload, signature, _ = obj.extract_signature()
    except dulwich.errors.ObjectFormatException:
        # An unknown signature format: keep the bytes so verification fails clearly.
        return SignedPayload(payload=obj.raw_without_sig(), signature=b"unknown signature format")
    return SignedPayload(payload=payload, signature=signature)


def _is_ancestor(objects: packs.ObjectMap, *, ancestor: bytes, tip: bytes) -> bool:
    """Whether ``ancestor`` is reachable from ``tip`` through fetched commits."""
    seen: set[bytes] = set()
    stack = [tip]
    while stack:
        current = stack.pop()
        if current == ancestor:
            return True
        if current in seen:
            continue
        seen.add(current)
        commit = objects.get(dulwich.objects.ObjectID(current))
        if isinstance(commit, dulwich.objects.Commit):
            stack.extend(commit.parents)
    return False


def _signature(raw: bytes) -> revisions.Signature:
    name, _, rest = raw.decode("utf-8", "replace").partition(" <")
    return revisions.Signature(name=name, email=rest.rstrip(">"), time=0, offset=0)


def commit_info(
    commit: dulwich.objects.Commit, *, revision: str, reference: str | None
) -> revisions.CommitInfo:
    """Commit facts for events and status."""
    author = _signature(commit.author)
    committer = _signature(commit.committer)
    return revisions.CommitInfo(
        sha=commit.id.decode("ascii"),
        revision=revision,
        message=commit.message.decode("utf-8", "replace"),
        author=dataclasses.replace(author, time=commit.author_time, offset=commit.author_timezone),
        committer=dataclasses.replace(
            committer, time=commit.commit_time, offset=commit.commit_timezone
        ),
        reference=reference,
    )


def _submodule_urls(objects: packs.ObjectMap, tree_id: bytes) -> dict[str, str]:
    tree = _lookup(objects, tree_id, what="tree")
    assert isinstance(tree, dulwich.objects.Tree)
    try:
        _, blob_id = tree[b".gitmodules"]
    except KeyError:
        return {}
    blob = _lookup(objects, blob_id, what=".gitmodules blob")
    if isinstance(blob, unpacking.PackedBlob):
        try:
            data = blob.read(limit=MAX_GITMODULES_SIZE)
        except ValueError as exc:
            raise errors.GitOperationError(f".gitmodules is too large: {exc}") from exc
    elif isinstance(blob, dulwich.objects.Blob):
        data = blob.as_raw_string()
    else:
        raise errors.GitOperationError(".gitmodules is not a file")
    config = dulwich.config.ConfigFile.from_file(io.BytesIO(data), expand_includes=False)
    return {
        path.decode("utf-8", "replace"): url.decode("utf-8", "replace")
        for path, url, _name in dulwich.config.parse_submodules(config)
    }


def submodule_url(parent_url: str, url: str) -> str:
    """Resolve a ``.gitmodules`` URL; relative ones (``../x.git``) are relative to the parent."""
    if not url.startswith(("./", "../")):
        return url
    parsed = urllib.parse.urlsplit(parent_url)
    base = parsed.path.rstrip("/")
    joined = posixpath.normpath(posixpath.join(base, url))
    return urllib.parse.urlunsplit(parsed._replace(path=joined))


@dataclasses.dataclass(frozen=True)
class _Job:
    options: auth.AuthOptions
    dest: pathlib.Path
    deadline: _Deadline
    timeout: float


def _fill_submodules(
    job: _Job,
    objects: packs.ObjectMap,
    tree_id: bytes,
    gitlinks: Sequence[worktrees.Gitlink],
    *,
    depth: int,
) -> list[str]:
    if not gitlinks:
        return []
    if depth >= MAX_SUBMODULE_DEPTH:
        raise errors.GitOperationError("submodules nested deeper than 8 levels")
    urls = _submodule_urls(objects, tree_id)
    filled: list[str] = []
    for link in gitlinks:
        if link.path not in urls:
            raise errors.GitOperationError(f"submodule {link.path!r} has no URL in .gitmodules")
        url = submodule_url(job.options.url, urls[link.path])
        scheme = auth.scheme_of(url)
        sub_options = dataclasses.replace(job.options, url=url, scheme=scheme)
        if scheme == "ssh" and sub_options.ssh is None:
            raise errors.AuthError(
                f"submodule {link.path!r} uses ssh but the secret has no identity"
            )
        sub_job = dataclasses.replace(job, options=sub_options, dest=job.dest / link.path)
        filled.append(link.path)
        filled += [
            f"{link.path}/{nested}"
            for nested in _checkout_commit(sub_job, link.commit, depth=depth + 1)
        ]
    return filled


def _fetch_with_fallback(
    transport: transports.Transport, commit_id: str, *, spool_dir: pathlib.Path
) -> packs.ObjectMap:
    """Fetch one commit at depth 1; servers refusing unadvertised wants get a full fetch."""
    try:
        objects, _ = packs.receive(transport, wants=[commit_id], depth=1, spool_dir=spool_dir)
    except errors.GitError:
        raise
    except Exception:
        objects, _ = packs.receive(transport, wants=None, depth=None, spool_dir=spool_dir)
    return objects


@contextlib.contextmanager
def _spool_dir() -> Iterator[pathlib.Path]:
    """Where ``packs.receive`` spools a large pack; removed (errors ignored) on exit."""
    with tempfile.TemporaryDirectory(prefix="headwater-git-", ignore_cleanup_errors=True) as name:
        yield pathlib.Path(name)


def _checkout_commit(job: _Job, commit_id: str, *, depth: int) -> list[str]:
    """Check out a submodule's pinned commit into ``job.dest``; returns nested submodule paths."""
    display = auth.redact(job.options.url)
    with _spool_dir() as spool_dir, errors.translating(url=display):
        with transports.open_client(job.options, timeout=job.timeout) as transport:
            _attach(transport, job.deadline)
            objects = _fetch_with_fallback(transport, commit_id, spool_dir=spool_dir)
        if packs.oid(commit_id) not in objects:
            raise errors.RefNotFoundError(f"commit {commit_id} not found in submodule {display}")
        commit, _ = _peel(objects, commit_id)
        stats = worktrees.write_tree(objects, commit.tree, job.dest, check=job.deadline.check)
        return _fill_submodules(job, objects, commit.tree, stats.gitlinks, depth=depth)


def _fetch_resolved(
    transport: transports.Transport,
    resolved: refs.ResolvedRef,
    *,
    display: str,
    spool_dir: pathlib.Path,
) -> packs.ObjectMap:
    if resolved.kind == "commit" and resolved.branch is not None:
        # The branch must contain the commit: that takes the branch's history.
        objects, remote = packs.receive(transport, wants=None, depth=None, spool_dir=spool_dir)
        branch = revisions.short_ref(resolved.branch)
        tip = remote.get(resolved.branch)
        if tip is None:
            raise errors.RefNotFoundError(f"branch {branch!r} not found in {display}")
        if not _is_ancestor(objects, ancestor=packs.oid(resolved.target), tip=packs.oid(tip)):
            raise errors.RefNotFoundError(
                f"commit {resolved.target} is not on branch {branch!r} of {display}"
            )
        return objects
    if resolved.kind == "commit":
        objects = _fetch_with_fallback(transport, resolved.target, spool_dir=spool_dir)
        if packs.oid(resolved.target) not in objects:
            raise errors.RefNotFoundError(f"commit {resolved.target} not found in {display}")
        return objects
    objects, _ = packs.receive(
        transport, wants=[resolved.target], depth=1, spool_dir=spool_dir, wants_are_tips=True
    )
    return objects


def _checkout_sync(
    options: auth.AuthOptions,
    resolved: refs.ResolvedRef,
    dest: pathlib.Path,
    *,
    timeout: float,
    recurse_submodules: bool,
    sparse: tuple[str, ...],
) -> CheckoutResult:
    display = auth.redact(options.url)
    deadline = _Deadline(timeout, url=display)
    job = _Job(options=options, dest=dest, deadline=deadline, timeout=timeout)
    with _spool_dir() as spool_dir, errors.translating(url=display):
        with transports.open_client(options, timeout=timeout) as transport:
            _attach(transport, deadline)
            objects = _fetch_resolved(transport, resolved, display=display, spool_dir=spool_dir)
        commit, tag = _peel(objects, resolved.target)
        if resolved.kind == "commit":
            revision = revisions.format_revision(ref=resolved.branch, commit=commit.id.decode())
        else:
            revision = revisions.format_revision(
                ref=resolved.ref, commit=commit.id.decode(), absolute=resolved.kind == "name"
            )
        stats = worktrees.write_tree(
            objects, commit.tree, dest, sparse=sparse, check=deadline.check
        )
        submodules: list[str] = []
        if recurse_submodules:
            submodules = _fill_submodules(job, objects, commit.tree, stats.gitlinks, depth=0)
        return CheckoutResult(
            commit=commit_info(
                commit, revision=revision, reference=resolved.ref or resolved.branch
            ),
            commit_signature=_signed(commit),
            tag_signature=_signed(tag) if tag is not None else None,
            files=stats.files,
            submodules=tuple(submodules),
        )


async def checkout(
    options: auth.AuthOptions,
    resolved: refs.ResolvedRef,
    *,
    dest: pathlib.Path,
    time_limit: float,
    recurse_submodules: bool = False,
    sparse_checkout: Sequence[str] | None = None,
) -> CheckoutResult:
    """Fetch ``resolved`` and write its tree into the empty directory ``dest``."""
    sparse = worktrees.normalize_sparse(sparse_checkout or ())
    return await asyncio.to_thread(
        _checkout_sync,
        options,
        resolved,
        dest,
        timeout=time_limit,
        recurse_submodules=recurse_submodules,
        sparse=sparse,
    )
