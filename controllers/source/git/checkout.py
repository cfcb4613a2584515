"""Talking to a Git remote: ref lookup without a clone, and a shallow checkout of one ref.

Contract:

- ``list_refs`` is the ls-remote equivalent: one request to the remote (one
  HTTP GET for http(s), one SSH session), protocol v0 so that annotated tags
  come back peeled. It returns full ref names → object ids.
- ``resolve`` applies ``spec.ref`` to that listing (no listing is needed for
  a bare ``ref.commit``) and returns ``refs.ResolvedRef`` whose ``revision``
  the reconciler compares with the stored artifact's to skip unchanged work.
- ``checkout`` fetches the resolved object (depth 1, except a commit that a
  branch must contain, which needs the branch's history) into a private bare
  repository, writes the commit's tree to ``dest`` (no ``.git``), fills
  submodules when asked, and returns the commit facts and signed payloads.

All three run the blocking dulwich work in a worker thread (``asyncio.to_thread``)
and bound it by ``time_limit`` seconds (``spec.timeout``): a deadline is checked on every transport
read/write and every tree entry, and sockets get the same timeout.
Every failure is an ``errors.GitError``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import pathlib
import posixpath
import shutil
import tempfile
import time
import urllib.parse
from collections.abc import Mapping, Sequence

import dulwich.client
import dulwich.config
import dulwich.errors
import dulwich.objects
import dulwich.refs
import dulwich.repo

from controllers.source.git import auth, errors, refs, revisions, transports, worktrees
from shared.api import source

MAX_SUBMODULE_DEPTH = 8
ZERO_ID = b"0" * 40


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


def _oid(hex_id: str) -> dulwich.objects.ObjectID:
    return dulwich.objects.ObjectID(hex_id.encode("ascii"))


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
    try:
        with transports.open_client(options, timeout=timeout) as transport:
            _attach(transport, deadline)
            result = transport.client.get_refs(transport.path.encode(), protocol_version=0)
    except Exception as exc:
        raise errors.translate(exc, url=display) from exc
    listing: dict[str, str] = {}
    for name, sha in result.refs.items():
        if sha is None or sha == ZERO_ID or name.startswith(b"capabilities^{}"):
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


def _fetch(
    transport: transports.Transport,
    repo: dulwich.repo.Repo,
    *,
    wants: Sequence[str] | None,
    depth: int | None,
) -> dict[str, str]:
    """Fetch ``wants`` (or every branch and tag when None); returns the remote's refs."""

    def determine_wants(
        refs: Mapping[dulwich.refs.Ref, dulwich.objects.ObjectID],  # NB: named as dulwich calls it
        depth: int | None = None,
    ) -> list[dulwich.objects.ObjectID]:
        if wants is not None:
            return [_oid(w) for w in wants if _oid(w) not in repo.object_store]
        picked = {
            sha
            for name, sha in refs.items()
            if sha
            and sha != ZERO_ID
            and not name.endswith(b"^{}")
            and name.startswith((b"refs/heads/", b"refs/tags/"))
        }
        return [sha for sha in sorted(picked) if sha not in repo.object_store]

    result = transport.client.fetch(
        transport.path.encode(), repo, determine_wants=determine_wants, depth=depth
    )
    return {
        name.decode("utf-8", "replace"): sha.decode("ascii")
        for name, sha in result.refs.items()
        if sha is not None
    }


def _peel(
    repo: dulwich.repo.Repo, object_id: str
) -> tuple[dulwich.objects.Commit, dulwich.objects.Tag | None]:
    """The commit behind ``object_id`` and the first (outermost) annotated tag on the way."""
    tag: dulwich.objects.Tag | None = None
    obj = repo[_oid(object_id)]
    for _ in range(16):
        if isinstance(obj, dulwich.objects.Tag):
            tag = tag or obj
            obj = repo[obj.object[1]]
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


def _is_ancestor(
    repo: dulwich.repo.Repo, *, ancestor: dulwich.objects.ObjectID, tip: dulwich.objects.ObjectID
) -> bool:
    return any(entry.commit.id == ancestor for entry in repo.get_walker(include=[tip]))


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


