"""Safe extraction: hostile archives are refused with a clear error, nothing escapes."""

from __future__ import annotations

import gzip
import os
import pathlib
import stat

import pytest

from shared.artifacts import errors, extracting
from tests.artifacts import tarballs
from tests.artifacts.tarballs import Member


@pytest.fixture
def workspace(tmp_path: pathlib.Path) -> pathlib.Path:
    """A directory whose ``out`` subdirectory is the target; ``outside`` must stay empty."""
    (tmp_path / "outside").mkdir()
    return tmp_path


def _extract(
    workspace: pathlib.Path, data: bytes, limits: extracting.Limits | None = None
) -> extracting.ExtractResult:
    archive = workspace / "in.tar.gz"
    archive.write_bytes(data)
    return extracting.extract(archive, workspace / "out", limits=limits)


def _assert_outside_untouched(workspace: pathlib.Path) -> None:
    assert list((workspace / "outside").iterdir()) == []
    assert sorted(p.name for p in workspace.iterdir()) == ["in.tar.gz", "out", "outside"]


def test_regular_archive_extracts_with_normalised_modes(workspace: pathlib.Path) -> None:
    data = tarballs.build(
        Member("./", kind="dir"),
        Member("./app", kind="dir", mode=0o777),
        Member("./app/deploy.yaml", content=b"kind: Deployment\n", mode=0o4777),
        Member("./app/run.sh", content=b"#!/bin/sh\n", mode=0o700),
        Member("app/current", kind="symlink", target="deploy.yaml"),
        Member("app/copy.yaml", kind="hardlink", target="app/deploy.yaml"),
        Member("nested/implicit/parent.txt", content=b"x"),
    )
    result = _extract(workspace, data)
    out = workspace / "out"
    assert (out / "app/deploy.yaml").read_bytes() == b"kind: Deployment\n"
    assert stat.S_IMODE((out / "app/deploy.yaml").stat().st_mode) == 0o755  # setuid dropped
    assert stat.S_IMODE((out / "app/run.sh").stat().st_mode) == 0o755
    assert stat.S_IMODE((out / "app").stat().st_mode) == 0o755
    assert os.readlink(out / "app/current") == "deploy.yaml"
    assert (out / "app/copy.yaml").read_bytes() == b"kind: Deployment\n"
    assert not (out / "app/copy.yaml").samefile(out / "app/deploy.yaml")
    assert (out / "nested/implicit/parent.txt").read_bytes() == b"x"
    assert result == extracting.ExtractResult(files=4, directories=1, symlinks=1, total_size=45)


@pytest.mark.parametrize(
    ("members", "fragment"),
    [
        ([Member("../evil", content=b"x")], "path contains '..'"),
        ([Member("ok/../../evil", content=b"x")], "path contains '..'"),
        ([Member("/etc/evil", content=b"x")], "absolute path"),
        ([Member("C:/evil", content=b"x")], "absolute path"),
        ([Member("link", kind="symlink", target="/etc")], "symlink to absolute path"),
        ([Member("link", kind="symlink", target="../outside")], "leaves the root"),
        ([Member("a/b/link", kind="symlink", target="../../../outside")], "leaves the root"),
        (
            [
                Member("self", kind="symlink", target="."),
                Member("self/up", kind="symlink", target="../outside"),
            ],
            "leaves the root",
        ),
        ([Member("hard", kind="hardlink", target="/etc/passwd")], "absolute path"),
        ([Member("hard", kind="hardlink", target="../outside/f")], "path contains '..'"),
        ([Member("hard", kind="hardlink", target="missing")], "is not an extracted file"),
        ([Member("dev", kind="chr")], "device file"),
        ([Member("disk", kind="blk")], "device file"),
        ([Member("pipe", kind="fifo")], "FIFO"),
    ],
    ids=[
        "dotdot",
        "nested-dotdot",
        "absolute",
        "drive-letter",
        "symlink-absolute",
        "symlink-up",
        "symlink-deep-up",
        "symlink-through-symlink",
        "hardlink-absolute",
        "hardlink-up",
        "hardlink-missing",
        "char-device",
        "block-device",
        "fifo",
    ],
)
def test_hostile_members_are_refused(
    workspace: pathlib.Path, members: list[Member], fragment: str
) -> None:
    with pytest.raises(errors.UnsafeArchiveError, match=fragment):
        _extract(workspace, tarballs.build(*members))
    _assert_outside_untouched(workspace)


