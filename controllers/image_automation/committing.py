"""Clone, update, commit and push: one automation run against a Git remote.

Credentials follow the GitRepository Secret conventions: for HTTP(S)
``username`` and ``password`` (basic auth) or ``bearerToken``; for
``ssh://`` URLs ``identity`` (the private key), ``known_hosts`` (required:
host keys are always checked) and ``password`` (the key's passphrase), with
the user from the URL (``git`` by default). SSH runs the system ``ssh`` as
``shared.gitssh`` hardens it, its key material in the run's work directory.
Other URL schemes are refused with ``GitError`` (the reconciler turns it into
a condition). Every HTTP request has a ``TIMEOUT``; redirects are not
followed.

The run clones the checkout branch; when the push branch differs and exists
on the remote, it starts from the push branch instead (so successive runs
stack on the same branch), otherwise the push branch starts at the checkout
head. Nothing is committed or pushed when the update changed nothing. Pushes
are never forced: a push that races another commit starts the run over on the
new head (``PUSH_ATTEMPTS``); any other rejected push is a ``GitError``.

Domain code only: no Kubernetes access, no status writing.
"""

from __future__ import annotations

import dataclasses
import io
import pathlib
import time
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any

import dulwich.client
import dulwich.errors
import dulwich.objects
import dulwich.porcelain
import dulwich.refs
import dulwich.repo
import urllib3

from controllers.image_automation import checkouts, setters, signing
from shared import gitssh
from shared.api import image


