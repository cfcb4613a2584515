"""The errors of Git operations, each carrying the Flux condition reason it maps to.

Tree::

    GitError                       reason
    ├── InvalidUrlError            URLInvalid           (stalling: the spec must change)
    ├── AuthError                  AuthenticationFailed (secret data unusable or refused)
    ├── GitOperationError          GitOperationFailed
    │   ├── UnreachableError       (connection refused, DNS, TLS handshake)
    │   ├── GitTimeoutError        (spec.timeout exceeded)
    │   └── RefNotFoundError       (branch, tag, name, semver or commit missing)
    ├── EmptyRepositoryError       EmptyGitRepository
    ├── IllegalPathError           IllegalPath  (a path from the spec or a tree escapes)
    ├── CopyError                  CopyFailure  (an included artifact could not be copied)
    ├── StorageOperationError      ArchiveOperationFailed (packaging or storing failed)
    └── VerificationError          VerificationError (keys secret unusable)
        ├── InvalidModeError       InvalidVerificationMode
        ├── InvalidGitObjectError  InvalidGitObject (nothing signed to verify)
        ├── InvalidTagSignatureError     InvalidTagSignature
        └── InvalidCommitSignatureError  InvalidCommitSignature

dulwich, urllib3 and ssh failures are translated into this tree only in
``translate`` below (``translating`` applies it to a block), so messages are
readable and never contain secrets.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
from collections.abc import Iterator
from typing import ClassVar

import dulwich.client
import dulwich.errors
import socks
import urllib3.exceptions

from controllers.source.git import socksrelay
from shared.api import source_conditions


class GitError(Exception):
    """A Git source operation failed; ``reason`` is the Flux condition reason."""

    reason: ClassVar[str] = source_conditions.GIT_OPERATION_FAILED_REASON
    stalling: ClassVar[bool] = False
    """True when retrying cannot help until the spec (not the remote) changes."""


class InvalidUrlError(GitError):
    reason = source_conditions.URL_INVALID_REASON
    stalling = True


class AuthError(GitError):
    reason = source_conditions.AUTHENTICATION_FAILED_REASON


class GitOperationError(GitError):
    reason = source_conditions.GIT_OPERATION_FAILED_REASON


class UnreachableError(GitOperationError):
    pass


class GitTimeoutError(GitOperationError):
    pass


class RefNotFoundError(GitOperationError):
    pass


class EmptyRepositoryError(GitError):
    reason = source_conditions.EMPTY_GIT_REPOSITORY_REASON


class IllegalPathError(GitError):
    reason = source_conditions.ILLEGAL_PATH_REASON
    stalling = True


class CopyError(GitError):
    reason = source_conditions.COPY_FAILURE_REASON


class StorageOperationError(GitError):
    reason = source_conditions.ARCHIVE_OPERATION_FAILED_REASON


class VerificationError(GitError):
    reason = source_conditions.VERIFICATION_ERROR_REASON


class InvalidModeError(VerificationError):
    reason = source_conditions.INVALID_VERIFICATION_MODE_REASON
    stalling = True


class InvalidGitObjectError(VerificationError):
    reason = source_conditions.INVALID_GIT_OBJECT_REASON


class InvalidTagSignatureError(VerificationError):
    reason = source_conditions.INVALID_TAG_SIGNATURE_REASON


class InvalidCommitSignatureError(VerificationError):
    reason = source_conditions.INVALID_COMMIT_SIGNATURE_REASON


_SSH_AUTH_MARKERS = (
    "permission denied",
    "host key verification failed",
    "no matching host key",
    socksrelay.AUTH_FAILED.lower(),
)
_SSH_UNREACHABLE_MARKERS = (
    "through the socks5 proxy",
    "connection refused",
    "could not resolve hostname",
    "connection timed out",
    "no route to host",
    "connection closed by",
    "connection reset",
)


def _ssh_detail(exc: dulwich.errors.HangupException) -> str:
    lines = [line.decode("utf-8", "replace").strip() for line in exc.stderr_lines or []]
    return "; ".join(line for line in lines if line)


def translate(exc: BaseException, *, url: str) -> GitError:
    """Map a dulwich/urllib3/OS error raised while talking to ``url`` to a GitError.

    The returned error is meant to be raised ``from exc``. ``url`` must already
    be free of credentials (``transports.redact``).
    """
    if isinstance(exc, GitError):
        return exc
    if isinstance(exc, dulwich.client.HTTPUnauthorized):
        return AuthError(f"authentication to {url} failed: the server answered 401 Unauthorized")
    if isinstance(exc, dulwich.client.HTTPProxyUnauthorized):
        return AuthError(
            f"proxy authentication for {url} failed: 407 Proxy Authentication Required"
        )
    if isinstance(exc, dulwich.errors.HangupException):
        detail = _ssh_detail(exc)
        lowered = detail.lower()
        if any(marker in lowered for marker in _SSH_AUTH_MARKERS):
            return AuthError(f"ssh authentication to {url} failed: {detail}")
        if any(marker in lowered for marker in _SSH_UNREACHABLE_MARKERS):
            return UnreachableError(f"cannot reach {url}: {detail}")
        return GitOperationError(f"the remote {url} hung up: {detail or 'no details'}")
    if isinstance(exc, dulwich.errors.NotGitRepository):
        return GitOperationError(f"{url} is not a Git repository")
    if isinstance(exc, urllib3.exceptions.MaxRetryError) and exc.reason is not None:
        return translate(exc.reason, url=url)
    if isinstance(exc, urllib3.exceptions.NewConnectionError) and _socks_auth_failed(exc):
        return AuthError(f"SOCKS5 proxy authentication for {url} failed: {exc}")
    if isinstance(exc, urllib3.exceptions.ProxyError):
        return UnreachableError(f"cannot reach {url} through the proxy: {exc.original_error}")
    if isinstance(exc, (urllib3.exceptions.SSLError, ssl.SSLError)):
        return UnreachableError(f"TLS handshake with {url} failed: {exc}")
    # NB: urllib3's NewConnectionError subclasses its TimeoutError; test it first.
    if isinstance(exc, (urllib3.exceptions.NewConnectionError, ConnectionError, socket.gaierror)):
        return UnreachableError(f"cannot reach {url}: {_connection_detail(exc)}")
    if isinstance(exc, (urllib3.exceptions.TimeoutError, TimeoutError, socket.timeout)):
        return GitTimeoutError(f"timed out talking to {url}")
    if isinstance(exc, urllib3.exceptions.HTTPError):
        return UnreachableError(f"HTTP error talking to {url}: {exc}")
    if isinstance(exc, dulwich.errors.GitProtocolError):
        # dulwich wraps transport failures (refused, TLS, timeouts) in a
        # GitProtocolError; the cause says what really happened.
        cause = exc.__cause__ or exc.__context__
        if cause is not None and not isinstance(cause, dulwich.errors.GitProtocolError):
            translated = translate(cause, url=url)
            if type(translated) is not GitOperationError:
                return translated
        message = str(exc)
        if "not found" in message.lower() or "404" in message:
            return GitOperationError(f"repository {url} not found: {message}")
        return GitOperationError(f"git protocol error from {url}: {message}")
    return GitOperationError(f"git operation on {url} failed: {type(exc).__name__}: {exc}")


def _socks_auth_failed(exc: BaseException) -> bool:
    """PySocks' auth failure, as urllib3 chains it (its ProxyError's ``socket_err``)."""
    chained = exc.__cause__ or exc.__context__
    if isinstance(chained, socks.ProxyError) and chained.socket_err is not None:
        chained = chained.socket_err
    return isinstance(chained, socks.SOCKS5AuthError)


@contextlib.contextmanager
def translating(*, url: str) -> Iterator[None]:
    """Raise any failure of the block as a GitError (``translate``); GitErrors pass as they are."""
    try:
        yield
    except GitError:
        raise
    except Exception as exc:
        raise translate(exc, url=url) from exc


def _connection_detail(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    text = str(exc)
    if "Connection refused" in text:
        return "connection refused"
    return text
