"""Storage: layout, atomic content-addressed writes, GC by age and count, locks, removal."""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import os
import pathlib
import re
import stat
import sys

import pytest

from shared.api import meta
from shared.artifacts import digests, errors, ignoring, storage

KEY = storage.ObjectKey(kind="GitRepository", namespace="flux-system", name="podinfo")
NOW = 1_800_000_000.0


def _storage(
    root: pathlib.Path,
    *,
    retention: storage.RetentionPolicy | None = None,
    lock_timeout: datetime.timedelta = datetime.timedelta(minutes=1),
) -> storage.Storage:
    return storage.Storage(
        root,
        advertised_address="source.flux-system:80",
        retention=retention,
        lock_timeout=lock_timeout,
        clock=lambda: NOW,
    )


def _tree(root: pathlib.Path, files: dict[str, str]) -> pathlib.Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return root


def test_layout_and_urls(tmp_path: pathlib.Path) -> None:
    store = _storage(tmp_path)
    path = store.artifact_path(KEY, "abc.tar.gz")
    assert path == "gitrepository/flux-system/podinfo/abc.tar.gz"
    assert store.local_path(path) == tmp_path / "gitrepository/flux-system/podinfo/abc.tar.gz"
    assert store.url_for(path) == "http://source.flux-system:80/" + path
    https = storage.Storage(tmp_path, advertised_address="https://artifacts.example/")
    assert https.url_for(path) == "https://artifacts.example/" + path


@pytest.mark.parametrize("bad", ["..", ".", "a/b", "", "a\\b", "a\0b"])
def test_path_components_cannot_escape(tmp_path: pathlib.Path, bad: str) -> None:
    store = _storage(tmp_path)
    with pytest.raises(errors.InvalidArtifactPathError):
        store.artifact_path(storage.ObjectKey(kind="GitRepository", namespace="ns", name=bad), "f")
    with pytest.raises(errors.InvalidArtifactPathError):
        store.artifact_path(KEY, bad)


@pytest.mark.parametrize("bad", ["../etc/passwd", "a/../../b", "/abs", "a//b"])
def test_local_path_refuses_escapes(tmp_path: pathlib.Path, bad: str) -> None:
    with pytest.raises(errors.InvalidArtifactPathError):
        _storage(tmp_path).local_path(bad)


async def test_archive_writes_a_content_addressed_verified_file(tmp_path: pathlib.Path) -> None:
    source = _tree(tmp_path / "src", {"a.yaml": "a", "logo.png": "binary", ".git/HEAD": "ref"})
    store = _storage(tmp_path / "store")
    artifact = await store.archive(
        KEY,
        source=source,
        revision="main@sha1:" + "1" * 40,
        exclude=ignoring.source_matcher(source, spec_ignore=None),
    )
    local = store.local_path(artifact.path)
    assert artifact.path == f"gitrepository/flux-system/podinfo/{artifact.digest[7:]}.tar.gz"
    assert artifact.url == f"http://source.flux-system:80/{artifact.path}"
    assert artifact.digest == digests.file_digest(local)
    assert artifact.size == local.stat().st_size
    assert artifact.revision == "main@sha1:" + "1" * 40
    assert artifact.last_update_time == "2027-01-15T08:00:00Z"
    assert stat.S_IMODE(local.stat().st_mode) == 0o600
    assert sorted(p.name for p in local.parent.iterdir()) == [local.name]
    assert store.exists(artifact)
    await store.verify(artifact)
    meta.Artifact.model_validate(artifact.model_dump())  # a valid API value


async def test_same_tree_same_artifact_and_named_files(tmp_path: pathlib.Path) -> None:
    source = _tree(tmp_path / "src", {"a.yaml": "a"})
    store = _storage(tmp_path / "store")
    first = await store.archive(KEY, source=source, revision="r1")
    second = await store.archive(KEY, source=source, revision="r2")
    named = await store.archive(KEY, source=source, revision="r3", filename="abc.tar.gz")
    assert first.path == second.path
    assert first.digest == second.digest == named.digest
    assert named.path.endswith("/abc.tar.gz")