class GitError(Exception):
    """The remote could not be cloned or pushed to; ``reason`` is the condition reason."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


AUTH_FAILED = image.GIT_OPERATION_FAILED_REASON
"""Reason: the remote refused the credentials, or a clone/push failed."""
INVALID_SOURCE = image.INVALID_SOURCE_CONFIG_REASON
"""Reason: the source or its Secret cannot be used (unsupported scheme or Secret kind)."""


TIMEOUT = 60.0
"""Seconds a Git HTTP connection or read may take (Flux's default GitRepository timeout)."""


DEFAULT_SSH_USER = "git"


@dataclasses.dataclass(frozen=True)
class Credentials:
    """Basic auth or a bearer token for an HTTP(S) remote, or an SSH key for an ssh:// one;
    all None for an anonymous remote."""

    username: str | None = None
    password: str | None = None
    bearer_token: str | None = None
    ssh_key: gitssh.Key | None = None

    def __repr__(self) -> str:
        return (
            f"Credentials(basic={self.username is not None}, "
            f"bearer={self.bearer_token is not None}, ssh={self.ssh_key is not None})"
        )


def credentials_from_secret(data: Mapping[str, bytes], *, url: str) -> Credentials:
    """Credentials for ``url`` from decoded Secret data; GitError for unusable data."""
    if urllib.parse.urlsplit(url).scheme == "ssh":
        identity, known_hosts = data.get("identity"), data.get("known_hosts")
        if not identity:
            raise GitError(INVALID_SOURCE, "secret for an ssh:// URL has no 'identity'")
        if not known_hosts:
            raise GitError(INVALID_SOURCE, "secret for an ssh:// URL has no 'known_hosts'")
        passphrase = data.get("password")
        return Credentials(ssh_key=gitssh.Key(
            identity_pem=identity, known_hosts=known_hosts,
            passphrase=passphrase.decode() if passphrase else None,
        ))  # fmt: skip
    username = data.get("username")
    password = data.get("password")
    bearer = data.get("bearerToken")
    if password is not None and username is None:
        raise GitError(INVALID_SOURCE, "secret sets password without username")
    if bearer is not None and username is not None:
        raise GitError(
            INVALID_SOURCE, "secret sets both basic auth (username/password) and bearerToken"
        )
    return Credentials(
        username=username.decode() if username is not None else None,
        password=password.decode() if password is not None else None,
        bearer_token=bearer.decode() if bearer is not None else None,
    )


@dataclasses.dataclass(frozen=True)
class Author:
    """Commit author (also the committer)."""

    name: str
    email: str

    def identity(self) -> bytes:
        return f"{self.name} <{self.email}>".encode()


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What a run did: the revision it started from, the changes, and the pushed commit."""

    source_revision: str
    """``<branch>@sha1:<commit>`` of the commit the update was applied to."""
    result: setters.Result
    commit: str | None
    """The pushed commit's SHA-1; None when nothing changed."""


PUSH_ATTEMPTS = 3
"""Runs started over on the new remote head when a push races another commit."""


class _RacedError(Exception):
    """The remote branch moved between the clone and the push."""


@dataclasses.dataclass(frozen=True)
class PushTarget:
    """Where a run pushes: the branch, an extra refspec, and push options (``-o k=v``)."""

    branch: str
    refspec: str | None = None
    options: Mapping[str, str] | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class Job:
    """What one run does: which remote and branches, which setters, how to commit."""

    url: str
    credentials: Credentials
    checkout: checkouts.Checkout
    push: PushTarget
    update_path: str | None
    setter_values: Mapping[str, str]
    author: Author
    message: Callable[[setters.Result], str]
    """Renders the commit message from the changes (it may raise; then nothing is pushed)."""
    signing_key: signing.SigningKey | None = None


def run(job: Job, *, workdir: pathlib.Path) -> Outcome:
    """Apply the setters to a fresh clone under ``workdir``; push a commit if anything changed.

    ``job.update_path`` must stay inside the repository. A push that races
    another commit (the remote branch moved) is never forced: the run starts
    over from the new head, up to ``PUSH_ATTEMPTS`` times.
    """
    scheme = urllib.parse.urlsplit(job.url).scheme
    if scheme not in ("http", "https", "ssh"):
        raise GitError(
            INVALID_SOURCE, f"only http(s) and ssh Git URLs are supported, not {_redact(job.url)!r}"
        )
    if scheme == "ssh" and job.credentials.ssh_key is None:
        raise GitError(INVALID_SOURCE, "an ssh:// URL needs a secretRef with an SSH identity")
    workdir.mkdir(parents=True, exist_ok=True)
    transport = _transport(job.url, job.credentials, workdir)
    raced: _RacedError | None = None
    for attempt in range(PUSH_ATTEMPTS):
        try:
            return _attempt(job, transport, workdir / str(attempt))
        except _RacedError as error:
            raced = error
    raise GitError(
        AUTH_FAILED,
        f"pushing to {_redact(job.url)}: the branch moved on every one of {PUSH_ATTEMPTS} "
        f"attempts ({raced})",
    )


def _start(job: Job, listing: Mapping[str, str]) -> checkouts.Start:
    """Where the run starts: the push branch when it differs from the checkout's and exists
    on the remote (so successive runs stack on it), else the checkout reference."""
    push_ref = checkouts.HEADS + job.push.branch
    if job.push.branch != job.checkout.branch and push_ref in listing:
        return checkouts.Start(
            ref=push_ref, target=listing[push_ref], revision_name=job.push.branch
        )
    try:
        return checkouts.resolve(job.checkout, listing)
    except checkouts.RefNotFoundError as missing:
        raise GitError(AUTH_FAILED, f"{missing} in {_redact(job.url)}") from missing


def _attempt(job: Job, transport: dict[str, Any], workdir: pathlib.Path) -> Outcome:
    url, push = job.url, job.push
    listing = {k.decode(): v.decode() for k, v in _ls_remote(url, transport).items()}
    start = _start(job, listing)
    push_branch = push.branch
    branch_ref = dulwich.refs.Ref(f"refs/heads/{push_branch}".encode())
    workdir.parent.mkdir(parents=True, exist_ok=True)
    on_branch = start.ref is not None and start.ref.startswith(checkouts.HEADS)
    branch = start.ref.removeprefix(checkouts.HEADS) if start.ref and on_branch else None
    repo = _clone(url, transport, branch, workdir)
    try:
        head = repo.head().decode() if on_branch else _peeled(repo, start, url)
        # The commit goes on the push branch, which starts at the head checked out.
        repo.refs[branch_ref] = dulwich.objects.ObjectID(head.encode())
        repo.refs.set_symbolic_ref(dulwich.refs.Ref(b"HEAD"), branch_ref)
        if not on_branch:
            dulwich.porcelain.reset(repo, "hard", head.encode())
        root = _update_root(workdir, job.update_path)
        result = setters.update_with_setters(root, dict(job.setter_values))
        revision = start.revision(head)
        if not result.file_changes:
            return Outcome(source_revision=revision, result=result, commit=None)
        changed = [str((root / file).relative_to(workdir)) for file in sorted(result.file_changes)]
        dulwich.porcelain.add(repo, [str(workdir / path) for path in changed])
        now = int(time.time())
        commit = dulwich.porcelain.commit(
            repo,
            job.message(result).encode(),
            author=job.author.identity(),
            committer=job.author.identity(),
            author_timestamp=now,
            commit_timestamp=now,
            author_timezone=0,
            commit_timezone=0,
        )
        if job.signing_key is not None:
            commit = _signed(repo, commit, branch_ref, job.signing_key)
        targets = [f"refs/heads/{push_branch}:refs/heads/{push_branch}"]
        if push.refspec:
            targets.append(push.refspec)
        _push(repo, url, transport, targets, options=push.options)
        return Outcome(source_revision=revision, result=result, commit=commit.decode())
    finally:
        repo.close()


def _peeled(repo: dulwich.repo.Repo, start: checkouts.Start, url: str) -> str:
    """The commit ``start`` names in the clone (an annotated tag peeled)."""
    try:
        obj = repo[dulwich.objects.ObjectID(start.target.encode())]
        while isinstance(obj, dulwich.objects.Tag):
            obj = repo[obj.object[1]]
    except KeyError:
        obj = None
    if not isinstance(obj, dulwich.objects.Commit):
        raise GitError(AUTH_FAILED, f"commit {start.target!r} not found in {_redact(url)}")
    return obj.id.decode()


def _signed(
    repo: dulwich.repo.Repo,
    commit_id: bytes,
    branch_ref: dulwich.refs.Ref,
    key: signing.SigningKey,
) -> bytes:
    """Replace the branch head ``commit_id`` by the same commit with an OpenPGP signature."""
    commit = repo[dulwich.objects.ObjectID(commit_id)]
    assert isinstance(commit, dulwich.objects.Commit)
    commit.gpgsig = signing.sign(commit.raw_without_sig(), key)
    repo.object_store.add_object(commit)
    repo.refs[branch_ref] = commit.id
    return commit.id


def _transport(url: str, credentials: Credentials, workdir: pathlib.Path) -> dict[str, Any]:
    """dulwich client options for ``url`` (the keyword arguments of its porcelain calls).

    SSH: the hardened ``ssh`` (``shared.gitssh``) as the client's ssh command,
    its key material in a 0700 directory under ``workdir``. HTTP(S): the
    credentials, and a pool with the timeout and headers.
    """
    if credentials.ssh_key is not None and urllib.parse.urlsplit(url).scheme == "ssh":
        directory = workdir / "ssh"
        directory.mkdir(mode=0o700)
        command = gitssh.prepare(credentials.ssh_key, directory=directory, timeout=TIMEOUT)
        return {
            "ssh_command": command.wrapper(),
            "username": urllib.parse.urlsplit(url).username or DEFAULT_SSH_USER,
        }
    headers = {"User-Agent": dulwich.client.default_user_agent_string()}
    if credentials.bearer_token is not None:
        # dulwich sends a given pool's headers on every request.
        headers["Authorization"] = f"Bearer {credentials.bearer_token}"
    pool = urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=TIMEOUT, read=TIMEOUT), retries=False, headers=headers
    )
    kwargs: dict[str, Any] = {"pool_manager": pool}
    if credentials.username is not None:
        kwargs["username"] = credentials.username
        kwargs["password"] = credentials.password or ""
    return kwargs


