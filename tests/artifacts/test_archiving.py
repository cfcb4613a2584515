"""Deterministic tar.gz: same tree, same bytes; normalised headers; filters applied."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pathlib
import subprocess
import tarfile

import pytest

from shared.artifacts import archiving, digests, errors, ignoring


def _tree(root: pathlib.Path, files: dict[str, bytes]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


FILES = {
    "kustomization.yaml": b"resources: [apps]\n",
    "apps/deployment.yaml": b"kind: Deployment\n",
    "apps/service.yaml": b"kind: Service\n",
    "apps.yaml": b"kind: List\n",
    "scripts/run.sh": b"#!/bin/sh\necho hi\n",
    "empty": b"",
}


def _archive(
    root: pathlib.Path, *, exclude: archiving.PathFilter | None = None
) -> tuple[bytes, archiving.ArchiveResult]:
    buffer = io.BytesIO()
    result = archiving.write_archive(root, buffer, exclude=exclude)
    return buffer.getvalue(), result


def _members(data: bytes) -> list[tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        return archive.getmembers()


def test_same_tree_gives_same_bytes_whatever_times_modes_and_location(
    tmp_path: pathlib.Path,
) -> None:
    first, second = tmp_path / "one", tmp_path / "two"
    _tree(first, FILES)
    _tree(second, dict(reversed(FILES.items())))  # created in a different order
    (first / "scripts/run.sh").chmod(0o755)
    (second / "scripts/run.sh").chmod(0o711)
    os.utime(second / "apps/service.yaml", (1_000_000, 1_000_000))
    (second / "apps.yaml").chmod(0o666)
    one, one_result = _archive(first)
    two, two_result = _archive(second)
    assert one == two
    assert (
        one_result.digest
        == two_result.digest
        == digests.format_digest("sha256", hashlib.sha256(one).hexdigest())
    )
    assert one_result.size == len(one)


@pytest.mark.parametrize(
    "change",
    [
        lambda root: (root / "apps/service.yaml").write_bytes(b"kind: Service \n"),
        lambda root: (root / "apps.yaml").chmod(0o755),
        lambda root: (root / "apps/new").mkdir(),
        lambda root: (root / "apps/service.yaml").rename(root / "apps/svc.yaml"),
    ],
    ids=["content", "executable-bit", "empty-directory", "rename"],
)
def test_any_meaningful_change_changes_the_digest(tmp_path: pathlib.Path, change: object) -> None:
    _tree(tmp_path, FILES)
    _, before = _archive(tmp_path)
    change(tmp_path)  # type: ignore[operator]
    _, after = _archive(tmp_path)
    assert before.digest != after.digest


def test_headers_are_normalised_and_sorted(tmp_path: pathlib.Path) -> None:
    _tree(tmp_path, FILES)
    (tmp_path / "scripts/run.sh").chmod(0o755)
    data, result = _archive(tmp_path)
    members = _members(data)
    assert [m.name for m in members] == [
        "apps",
        "apps/deployment.yaml",
        "apps/service.yaml",
        "apps.yaml",
        "empty",
        "kustomization.yaml",
        "scripts",
        "scripts/run.sh",
    ]
    modes = {m.name: m.mode for m in members}
    assert modes["apps"] == 0o750
    assert modes["apps.yaml"] == 0o600
    assert modes["scripts/run.sh"] == 0o700
    assert {(m.mtime, m.uid, m.gid, m.uname, m.gname) for m in members} == {(0, 0, 0, "", "")}
    assert (result.files, result.directories) == (6, 2)
    # gzip header: no file name flag, mtime 0
    assert data[3] == 0
    assert data[4:8] == b"\0\0\0\0"


def test_symlinks_and_fifos_are_skipped(tmp_path: pathlib.Path) -> None:
    _tree(tmp_path, {"real.yaml": b"x"})
    (tmp_path / "link.yaml").symlink_to("real.yaml")
    (tmp_path / "escape").symlink_to("/etc")
    os.mkfifo(tmp_path / "pipe")
    data, _ = _archive(tmp_path)
    assert [m.name for m in _members(data)] == ["real.yaml"]


def test_excluded_directories_are_not_descended(tmp_path: pathlib.Path) -> None:
    _tree(tmp_path, {".git/config": b"", ".git/objects/ab/cd": b"", "a.yaml": b"", "logo.png": b""})
    seen: list[tuple[str, bool]] = []
    matcher = ignoring.Matcher(ignoring.default_patterns())

    def exclude(path: str, is_dir: bool) -> bool:
        seen.append((path, is_dir))
        return matcher(path, is_dir)

    data, _ = _archive(tmp_path, exclude=exclude)
    assert [m.name for m in _members(data)] == ["a.yaml"]
    assert (".git", True) in seen
    assert all(not path.startswith(".git/") for path, _ in seen)


def test_long_and_unicode_names_round_trip_through_gnu_tar(tmp_path: pathlib.Path) -> None:
    source = tmp_path / "src"
    long_dir = "d" * 120
    names = {
        "a" * 100: b"exactly 100",
        f"{long_dir}/{'f' * 90}.yaml": b"prefix split",
        f"{'x' * 200}/{'y' * 150}": b"needs pax",
        "häuser/ünïcode.yaml": b"pax path",
    }
    _tree(source, names)
    data, _ = _archive(source)
    (tmp_path / "out.tgz").write_bytes(data)
    target = tmp_path / "out"
    target.mkdir()
    subprocess.run(["tar", "xzf", str(tmp_path / "out.tgz"), "-C", str(target)], check=True)
    for name, content in names.items():
        assert (target / name).read_bytes() == content
    assert {m.name for m in _members(data) if m.isfile()} == set(names)


def test_large_file_round_trips(tmp_path: pathlib.Path) -> None:
    content = os.urandom(3 * 1024 * 1024 + 17)
    _tree(tmp_path, {"blob.bin": content})
    data, _ = _archive(tmp_path)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        member = archive.extractfile("blob.bin")
        assert member is not None
        assert member.read() == content


def test_empty_tree_gives_a_valid_empty_archive(tmp_path: pathlib.Path) -> None:
    data, result = _archive(tmp_path)
    assert _members(data) == []
    assert len(gzip.decompress(data)) == 10240
    assert (result.files, result.directories) == (0, 0)


def test_missing_directory_is_archive_error(tmp_path: pathlib.Path) -> None:
    with pytest.raises(errors.ArchiveError, match="not a directory"):
        archiving.write_archive(tmp_path / "missing", io.BytesIO())


def test_write_failure_is_archive_error(tmp_path: pathlib.Path) -> None:
    _tree(tmp_path, FILES)

    class Broken(io.RawIOBase):
        def writable(self) -> bool:
            return True

        def write(self, data: object) -> int:
            raise OSError("disk full")

    with pytest.raises(errors.ArchiveError, match="disk full"):
        archiving.write_archive(tmp_path, Broken())  # type: ignore[arg-type]


def _remove_deep_tree(top: pathlib.Path, depth: int) -> None:
    """Delete a ``d/d/…`` chain bottom-up (shutil.rmtree would recurse past the limit)."""
    levels = [top / "/".join(["d"] * n) for n in range(depth, 0, -1)]
    for level in levels:
        for child in level.iterdir():
            if not child.is_dir():
                child.unlink()
        level.rmdir()


def test_very_deep_tree_does_not_exhaust_recursion(tmp_path: pathlib.Path) -> None:
    depth = 1100  # deeper than Python's default recursion limit (1000)
    deepest = tmp_path
    for _ in range(depth):  # NB: mkdir(parents=True) recurses too
        deepest = deepest / "d"
        deepest.mkdir()
    try:
        (deepest / "leaf.yaml").write_bytes(b"leaf")
        (deepest / ".sourceignore").write_bytes(b"*.txt\n")
        matcher = ignoring.source_matcher(tmp_path, spec_ignore=None)
        data, result = _archive(tmp_path, exclude=matcher)
        assert (result.files, result.directories) == (2, depth)
        assert matcher.patterns[-1].domain == "/".join(["d"] * depth)
        names = [m.name for m in _members(data)]
        assert names[-1] == "/".join(["d"] * depth) + "/leaf.yaml"
    finally:
        # NB: pytest's later clean-up of old temp dirs would hit the recursion limit.
        _remove_deep_tree(tmp_path, depth)
