"""Image and repository references: ``[host[:port]/]path[:tag][@digest]``.

``parse`` reads what users write in ``OCIRepository.spec.url`` (with its
``oci://`` prefix), ``HelmRepository`` OCI URLs and ``ImageRepository.spec.image``,
and normalizes it as Docker does: a first component with a dot or a colon,
or ``localhost``, is a registry host; otherwise the host is ``docker.io``
and a one-component path gets the ``library/`` prefix. ``api_host`` is where
Docker Hub's API actually lives. Pure parsing: no I/O.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Final

from shared.oci import digests, errors

DOCKER_HUB: Final = "docker.io"
DOCKER_HUB_API: Final = "registry-1.docker.io"
_COMPONENT_RE: Final = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_TAG_RE: Final = re.compile(r"[\w][\w.-]{0,127}")
_HOST_RE: Final = re.compile(r"[A-Za-z0-9.-]+(?::[0-9]+)?|\[[0-9A-Fa-f:]+\](?::[0-9]+)?")


@dataclasses.dataclass(frozen=True)
class Reference:
    """A parsed reference; ``tag`` and ``digest`` are empty when not given."""

    host: str
    repository: str
    tag: str = ""
    digest: str = ""

    @property
    def api_host(self) -> str:
        """The host to send registry API requests to."""
        return DOCKER_HUB_API if self.host == DOCKER_HUB else self.host

    @property
    def identifier(self) -> str:
        """What to ask the manifest endpoint for: the digest when given, else the tag."""
        return self.digest or self.tag

    def __str__(self) -> str:
        tag = f":{self.tag}" if self.tag else ""
        digest = f"@{self.digest}" if self.digest else ""
        return f"{self.host}/{self.repository}{tag}{digest}"


def parse(text: str) -> Reference:
    """Parse a reference; ``InvalidReferenceError`` naming what is wrong."""
    rest = text.removeprefix("oci://")
    rest, _, digest = rest.partition("@")
    if digest:
        try:
            digests.parse(digest)
        except errors.InvalidDigestError as exc:
            raise errors.InvalidReferenceError(f"invalid reference {text!r}: {exc}") from exc
    name, tag = rest, ""
    colon = rest.rfind(":")
    if colon > rest.rfind("/"):
        name, tag = rest[:colon], rest[colon + 1 :]
        if not _TAG_RE.fullmatch(tag):
            raise errors.InvalidReferenceError(f"invalid reference {text!r}: bad tag {tag!r}")
    first, slash, remainder = name.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        if not _HOST_RE.fullmatch(first):
            raise errors.InvalidReferenceError(f"invalid reference {text!r}: bad host {first!r}")
        host, path = first, remainder
    else:
        host, path = DOCKER_HUB, name
    if host == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    if not path or not all(_COMPONENT_RE.fullmatch(part) for part in path.split("/")):
        raise errors.InvalidReferenceError(
            f"invalid reference {text!r}: repository names are lower-case components "
            "separated by '/'"
        )
    return Reference(host=host, repository=path, tag=tag, digest=digest)