def _ls_remote(url: str, transport: dict[str, Any]) -> dict[bytes, bytes]:
    try:
        client, path = dulwich.client.get_transport_and_path(url, quiet=True, **transport)
        listing = client.get_refs(path.encode(), protocol_version=0)
    except dulwich.client.HTTPUnauthorized as error:
        raise GitError(AUTH_FAILED, f"authentication to {_redact(url)} failed") from error
    except (OSError, dulwich.errors.GitProtocolError) as error:
        raise GitError(AUTH_FAILED, f"listing {_redact(url)}: {error}") from error
    return {name: sha for name, sha in listing.refs.items() if sha is not None}


def _clone(
    url: str, transport: dict[str, Any], branch: str | None, workdir: pathlib.Path
) -> dulwich.repo.Repo:
    """A clone checked out at ``branch``; without one, a clone with no work tree yet."""
    try:
        return dulwich.porcelain.clone(
            url,
            str(workdir),
            branch=branch.encode() if branch is not None else None,
            checkout=branch is not None,
            errstream=io.BytesIO(),
            **transport,
        )
    except dulwich.client.HTTPUnauthorized as error:
        raise GitError(AUTH_FAILED, f"authentication to {_redact(url)} failed") from error
    except (OSError, dulwich.errors.GitProtocolError) as error:
        raise GitError(AUTH_FAILED, f"cloning {_redact(url)}: {error}") from error


