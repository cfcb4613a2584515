"""Archiving, digesting and extracting stream: Python-level memory does not grow with a file.

Each test handles a large sparse file and asserts, with ``tracemalloc``,
that the peak of Python allocations stays a few MiB: a behaviour check (no
whole-file buffer anywhere), not a timing one.
"""

from __future__ import annotations

import pathlib
import tracemalloc
from collections.abc import Callable
from typing import TypeVar

import pytest

from shared.artifacts import archiving, digests, errors, extracting, storage

LARGE = 96 * 1024 * 1024
BOUND = 16 * 1024 * 1024
T = TypeVar("T")


def _peak(work: Callable[[], T]) -> tuple[T, int]:
    tracemalloc.start()
    try:
        result = work()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak


def _sparse_tree(root: pathlib.Path) -> pathlib.Path:
    root.mkdir()
    (root / "kustomization.yaml").write_text("resources: []\n")
    with open(root / "big.bin", "wb") as big:
        big.truncate(LARGE)
    return root


def _archive(tree: pathlib.Path, target: pathlib.Path) -> archiving.ArchiveResult:
    with open(target, "wb") as stream:
        return archiving.write_archive(tree, stream)


def test_archiving_a_large_file_allocates_a_bounded_amount(tmp_path: pathlib.Path) -> None:
    tree = _sparse_tree(tmp_path / "tree")

    result, peak = _peak(lambda: _archive(tree, tmp_path / "a.tar.gz"))

    assert result.files == 2
    assert peak < BOUND, f"peak {peak} bytes archiving a {LARGE}-byte file"


def test_digesting_a_large_file_allocates_a_bounded_amount(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "big.bin"
    with open(path, "wb") as big:
        big.truncate(LARGE)

    digest, peak = _peak(lambda: digests.file_digest(path))

    assert digest.startswith("sha256:")
    assert peak < BOUND, f"peak {peak} bytes digesting a {LARGE}-byte file"


def test_extracting_a_large_file_allocates_a_bounded_amount(tmp_path: pathlib.Path) -> None:
    archive = tmp_path / "a.tar.gz"
    _archive(_sparse_tree(tmp_path / "tree"), archive)
    limits = extracting.Limits(max_total_size=2 * LARGE)

    result, peak = _peak(lambda: extracting.extract(archive, tmp_path / "out", limits=limits))

    assert result.total_size == LARGE + len("resources: []\n")
    assert (tmp_path / "out" / "big.bin").stat().st_size == LARGE
    assert peak < BOUND, f"peak {peak} bytes extracting a {LARGE}-byte file"


async def test_storage_refuses_a_tree_over_the_maximum_artifact_size(
    tmp_path: pathlib.Path,
) -> None:
    tree = _sparse_tree(tmp_path / "tree")
    store = storage.Storage(
        tmp_path / "store", advertised_address="localhost", max_artifact_size=LARGE // 2
    )
    key = storage.ObjectKey(kind="GitRepository", namespace="ns", name="big")

    with pytest.raises(errors.ArchiveLimitError) as raised:
        await store.archive(key, source=tree, revision="main@sha1:0")

    total = LARGE + len("resources: []\n")
    assert f"total {total} bytes" in str(raised.value)
    assert f"maximum artifact size of {LARGE // 2} bytes" in str(raised.value)
    assert [p for p in (tmp_path / "store").rglob("*") if p.is_file()] == []
