"""Flux revision strings and the commit facts events carry.

Formats (source-controller's, via fluxcd/pkg ``git.Commit``):

- a branch, tag or semver checkout: ``<short ref>@sha1:<commit>`` where the
  short ref drops ``refs/heads/`` or ``refs/tags/`` (``main@sha1:…``, ``v1.2.0@sha1:…``,
  ``feature/x@sha1:…``);
- ``spec.ref.name``: the full ref, ``refs/heads/x@sha1:…``, ``refs/pull/1/head@sha1:…``;
- a commit with no named ref: ``sha1:<commit>``.

For a tag the commit is the one the tag points at, never the tag object.
"""

from __future__ import annotations

import dataclasses
import re

SHA1_HEX = re.compile(r"[0-9a-f]{40}")
SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_SHORT_MESSAGE_RUNES = 50


def digest(commit: str) -> str:
    """``sha1:<hex>`` (or ``sha256:<hex>`` for a SHA-256 repository)."""
    algorithm = "sha256" if SHA256_HEX.fullmatch(commit) else "sha1"
    return f"{algorithm}:{commit}"


def short_ref(ref: str) -> str:
    """``refs/heads/main`` → ``main``; ``refs/pull/1/head`` → ``pull/1/head``; other input as is."""
    parts = ref.split("/", 2)
    return parts[2] if len(parts) == 3 and parts[0] == "refs" else ref


def format_revision(*, ref: str | None, commit: str, absolute: bool = False) -> str:
    """The revision for ``commit`` checked out through ``ref`` (a full ref or None).

    ``absolute`` keeps the full ref, as Flux does for ``spec.ref.name``.
    """
    if ref is None:
        return digest(commit)
    name = ref if absolute else short_ref(ref)
    return f"{name}@{digest(commit)}"


@dataclasses.dataclass(frozen=True)
class ParsedRevision:
    name: str | None
    algorithm: str
    commit: str


def parse_revision(revision: str) -> ParsedRevision | None:
    """Split a Flux revision; None when it is not one (for example a legacy ``main/<sha>``)."""
    name, _, checksum = revision.rpartition("@")
    algorithm, sep, commit = checksum.partition(":")
    hex_pattern = {"sha1": SHA1_HEX, "sha256": SHA256_HEX}.get(algorithm)
    # The algorithm fixes the hash length: ``sha1:<64 hex>`` is not a revision.
    if not sep or hex_pattern is None or not hex_pattern.fullmatch(commit):
        return None
    return ParsedRevision(name=name or None, algorithm=algorithm, commit=commit)


@dataclasses.dataclass(frozen=True)
class Signature:
    """Who made an object and when (seconds since the epoch, UTC offset in seconds)."""

    name: str
    email: str
    time: int
    offset: int

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"


@dataclasses.dataclass(frozen=True)
class CommitInfo:
    """The checked-out commit, as events and status messages describe it."""

    sha: str
    revision: str
    message: str
    author: Signature
    committer: Signature
    reference: str | None = None
    """The full ref the commit was reached through, if any."""

    @property
    def subject(self) -> str:
        """The first line of the message."""
        return self.message.split("\n", 1)[0].strip()

    @property
    def short_message(self) -> str:
        """The subject cut to 50 characters with ``...``, as Flux puts it in events."""
        subject = self.subject
        if len(subject) > _SHORT_MESSAGE_RUNES:
            return subject[:_SHORT_MESSAGE_RUNES] + "..."
        return subject

    def event_message(self) -> str:
        """Flux's NewArtifact event text: ``stored artifact for commit '<short message>'``."""
        return f"stored artifact for commit '{self.short_message}'"

    def event_metadata(self) -> dict[str, str]:
        """Key-values an event carries besides the message (revision, subject, author)."""
        return {
            "revision": self.revision,
            "commit.subject": self.subject,
            "commit.author": str(self.author),
        }