def _push(
    repo: dulwich.repo.Repo,
    url: str,
    transport: dict[str, Any],
    refspecs: list[str],
    *,
    options: Mapping[str, str] | None,
) -> None:
    errors = io.BytesIO()
    try:
        dulwich.porcelain.push(
            repo,
            url,
            [spec.encode() for spec in refspecs],
            outstream=io.BytesIO(),
            errstream=errors,
            push_options=[f"{k}={v}" for k, v in sorted((options or {}).items())] or None,
            **transport,
        )
    except dulwich.porcelain.DivergedBranches as error:
        raise _RacedError(str(error) or "diverged") from error
    except dulwich.client.HTTPUnauthorized as error:
        raise GitError(AUTH_FAILED, f"authentication to {_redact(url)} failed") from error
    except (OSError, dulwich.errors.GitProtocolError, dulwich.porcelain.Error) as error:
        detail = errors.getvalue().decode(errors="replace").strip() or str(error)
        raise GitError(AUTH_FAILED, f"pushing to {_redact(url)}: {detail}") from error
    # A ref the server refused is only reported, not raised, by dulwich.
    refused = [
        line
        for line in errors.getvalue().decode(errors="replace").splitlines()
        if line.startswith("Push of ref ")
    ]
    if any("non-fast-forward" in line or "fetch first" in line for line in refused):
        raise _RacedError("; ".join(refused))
    if refused:
        raise GitError(AUTH_FAILED, f"pushing to {_redact(url)}: {'; '.join(refused)}")


def _update_root(workdir: pathlib.Path, update_path: str | None) -> pathlib.Path:
    root = (workdir / (update_path or "").lstrip("/")).resolve()
    if not root.is_relative_to(workdir.resolve()):
        raise GitError(INVALID_SOURCE, f"spec.update.path {update_path!r} leaves the repository")
    if not root.is_dir():
        raise GitError(INVALID_SOURCE, f"spec.update.path {update_path!r} is not a directory")
    return root


def _redact(url: str) -> str:
    parsed = urllib.parse.urlsplit(url)
    netloc = parsed.hostname or ""
    if parsed.port:
        netloc = f"{netloc}:{parsed.port}"
    return urllib.parse.urlunsplit(parsed._replace(netloc=netloc))
