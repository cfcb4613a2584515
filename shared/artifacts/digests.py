"""Content digests in the ``<algorithm>:<hex>`` form Flux writes to ``Artifact.digest``.

sha256 is what Headwater produces (``CANONICAL``); sha384 and sha512 are
accepted when verifying, as Flux's OCI digest library accepts them. Hashing
happens while bytes are written or read (``DigestingWriter``,
``file_digest``), so no file is read twice and memory stays bounded by the
chunk size.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from typing import IO, Final

from shared.artifacts import errors

CANONICAL: Final = "sha256"
"""The algorithm of every digest Headwater computes for its own artifacts."""

_HEX_LENGTHS: Final = {"sha256": 64, "sha384": 96, "sha512": 128}
_DIGEST_RE: Final = re.compile(r"([a-z0-9]+):([0-9a-f]+)")
CHUNK_SIZE: Final = 1 << 20


def format_digest(algorithm: str, hexdigest: str) -> str:
    """Return ``algorithm:hexdigest`` (for example ``sha256:ab…``)."""
    return f"{algorithm}:{hexdigest}"


def parse_digest(digest: str) -> tuple[str, str]:
    """Split and validate a digest string into (algorithm, lowercase hex).

    Raises InvalidDigestError for an unknown algorithm, a malformed string or
    a hex part of the wrong length.
    """
    # NB: fullmatch, not ``$``, which also matches before a trailing newline.
    match = _DIGEST_RE.fullmatch(digest)
    if match is None:
        raise errors.InvalidDigestError(f"invalid digest {digest!r}: want <algorithm>:<hex>")
    algorithm, hexdigest = match.groups()
    expected_length = _HEX_LENGTHS.get(algorithm)
    if expected_length is None:
        supported = ", ".join(sorted(_HEX_LENGTHS))
        raise errors.InvalidDigestError(
            f"unsupported digest algorithm {algorithm!r} in {digest!r} (supported: {supported})"
        )
    if len(hexdigest) != expected_length:
        raise errors.InvalidDigestError(
            f"invalid digest {digest!r}: {algorithm} needs {expected_length} hex characters"
        )
    return algorithm, hexdigest


def new_hasher(algorithm: str = CANONICAL) -> hashlib._Hash:
    """Return a fresh hashlib object for a supported algorithm."""
    if algorithm not in _HEX_LENGTHS:
        raise errors.InvalidDigestError(f"unsupported digest algorithm {algorithm!r}")
    return hashlib.new(algorithm)


def file_digest(path: str | os.PathLike[str], algorithm: str = CANONICAL) -> str:
    """Digest of a file's content, read in chunks."""
    hasher = new_hasher(algorithm)
    try:
        with open(path, "rb") as stream:
            while chunk := stream.read(CHUNK_SIZE):
                hasher.update(chunk)
    except OSError as exc:
        raise errors.StorageError(f"reading {os.fspath(path)} for its digest: {exc}") from exc
    return format_digest(algorithm, hasher.hexdigest())


def matches(expected: str, actual: str) -> bool:
    """Constant-time comparison of two digest strings."""
    return hmac.compare_digest(expected.encode(), actual.encode())


def verify_file(path: str | os.PathLike[str], expected: str) -> None:
    """Raise DigestMismatchError unless the file's content has digest ``expected``."""
    algorithm, _ = parse_digest(expected)
    actual = file_digest(path, algorithm)
    if not matches(expected, actual):
        raise errors.DigestMismatchError(subject=os.fspath(path), expected=expected, actual=actual)


class DigestingWriter:
    """A write-only binary stream that hashes and counts what passes through.

    It forwards every write to ``target`` (which it does not own or close), so
    an archive can be written to disk and digested in one pass.
    """

    def __init__(self, target: IO[bytes], *, algorithm: str = CANONICAL) -> None:
        self._target = target
        self._hasher = new_hasher(algorithm)
        self._algorithm = algorithm
        self.size = 0

    def write(self, data: bytes) -> int:
        self._target.write(data)
        self._hasher.update(data)
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        self._target.flush()

    @property
    def digest(self) -> str:
        """The ``algorithm:hex`` digest of everything written so far."""
        return format_digest(self._algorithm, self._hasher.hexdigest())
