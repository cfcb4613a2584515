"""Manifests and descriptors as plain values.

``Manifest`` keeps the exact bytes the registry served (their digest is the
manifest's identity, so they are never re-serialized) and parses them once
on demand. An image manifest has a ``config`` and ``layers``; an image index
(or Docker manifest list) has ``manifests``, each a descriptor with an
optional ``platform`` that ``Manifest.children`` returns and the caller
resolves with another manifest GET by digest.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from typing import Any

from shared.oci import errors, mediatypes


@dataclasses.dataclass(frozen=True)
class Descriptor:
    """What the OCI spec calls a descriptor: media type, digest and size of content."""

    media_type: str
    digest: str
    size: int
    annotations: dict[str, str] = dataclasses.field(default_factory=dict)
    platform: dict[str, Any] | None = None
    artifact_type: str | None = None

    @classmethod
    def from_json(cls, raw: Any, *, subject: str) -> Descriptor:
        """Parse a descriptor object; ``InvalidContentError`` when a field is missing."""
        try:
            return cls(
                media_type=str(raw["mediaType"]),
                digest=str(raw["digest"]),
                size=int(raw["size"]),
                annotations=dict(raw.get("annotations") or {}),
                platform=raw.get("platform"),
                artifact_type=raw.get("artifactType"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise errors.InvalidContentError(f"{subject}: invalid descriptor {raw!r}") from exc

    def to_json(self) -> dict[str, Any]:
        """The descriptor as it appears in a manifest."""
        out: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": self.size,
        }
        if self.annotations:
            out["annotations"] = self.annotations
        if self.platform is not None:
            out["platform"] = self.platform
        if self.artifact_type is not None:
            out["artifactType"] = self.artifact_type
        return out


@dataclasses.dataclass(frozen=True)
class Manifest:
    """A manifest or index as served: its media type, digest and exact bytes."""

    media_type: str
    digest: str
    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def descriptor(self) -> Descriptor:
        return Descriptor(media_type=self.media_type, digest=self.digest, size=self.size)

    @property
    def is_index(self) -> bool:
        """Whether this is an image index or Docker manifest list."""
        return self.media_type in mediatypes.INDEXES

    @functools.cached_property
    def document(self) -> dict[str, Any]:
        """The parsed JSON; ``InvalidContentError`` when it is not a JSON object."""
        try:
            parsed = json.loads(self.data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise errors.InvalidContentError(f"manifest {self.digest} is not JSON") from exc
        if not isinstance(parsed, dict):
            raise errors.InvalidContentError(f"manifest {self.digest} is not a JSON object")
        return parsed

    @property
    def annotations(self) -> dict[str, str]:
        return dict(self.document.get("annotations") or {})

    @property
    def config(self) -> Descriptor:
        """An image manifest's config descriptor."""
        self._expect(index=False)
        return Descriptor.from_json(self.document.get("config"), subject=self._subject)

    @property
    def layers(self) -> list[Descriptor]:
        """An image manifest's layer descriptors, in order."""
        self._expect(index=False)
        return [Descriptor.from_json(raw, subject=self._subject) for raw in self._list("layers")]

    @property
    def children(self) -> list[Descriptor]:
        """An index's manifest descriptors, in order (each may carry a ``platform``)."""
        self._expect(index=True)
        return [Descriptor.from_json(raw, subject=self._subject) for raw in self._list("manifests")]

    @property
    def _subject(self) -> str:
        return f"manifest {self.digest}"

    def _list(self, key: str) -> list[Any]:
        value = self.document.get(key) or []
        if not isinstance(value, list):
            raise errors.InvalidContentError(f"{self._subject}: {key} is not a list")
        return value

    def _expect(self, *, index: bool) -> None:
        if self.is_index != index:
            want = "an image index" if index else "an image manifest"
            raise errors.InvalidContentError(f"{self._subject} ({self.media_type}) is not {want}")


def image_manifest(
    *,
    config: Descriptor,
    layers: list[Descriptor],
    annotations: dict[str, str] | None = None,
    artifact_type: str | None = None,
    subject: Descriptor | None = None,
) -> bytes:
    """The bytes of an OCI image manifest (for pushing); ``subject``: what it refers to."""
    document: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": mediatypes.OCI_MANIFEST,
        "config": config.to_json(),
        "layers": [layer.to_json() for layer in layers],
    }
    if artifact_type is not None:
        document["artifactType"] = artifact_type
    if subject is not None:
        document["subject"] = subject.to_json()
    if annotations:
        document["annotations"] = annotations
    return json.dumps(document, separators=(",", ":")).encode()


def image_index(manifests: list[Descriptor], *, annotations: dict[str, str] | None = None) -> bytes:
    """The bytes of an OCI image index over ``manifests`` (for pushing)."""
    document: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": mediatypes.OCI_INDEX,
        "manifests": [manifest.to_json() for manifest in manifests],
    }
    if annotations:
        document["annotations"] = annotations
    return json.dumps(document, separators=(",", ":")).encode()
