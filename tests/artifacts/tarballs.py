"""Crafting tar.gz archives member by member, including hostile ones, for tests."""

from __future__ import annotations

import dataclasses
import io
import tarfile


@dataclasses.dataclass(frozen=True)
class Member:
    """One entry to write: ``kind`` is file, dir, symlink, hardlink, chr, blk or fifo."""

    name: str
    kind: str = "file"
    content: bytes = b""
    target: str = ""
    mode: int = 0o644
    pax: dict[str, str] | None = None


_TYPES = {
    "file": tarfile.REGTYPE,
    "dir": tarfile.DIRTYPE,
    "symlink": tarfile.SYMTYPE,
    "hardlink": tarfile.LNKTYPE,
    "chr": tarfile.CHRTYPE,
    "blk": tarfile.BLKTYPE,
    "fifo": tarfile.FIFOTYPE,
}


def build(*members: Member) -> bytes:
    """A gzip-compressed tar with exactly these members, names unaltered."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT) as archive:
        for member in members:
            info = tarfile.TarInfo(member.name)
            info.type = _TYPES[member.kind]
            info.mode = member.mode
            info.linkname = member.target
            if member.pax:
                info.pax_headers = dict(member.pax)
            if member.kind == "file":
                info.size = len(member.content)
                archive.addfile(info, io.BytesIO(member.content))
            else:
                archive.addfile(info)
    return buffer.getvalue()
