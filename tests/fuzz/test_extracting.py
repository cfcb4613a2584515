"""Properties of archive extraction, whose input is an artifact downloaded from the network.

Generated archives are hostile: absolute names, ``..``, ``.`` and empty
components, backslashes, duplicate names, symlinks and hard links pointing
anywhere (inside, outside, absolute, through other links), device files and
FIFOs, pax headers that rename a member or its link, member counts and sizes
around small limits, and gzip streams cut short or with a byte flipped.

Properties: ``extract`` returns or raises ``ArchiveError`` (or a subclass),
never another exception; whatever happens, nothing outside the destination
changes (a sentinel directory next to it, reachable as ``../outside``, stays
as it was); after a success every entry resolves inside the destination, no
extracted file shares an inode with anything or holds the sentinel file's
content (a link cannot read outside either), and the counts respect the
limits. And an archive ``archiving.write_archive`` made extracts back to the
very tree it was made from.
"""

from __future__ import annotations

import dataclasses
import io
import os
import pathlib
import stat
import tempfile

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from shared.artifacts import archiving, errors, extracting
from tests.artifacts import tarballs
from tests.artifacts.tarballs import Member

pytestmark = pytest.mark.fuzz

LIMITS = extracting.Limits(max_total_size=4096, max_files=12)
SENTINEL = b"content of a file outside the destination"
_SEGMENTS = ["a", "b", "a", "..", ".", "", "a\\b", "c:"]
_KINDS = ["file", "file", "file", "dir", "symlink", "symlink", "hardlink", "chr", "blk", "fifo"]

names = st.builds(
    lambda absolute, parts: ("/" if absolute else "") + "/".join(parts),
    st.booleans(),
    st.lists(st.sampled_from(_SEGMENTS), min_size=1, max_size=4),
)
safe_names = st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=3).map("/".join)
targets = st.one_of(
    safe_names,
    names,
    st.sampled_from(["../outside", "../outside/sentinel", "/", "/etc/passwd", ".", ".."]),
)


@st.composite
def members(draw: st.DrawFn) -> Member:
    kind = draw(st.sampled_from(_KINDS))
    name = draw(st.one_of(safe_names, names))
    pax: dict[str, str] | None = None
    if draw(st.integers(0, 9)) == 0:
        pax = {draw(st.sampled_from(["path", "linkpath"])): draw(targets)}
    content = b""
    if kind == "file":
        content = draw(st.one_of(st.binary(max_size=64), st.just(b"x" * 3000)))
    target = draw(targets) if kind in ("symlink", "hardlink") else ""
    mode = draw(st.sampled_from([0o644, 0o755, 0o4777, 0o000]))
    return Member(name, kind=kind, content=content, target=target, mode=mode, pax=pax)


@dataclasses.dataclass(frozen=True)
class Damage:
    """How to spoil the gzip bytes: cut at ``cut`` (a fraction) and/or flip one byte."""

    cut: float | None
    flip: float | None

    def apply(self, data: bytes) -> bytes:
        if self.flip is not None and data:
            at = int(self.flip * (len(data) - 1))
            data = data[:at] + bytes([data[at] ^ 0x55]) + data[at + 1 :]
        if self.cut is not None:
            data = data[: int(self.cut * len(data))]
        return data


damages = st.one_of(
    st.just(Damage(None, None)),
    st.builds(Damage, st.floats(0, 1), st.none()),
    st.builds(Damage, st.none(), st.floats(0, 1)),
)


def _snapshot(root: pathlib.Path, skip: pathlib.Path) -> dict[str, tuple[int, int, bytes]]:
    """Every entry under ``root`` except ``skip``: (mode, inode, content or link target)."""
    seen: dict[str, tuple[int, int, bytes]] = {}
    for directory, subdirectories, files in os.walk(root):
        subdirectories[:] = [d for d in subdirectories if pathlib.Path(directory, d) != skip]
        for name in [*subdirectories, *files]:
            path = pathlib.Path(directory, name)
            info = os.lstat(path)
            if stat.S_ISLNK(info.st_mode):
                body = os.readlink(path).encode()
            elif stat.S_ISREG(info.st_mode):
                body = path.read_bytes()
            else:
                body = b""
            seen[str(path.relative_to(root))] = (info.st_mode, info.st_ino, body)
    return seen


