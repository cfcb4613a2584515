"""OCI content digests: ``<algorithm>:<hex>``, computed while bytes stream past.

sha256 is what this package computes for content it pushes; sha256 and
sha512 (the algorithms the OCI image spec registers) are accepted when
verifying what a registry serves. Verification compares in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Final

from shared.oci import errors

CANONICAL: Final = "sha256"
_HEX_LENGTHS: Final = {"sha256": 64, "sha512": 128}
_DIGEST_RE: Final = re.compile(r"([a-z0-9]+):([0-9a-f]+)")


def parse(digest: str) -> tuple[str, str]:
    """Split a digest into (algorithm, hex); ``InvalidDigestError`` when it is not valid."""
    match = _DIGEST_RE.fullmatch(digest)
    if match is None:
        raise errors.InvalidDigestError(f"invalid digest {digest!r}: want <algorithm>:<hex>")
    algorithm, hexdigest = match.groups()
    length = _HEX_LENGTHS.get(algorithm)
    if length is None:
        raise errors.InvalidDigestError(f"unsupported digest algorithm in {digest!r}")
    if len(hexdigest) != length:
        raise errors.InvalidDigestError(f"invalid digest {digest!r}: wrong length")
    return algorithm, hexdigest


def is_digest(reference: str) -> bool:
    """Whether a manifest reference is a digest (rather than a tag)."""
    return ":" in reference


def of(data: bytes, algorithm: str = CANONICAL) -> str:
    """The digest of ``data``."""
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


def verify(data: bytes, expected: str, *, subject: str) -> None:
    """``DigestMismatchError`` unless ``data`` has the digest ``expected``."""
    algorithm, _ = parse(expected)
    actual = of(data, algorithm)
    if not hmac.compare_digest(actual, expected):
        raise errors.DigestMismatchError(subject=subject, expected=expected, actual=actual)


class Verifier:
    """Hashes chunks as they pass and checks the total against an expected digest."""

    def __init__(self, expected: str, *, subject: str) -> None:
        self._algorithm, _ = parse(expected)
        self._hasher = hashlib.new(self._algorithm)
        self.expected = expected
        self.subject = subject
        self.size = 0

    def update(self, chunk: bytes) -> None:
        self._hasher.update(chunk)
        self.size += len(chunk)

    def check(self) -> None:
        """``DigestMismatchError`` unless everything passed so far has the expected digest."""
        actual = f"{self._algorithm}:{self._hasher.hexdigest()}"
        if not hmac.compare_digest(actual, self.expected):
            raise errors.DigestMismatchError(
                subject=self.subject, expected=self.expected, actual=actual
            )