async def test_failed_archive_leaves_no_file(tmp_path: pathlib.Path) -> None:
    store = _storage(tmp_path / "store")
    with pytest.raises(errors.ArchiveError, match="not a directory"):
        await store.archive(KEY, source=tmp_path / "missing", revision="r")
    directory = tmp_path / "store" / KEY.directory()
    assert list(directory.iterdir()) == []


async def test_store_bytes_and_file(tmp_path: pathlib.Path) -> None:
    store = _storage(tmp_path / "store")
    index = await store.store_bytes(KEY, data=b"entries: {}\n", filename="index.yaml", revision="x")
    assert store.local_path(index.path).read_bytes() == b"entries: {}\n"
    chart = tmp_path / "chart.tgz"
    chart.write_bytes(b"chart bytes")
    stored = await store.store_file(KEY, source=chart, filename="app-1.0.0.tgz", revision="1.0.0")
    assert stored.digest == digests.file_digest(chart)
    assert stored.size == 11


async def test_verify_detects_a_changed_file(tmp_path: pathlib.Path) -> None:
    store = _storage(tmp_path / "store")
    artifact = await store.store_bytes(KEY, data=b"one", filename="f", revision="x")
    store.local_path(artifact.path).write_bytes(b"two")
    with pytest.raises(errors.DigestMismatchError, match="expected sha256:"):
        await store.verify(artifact)


async def test_a_staged_file_is_stored_by_one_rename(tmp_path: pathlib.Path) -> None:
    store = _storage(tmp_path / "store")
    directory = tmp_path / "store" / KEY.directory()
    staged = store.stage(KEY)
    assert not directory.exists()  # nothing on disk before the first write
    for part in (b"chart ", b"layer ", b"bytes"):
        staged.write(part)
    staged.digest = digests.format_digest(
        "sha256", hashlib.sha256(b"chart layer bytes").hexdigest()
    )
    [temporary] = directory.iterdir()
    assert temporary.name.startswith(storage.TEMP_PREFIX)
    async with store.lock(KEY):
        artifact = await store.commit(KEY, staged, filename="app-1.0.0.tgz", revision="1.0.0")

    assert (artifact.path, artifact.revision, artifact.size) == (
        f"{KEY.directory()}/app-1.0.0.tgz",
        "1.0.0",
        17,
    )
    assert artifact.digest == staged.digest
    await store.verify(artifact)
    assert store.exists(artifact)
    assert sorted(p.name for p in directory.iterdir()) == [storage.LOCK_FILE, "app-1.0.0.tgz"]
    assert stat.S_IMODE((directory / "app-1.0.0.tgz").stat().st_mode) == storage.FILE_MODE


async def test_a_staged_file_without_its_digest_or_discarded_is_not_stored(
    tmp_path: pathlib.Path,
) -> None:
    store = _storage(tmp_path / "store")
    other = storage.ObjectKey(kind="HelmChart", namespace="ns", name="other")
    staged = store.stage(KEY)
    staged.write(b"data")
    with pytest.raises(errors.StorageError, match="not a finished file"):
        await store.commit(KEY, staged, filename="f.tgz", revision="1")
    staged.digest = digests.format_digest("sha256", hashlib.sha256(b"data").hexdigest())
    with pytest.raises(errors.StorageError, match="not a finished file"):
        await store.commit(other, staged, filename="f.tgz", revision="1")
    staged.discard()
    staged.discard()
    assert list((tmp_path / "store" / KEY.directory()).iterdir()) == []
    with pytest.raises(errors.StorageError, match="already closed"):
        staged.write(b"more")


async def test_a_file_cut_short_counts_as_missing(tmp_path: pathlib.Path) -> None:
    # NB: writes are not fsynced (as in Flux): a machine crash can leave a short file.
    store = _storage(tmp_path / "store")
    artifact = await store.store_bytes(KEY, data=b"complete", filename="f", revision="x")
    assert store.exists(artifact)
    store.local_path(artifact.path).write_bytes(b"")
    assert not store.exists(artifact)
    assert store.exists(artifact.model_copy(update={"size": None}))


def _file(directory: pathlib.Path, name: str, age_seconds: float) -> None:
    path = directory / name
    path.write_bytes(name.encode())
    os.utime(path, (NOW - age_seconds, NOW - age_seconds))