def test_symlink_redirected_by_later_link_is_refused(workspace: pathlib.Path) -> None:
    data = tarballs.build(
        Member("l", kind="symlink", target="x/y/../.."),  # x/y missing: resolves to the root
        Member("x", kind="symlink", target="."),  # now l = ./y/../.. = the root's parent
    )
    with pytest.raises(errors.UnsafeArchiveError, match=r"'l'.*leaves the root"):
        _extract(workspace, data)
    _assert_outside_untouched(workspace)


def test_write_through_a_dangling_link_is_refused(workspace: pathlib.Path) -> None:
    data = tarballs.build(
        Member("l", kind="symlink", target="x/y/../.."),  # x is missing: the root, lexically
        Member("x", kind="symlink", target="."),  # now l would be the root's parent
        Member("l/outside/evil.txt", content=b"escaped"),
    )
    with pytest.raises(errors.UnsafeArchiveError):
        _extract(workspace, data)
    _assert_outside_untouched(workspace)


def test_member_under_a_file_is_refused(workspace: pathlib.Path) -> None:
    data = tarballs.build(Member("f", content=b"x"), Member("f/g", content=b"y"))
    with pytest.raises(errors.UnsafeArchiveError, match="not a directory"):
        _extract(workspace, data)


def test_writing_through_an_inside_symlink_stays_inside(workspace: pathlib.Path) -> None:
    data = tarballs.build(
        Member("real", kind="dir"),
        Member("alias", kind="symlink", target="real"),
        Member("alias/file.txt", content=b"ok"),
    )
    _extract(workspace, data)
    assert (workspace / "out/real/file.txt").read_bytes() == b"ok"


def test_file_replacing_a_symlink_does_not_write_through_it(workspace: pathlib.Path) -> None:
    (workspace / "outside" / "victim").write_bytes(b"original")
    data = tarballs.build(
        Member("inside", content=b"x"),
        Member("link", kind="symlink", target="inside"),
        Member("link", content=b"replaced"),
    )
    _extract(workspace, data)
    assert not (workspace / "out/link").is_symlink()
    assert (workspace / "out/link").read_bytes() == b"replaced"
    assert (workspace / "out/inside").read_bytes() == b"x"


def test_total_size_limit(workspace: pathlib.Path) -> None:
    data = tarballs.build(Member("a", content=b"x" * 600), Member("b", content=b"y" * 600))
    with pytest.raises(errors.ArchiveLimitError, match=r"exceeds 1000 bytes \(at member 'b'\)"):
        _extract(workspace, data, extracting.Limits(max_total_size=1000))


def test_oversize_member_is_refused_before_writing(workspace: pathlib.Path) -> None:
    data = tarballs.build(Member("big", content=b"\0" * 5_000_000))
    assert len(data) < 10_000  # a small download that would expand a thousandfold
    with pytest.raises(errors.ArchiveLimitError, match="at member 'big'"):
        _extract(workspace, data, extracting.Limits(max_total_size=1_000_000))
    assert not (workspace / "out/big").exists()


def test_file_count_limit(workspace: pathlib.Path) -> None:
    data = tarballs.build(*(Member(f"f{i}") for i in range(4)))
    with pytest.raises(errors.ArchiveLimitError, match="more than 3 entries"):
        _extract(workspace, data, extracting.Limits(max_files=3))


def test_huge_pax_header_hits_the_decompression_budget(workspace: pathlib.Path) -> None:
    data = tarballs.build(Member("a", content=b"x", pax={"comment": "z" * 200_000}))
    with pytest.raises(errors.ArchiveLimitError, match="decompresses to more than"):
        _extract(workspace, data, extracting.Limits(max_total_size=1000, max_files=10))


def test_corrupt_gzip_is_archive_error(workspace: pathlib.Path) -> None:
    with pytest.raises(errors.ArchiveError, match="reading archive"):
        _extract(workspace, b"\x1f\x8b\x08\x00garbage")


def test_truncated_archive_is_archive_error(workspace: pathlib.Path) -> None:
    data = tarballs.build(Member("a", content=os.urandom(50_000)))
    with pytest.raises(errors.ArchiveError):
        _extract(workspace, gzip.compress(gzip.decompress(data)[:20_000]))


def test_directory_cannot_replace_a_file(workspace: pathlib.Path) -> None:
    data = tarballs.build(Member("x", content=b""), Member("x", kind="dir"))
    with pytest.raises(errors.UnsafeArchiveError, match="existing non-directory"):
        _extract(workspace, data)


def test_non_empty_target_is_refused(workspace: pathlib.Path) -> None:
    (workspace / "out").mkdir()
    (workspace / "out" / "existing").write_text("x")
    with pytest.raises(errors.ArchiveError, match="not empty"):
        _extract(workspace, tarballs.build(Member("a")))
