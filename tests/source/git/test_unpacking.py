"""Scanning packs made by the real ``git pack-objects``: ids, deltas, bounded memory."""

from __future__ import annotations

import hashlib
import os
import pathlib
import tracemalloc
from collections.abc import Callable

import dulwich.objects
import pytest

from controllers.source.git import packs, unpacking
from tests.fixtures import gitservers

BIG = 24 * 1024 * 1024


def _pack(work: pathlib.Path, files: dict[str, bytes]) -> pathlib.Path:
    """A pack (as a server would send it) of one commit holding ``files``."""
    tree = work / "tree"
    tree.mkdir()
    for name, content in files.items():
        (tree / name).write_bytes(content)
    env = gitservers.git_env()
    gitservers.run(["git", "init", "--quiet", str(tree)], env=env)
    gitservers.run(["git", "-C", str(tree), "add", "-A"], env=env)
    gitservers.run(["git", "-C", str(tree), "commit", "--quiet", "-m", "c"], env=env)
    base = work / "out"
    gitservers.run(
        [
            "sh",
            "-c",
            f"git -C {tree} rev-list --objects HEAD | git -C {tree} pack-objects -q {base}",
        ],
        env=env,
    )
    (pack,) = work.glob("out-*.pack")
    return pack


def _blob_id(content: bytes) -> bytes:
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest().encode()


def test_large_whole_blobs_stay_in_the_pack_small_ones_are_inflated(
    tmp_path: pathlib.Path,
) -> None:
    content = os.urandom(300_000)
    pack = _pack(tmp_path, {"a.bin": content, "b.txt": b"hello\n"})

    objects: packs.ObjectMap = {}
    packs.load(pack, objects)

    blob = objects[_blob_id(content)]  # type: ignore[index]
    assert isinstance(blob, unpacking.PackedBlob)
    assert b"".join(blob.chunks()) == content
    small = objects[_blob_id(b"hello\n")]  # type: ignore[index]
    assert isinstance(small, dulwich.objects.Blob)
    assert small.as_raw_string() == b"hello\n"


def test_delta_blobs_and_their_bases_are_resolved(tmp_path: pathlib.Path) -> None:
    base = b"".join(b"line %d of a manifest\n" % i for i in range(4000))
    similar = {f"f{i}.yaml": base + b"changed %d\n" % i for i in range(6)}
    pack = _pack(tmp_path, similar)
    entries = unpacking.scan(pack)
    assert any(e.type_num in (unpacking.OFS_DELTA, unpacking.REF_DELTA) for e in entries)

    objects: packs.ObjectMap = {}
    packs.load(pack, objects)

    for content in similar.values():
        blob = objects[_blob_id(content)]  # type: ignore[index]
        data = (
            b"".join(blob.chunks())
            if isinstance(blob, unpacking.PackedBlob)
            else blob.as_raw_string()
        )
        assert data == content


def test_scanning_and_reading_a_large_blob_allocates_a_bounded_amount(
    tmp_path: pathlib.Path,
) -> None:
    content = os.urandom(BIG)
    pack = _pack(tmp_path, {"big.bin": content})
    expected = hashlib.sha256(content).hexdigest()
    del content

    tracemalloc.start()
    try:
        objects: packs.ObjectMap = {}
        packs.load(pack, objects)
        (blob,) = (o for o in objects.values() if isinstance(o, unpacking.PackedBlob))
        digest = hashlib.sha256()
        for chunk in blob.chunks():
            digest.update(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert digest.hexdigest() == expected
    assert blob.size == BIG
    assert peak < 8 * 1024 * 1024, f"peak {peak} bytes for a {BIG}-byte blob"


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda data: b"JUNK" + data[4:], "not a version 2 or 3 pack"),
        (lambda data: data[: len(data) // 2], "ends inside"),
        (lambda data: data + b"extra", "after its last object"),
    ],
)
def test_malformed_packs_are_refused(
    tmp_path: pathlib.Path, damage: Callable[[bytes], bytes], message: str
) -> None:
    pack = _pack(tmp_path, {"a.txt": os.urandom(5000)})
    pack.write_bytes(damage(pack.read_bytes()))
    with pytest.raises(unpacking.PackFormatError, match=message):
        unpacking.scan(pack)