def _submodule_urls(repo: dulwich.repo.Repo, tree_id: bytes) -> dict[str, str]:
    tree = repo[tree_id]
    assert isinstance(tree, dulwich.objects.Tree)
    try:
        _, blob_id = tree[b".gitmodules"]
    except KeyError:
        return {}
    blob = repo[blob_id]
    assert isinstance(blob, dulwich.objects.Blob)
    config = dulwich.config.ConfigFile.from_file(io.BytesIO(blob.data), expand_includes=False)
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
    repo: dulwich.repo.Repo,
    tree_id: bytes,
    gitlinks: Sequence[worktrees.Gitlink],
    *,
    depth: int,
) -> list[str]:
    if not gitlinks:
        return []
    if depth >= MAX_SUBMODULE_DEPTH:
        raise errors.GitOperationError("submodules nested deeper than 8 levels")
    urls = _submodule_urls(repo, tree_id)
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


def _checkout_commit(job: _Job, commit_id: str, *, depth: int) -> list[str]:
    """Check out a submodule's pinned commit into ``job.dest``; returns nested submodule paths."""
    display = auth.redact(job.options.url)
    workdir = pathlib.Path(tempfile.mkdtemp(prefix="headwater-git-"))
    try:
        repo = dulwich.repo.Repo.init_bare(str(workdir))
        with transports.open_client(job.options, timeout=job.timeout) as transport:
            _attach(transport, job.deadline)
            try:
                _fetch(transport, repo, wants=[commit_id], depth=1)
            except errors.GitError:
                raise
            except Exception:
                # Servers that refuse unadvertised wants: fetch branches and tags instead.
                _fetch(transport, repo, wants=None, depth=None)
        if _oid(commit_id) not in repo.object_store:
            raise errors.RefNotFoundError(f"commit {commit_id} not found in submodule {display}")
        commit, _ = _peel(repo, commit_id)
        stats = worktrees.write_tree(
            repo.object_store, commit.tree, job.dest, check=job.deadline.check
        )
        return _fill_submodules(job, repo, commit.tree, stats.gitlinks, depth=depth)
    except errors.GitError:
        raise
    except Exception as exc:
        raise errors.translate(exc, url=display) from exc
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


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
    workdir = pathlib.Path(tempfile.mkdtemp(prefix="headwater-git-"))
    try:
        repo = dulwich.repo.Repo.init_bare(str(workdir))
        with transports.open_client(options, timeout=timeout) as transport:
            _attach(transport, deadline)
            if resolved.kind == "commit" and resolved.branch is not None:
                remote = _fetch(transport, repo, wants=None, depth=None)
                tip = remote.get(resolved.branch)
                if tip is None:
                    raise errors.RefNotFoundError(
                        f"branch {revisions.short_ref(resolved.branch)!r} not found in {display}"
                    )
                if _oid(resolved.target) not in repo.object_store or not _is_ancestor(
                    repo, ancestor=_oid(resolved.target), tip=_oid(tip)
                ):
                    raise errors.RefNotFoundError(
                        f"commit {resolved.target} is not on branch "
                        f"{revisions.short_ref(resolved.branch)!r} of {display}"
                    )
            elif resolved.kind == "commit":
                try:
                    _fetch(transport, repo, wants=[resolved.target], depth=1)
                except errors.GitError:
                    raise
                except Exception:
                    _fetch(transport, repo, wants=None, depth=None)
                if _oid(resolved.target) not in repo.object_store:
                    raise errors.RefNotFoundError(
                        f"commit {resolved.target} not found in {display}"
                    )
            else:
                _fetch(transport, repo, wants=[resolved.target], depth=1)
        commit, tag = _peel(repo, resolved.target)
        if resolved.kind == "commit":
            revision = revisions.format_revision(ref=resolved.branch, commit=commit.id.decode())
        else:
            revision = revisions.format_revision(
                ref=resolved.ref, commit=commit.id.decode(), absolute=resolved.kind == "name"
            )
        stats = worktrees.write_tree(
            repo.object_store, commit.tree, dest, sparse=sparse, check=deadline.check
        )
        submodules: list[str] = []
        if recurse_submodules:
            submodules = _fill_submodules(job, repo, commit.tree, stats.gitlinks, depth=0)
        tag_payload = _signed(tag) if tag is not None else None
        return CheckoutResult(
            commit=commit_info(
                commit, revision=revision, reference=resolved.ref or resolved.branch
            ),
            commit_signature=_signed(commit),
            tag_signature=tag_payload,
            files=stats.files,
            submodules=tuple(submodules),
        )
    except errors.GitError:
        raise
    except Exception as exc:
        raise errors.translate(exc, url=display) from exc
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


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