def _assert_contained(out: pathlib.Path, result: extracting.ExtractResult) -> None:
    real_out = pathlib.Path(os.path.realpath(out))
    counted = 0
    for directory, subdirectories, files in os.walk(out):
        for name in [*subdirectories, *files]:
            path = pathlib.Path(directory, name)
            counted += 1
            assert pathlib.Path(os.path.realpath(path)).is_relative_to(real_out), path
            info = os.lstat(path)
            assert stat.S_IFMT(info.st_mode) in (stat.S_IFREG, stat.S_IFDIR, stat.S_IFLNK), path
            if stat.S_ISREG(info.st_mode):
                assert info.st_nlink == 1, f"{path} shares its inode"
                assert path.read_bytes() != SENTINEL, f"{path} copies a file outside"
                assert not info.st_mode & (stat.S_ISUID | stat.S_ISGID), path
    assert result.total_size <= LIMITS.max_total_size
    assert result.files + result.directories + result.symlinks <= LIMITS.max_files
    assert counted <= LIMITS.max_files


@given(entries=st.lists(members(), max_size=14), damage=damages)
@example(
    entries=[
        Member("self", kind="symlink", target="."),
        Member("self/up", kind="symlink", target="../outside"),
    ],
    damage=Damage(None, None),
)
@example(
    entries=[Member("ok", content=b"x", pax={"path": "../outside/sentinel"})],
    damage=Damage(None, None),
)
@example(
    entries=[Member("link", kind="symlink", target="../outside"), Member("link/f", content=b"x")],
    damage=Damage(None, None),
)
@example(entries=[Member("a", content=b"x" * 3000)] * 2, damage=Damage(0.5, None))
def test_hostile_archives_extract_inside_or_raise_archive_error(
    entries: list[Member], damage: Damage
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        workspace = pathlib.Path(directory)
        (workspace / "outside").mkdir()
        (workspace / "outside/sentinel").write_bytes(SENTINEL)
        archive = workspace / "in.tar.gz"
        archive.write_bytes(damage.apply(tarballs.build(*entries)))
        out = workspace / "out"
        before = _snapshot(workspace, skip=out)
        try:
            result = extracting.extract(archive, out, limits=LIMITS)
        except errors.ArchiveError:
            result = None
        assert _snapshot(workspace, skip=out) == before
        if result is not None:
            _assert_contained(out, result)


files_trees = st.dictionaries(
    st.lists(st.sampled_from(["a", "b", "c.yaml", ".hidden", "dé"]), min_size=1, max_size=4).map(
        "/".join
    ),
    st.tuples(st.binary(max_size=200), st.booleans()),
    max_size=10,
)


@given(tree=files_trees)
def test_archives_written_here_extract_to_the_same_tree(
    tree: dict[str, tuple[bytes, bool]],
) -> None:
    # A path that is also another path's directory stays a directory.
    tree = {
        path: value
        for path, value in tree.items()
        if not any(other.startswith(path + "/") for other in tree)
    }
    with tempfile.TemporaryDirectory() as directory:
        source = pathlib.Path(directory, "source")
        source.mkdir()
        for name, (content, executable) in tree.items():
            path = source / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
            path.chmod(0o755 if executable else 0o644)
        buffer = io.BytesIO()
        archiving.write_archive(source, buffer)
        archive = pathlib.Path(directory, "a.tar.gz")
        archive.write_bytes(buffer.getvalue())
        out = pathlib.Path(directory, "out")
        result = extracting.extract(archive, out)
        extracted = {
            str(path.relative_to(out)): (path.read_bytes(), bool(path.stat().st_mode & 0o100))
            for path in out.rglob("*")
            if path.is_file()
        }
        assert extracted == tree
        assert result.files == len(tree)
        assert result.total_size == sum(len(content) for content, _ in tree.values())