def _artifact(store: storage.Storage, name: str) -> meta.Artifact:
    path = store.artifact_path(KEY, name)
    return meta.Artifact(
        path=path,
        url=store.url_for(path),
        revision="r",
        digest="sha256:" + "0" * 64,
        last_update_time="2027-01-15T08:00:00Z",
    )


@pytest.mark.parametrize(
    ("files", "current", "records", "deleted"),
    [
        # count: at most two files remain, the current one counted
        ({"a": 5, "b": 4, "c": 3, "d": 2, "e": 1}, "e", 2, ["a", "b", "c"]),
        # age: a file older than the TTL goes even when the count allows it
        ({"old": 120, "new": 1}, "new", 2, ["old"]),
        # the current artifact stays even when it is the oldest and expired
        ({"cur": 500, "x": 10, "y": 5}, "cur", 2, ["x"]),
        ({"cur": 500}, "cur", 2, []),
        # nothing to do
        ({"a": 10, "b": 1}, "b", 2, []),
        ({"a": 10, "b": 5, "c": 1}, "c", 5, []),
    ],
)
async def test_garbage_collection(
    tmp_path: pathlib.Path,
    files: dict[str, float],
    current: str,
    records: int,
    deleted: list[str],
) -> None:
    store = _storage(tmp_path, retention=storage.RetentionPolicy(records=records))
    directory = tmp_path / KEY.directory()
    directory.mkdir(parents=True)
    for name, age in files.items():
        _file(directory, name, age)
    removed = await store.garbage_collect(_artifact(store, current))
    assert sorted(removed) == [f"{KEY.directory()}/{name}" for name in sorted(deleted)]
    assert sorted(p.name for p in directory.iterdir()) == sorted(set(files) - set(deleted))


async def test_garbage_collection_spares_locks_links_and_fresh_temporaries(
    tmp_path: pathlib.Path,
) -> None:
    store = _storage(tmp_path, retention=storage.RetentionPolicy(records=1))
    directory = tmp_path / KEY.directory()
    directory.mkdir(parents=True)
    _file(directory, "current.tar.gz", 500)
    _file(directory, ".lock", 500)
    _file(directory, ".tmp-fresh", 5)
    _file(directory, ".tmp-stale", 500)
    (directory / "latest.tar.gz").symlink_to("current.tar.gz")
    removed = await store.garbage_collect(_artifact(store, "current.tar.gz"))
    assert removed == []
    assert sorted(p.name for p in directory.iterdir()) == [
        ".lock",
        ".tmp-fresh",
        "current.tar.gz",
        "latest.tar.gz",
    ]


async def test_new_revision_replaces_old_artifact_after_gc(tmp_path: pathlib.Path) -> None:
    clock = [NOW]
    store = storage.Storage(
        tmp_path / "store", advertised_address="localhost:9090", clock=lambda: clock[0]
    )
    source = _tree(tmp_path / "src", {"a.yaml": "v1"})
    old = await store.archive(KEY, source=source, revision="main@sha1:" + "1" * 40)
    (source / "a.yaml").write_text("v2")
    new = await store.archive(KEY, source=source, revision="main@sha1:" + "2" * 40)
    assert new.path != old.path
    old_written = os.stat(store.local_path(old.path)).st_mtime
    clock[0] = old_written + 30
    assert await store.garbage_collect(new) == []  # young and within the record count
    clock[0] = old_written + 61
    assert await store.garbage_collect(new) == [old.path]
    assert not store.exists(old)
    assert store.exists(new)


async def test_symlink_points_at_the_artifact(tmp_path: pathlib.Path) -> None:
    store = _storage(tmp_path)
    artifact = await store.store_bytes(KEY, data=b"x", filename="v1.tar.gz", revision="r")
    url = await store.symlink(artifact, "latest.tar.gz")
    assert url == f"http://source.flux-system:80/{KEY.directory()}/latest.tar.gz"
    link = tmp_path / KEY.directory() / "latest.tar.gz"
    assert os.readlink(link) == "v1.tar.gz"
    assert link.read_bytes() == b"x"


