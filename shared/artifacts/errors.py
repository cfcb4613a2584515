"""The errors ``shared.artifacts`` raises, and nothing else.

Every lower-level failure (``OSError``, ``tarfile.TarError``, ``zlib.error``,
``aiohttp.ClientError``) is translated into one of these where it happens,
chained with ``raise … from …``, so callers catch one tree::

    ArtifactError
    ├── InvalidDigestError        a digest string that is not <algorithm>:<hex>
    ├── DigestMismatchError       file content does not match the expected digest
    ├── IgnoreRulesError          a .sourceignore file could not be read
    ├── StorageError              storage layout or filesystem failure
    │   ├── InvalidArtifactPathError  a path that would leave the storage root
    │   └── LockTimeoutError      the per-object lock was not acquired in time
    ├── ArchiveError              an archive could not be written or read
    │   ├── UnsafeArchiveError    traversal, absolute path, escaping link, device file
    │   └── ArchiveLimitError     total size or file count over the limit
    └── FetchError                download failed after its retries
        └── ArtifactNotFoundError the server answered 404

Messages are meant for conditions and events: they name the offending path
or URL and never contain credentials.
"""

from __future__ import annotations


class ArtifactError(Exception):
    """Base of every error raised by ``shared.artifacts``."""


class InvalidDigestError(ArtifactError, ValueError):
    """A digest string is not ``<algorithm>:<hex>`` with a supported algorithm."""


class DigestMismatchError(ArtifactError):
    """The content's digest differs from the one expected."""

    def __init__(self, *, subject: str, expected: str, actual: str) -> None:
        super().__init__(f"digest mismatch for {subject}: expected {expected}, got {actual}")
        self.subject = subject
        self.expected = expected
        self.actual = actual


class IgnoreRulesError(ArtifactError):
    """An ignore file exists but could not be read."""


class StorageError(ArtifactError):
    """A storage operation (write, rename, remove, walk) failed."""


class InvalidArtifactPathError(StorageError, ValueError):
    """An artifact path or path component would escape the storage root."""


class LockTimeoutError(StorageError):
    """The per-object lock stayed held by someone else past the timeout."""


class ArchiveError(ArtifactError):
    """Writing or reading an archive failed (corrupt input, I/O error)."""


class UnsafeArchiveError(ArchiveError):
    """An archive member would write outside the target or is a device file."""

    def __init__(self, *, member: str, reason: str) -> None:
        super().__init__(f"unsafe archive member {member!r}: {reason}")
        self.member = member
        self.reason = reason


class ArchiveLimitError(ArchiveError):
    """An archive being written or extracted exceeds a size or count limit."""


class FetchError(ArtifactError):
    """Downloading an artifact failed (after retries, where retrying made sense)."""


class ArtifactNotFoundError(FetchError):
    """The artifact server answered 404 Not Found."""