async def test_remove_object_deletes_everything(tmp_path: pathlib.Path) -> None:
    store = _storage(tmp_path)
    await store.store_bytes(KEY, data=b"x", filename="one", revision="r")
    await store.store_bytes(KEY, data=b"y", filename="two", revision="r")
    other = storage.ObjectKey(kind="GitRepository", namespace="flux-system", name="other")
    kept = await store.store_bytes(other, data=b"z", filename="f", revision="r")
    async with store.lock(KEY):
        assert await store.remove_object(KEY) is True
    assert not (tmp_path / KEY.directory()).exists()
    assert await store.remove_object(KEY) is False
    assert store.exists(kept)


async def test_lock_serialises_work_on_one_object(tmp_path: pathlib.Path) -> None:
    store = _storage(tmp_path)
    order: list[str] = []
    first_inside = asyncio.Event()
    release_first = asyncio.Event()

    async def first() -> None:
        async with store.lock(KEY):
            order.append("first in")
            first_inside.set()
            await release_first.wait()
            order.append("first out")

    async def second() -> None:
        await first_inside.wait()
        async with store.lock(KEY):
            order.append("second in")

    tasks = [asyncio.create_task(first()), asyncio.create_task(second())]
    await first_inside.wait()
    for _ in range(20):  # let the second task run as far as it can
        await asyncio.sleep(0)
    assert order == ["first in"]
    release_first.set()
    await asyncio.gather(*tasks)
    assert order == ["first in", "first out", "second in"]


async def test_lock_on_other_objects_is_independent(tmp_path: pathlib.Path) -> None:
    store = _storage(tmp_path)
    other = storage.ObjectKey(kind="Bucket", namespace="ns", name="b")
    async with store.lock(KEY), store.lock(other):
        pass


_HOLDER = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
sys.stdin.read()
"""


async def test_lock_waits_for_another_process(tmp_path: pathlib.Path) -> None:
    directory = tmp_path / KEY.directory()
    directory.mkdir(parents=True)
    holder = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _HOLDER,
        str(directory / storage.LOCK_FILE),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None
        assert await holder.stdout.readline() == b"locked\n"
        impatient = _storage(tmp_path, lock_timeout=datetime.timedelta(milliseconds=200))
        with pytest.raises(errors.LockTimeoutError, match=re.escape(str(directory))):
            async with impatient.lock(KEY):
                pass
        patient = _storage(tmp_path, lock_timeout=datetime.timedelta(seconds=30))
        acquired = asyncio.create_task(_enter(patient))
        for _ in range(5):
            await asyncio.sleep(0)
        assert not acquired.done()
        assert holder.stdin is not None
        holder.stdin.close()  # the holder exits and its lock goes with it
        assert await acquired is True
    finally:
        if holder.returncode is None:
            holder.kill()
        await holder.wait()


async def _enter(store: storage.Storage) -> bool:
    async with store.lock(KEY):
        return True


async def test_archiving_does_not_block_the_event_loop(tmp_path: pathlib.Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    for index in range(300):
        (source / f"f{index}.bin").write_bytes(os.urandom(16 * 1024))
    store = _storage(tmp_path / "store")
    ticks = 0
    done = False

    async def ticker() -> None:
        nonlocal ticks
        while not done:
            ticks += 1
            await asyncio.sleep(0)

    counting = asyncio.create_task(ticker())
    try:
        await store.archive(KEY, source=source, revision="r")
    finally:
        done = True
        await counting
    # Run inline, the archive would leave the loop no turn at all until it finished.
    assert ticks > 10


async def test_remove_partial_files_spares_objects_locked_by_a_writer(
    tmp_path: pathlib.Path,
) -> None:
    store = _storage(tmp_path)
    crashed = storage.ObjectKey(kind="GitRepository", namespace="ns", name="crashed")
    busy = storage.ObjectKey(kind="GitRepository", namespace="ns", name="busy")
    for key in (crashed, busy):
        directory = store.root / key.directory()
        directory.mkdir(parents=True)
        (directory / ".tmp-partial").write_bytes(b"half an archive")
        (directory / "done.tar.gz").write_bytes(b"an artifact")

    async with store.lock(busy):
        removed = await store.remove_partial_files()

    assert removed == ["gitrepository/ns/crashed/.tmp-partial"]
    assert not (store.root / crashed.directory() / ".tmp-partial").exists()
    assert (store.root / busy.directory() / ".tmp-partial").exists()
    assert (store.root / crashed.directory() / "done.tar.gz").exists()
