"""The Bucket's object index, kept beside its artifacts: a restart fetches changes only."""

from __future__ import annotations

import pathlib

import pytest

from controllers.source.bucket import indexes, reconciler, s3
from shared.artifacts import storage
from tests.fixtures import countingproxy
from tests.fixtures import s3 as s3_fixtures

s3_server = s3_fixtures.s3_server
KEY = storage.ObjectKey(kind="Bucket", namespace="ns", name="b")


@pytest.fixture
def store(tmp_path: pathlib.Path) -> storage.Storage:
    return storage.Storage(tmp_path / "storage", advertised_address="127.0.0.1:9")


async def test_an_index_survives_garbage_collection_and_is_read_back(
    store: storage.Storage, tmp_path: pathlib.Path
) -> None:
    (tmp_path / "tree").mkdir()
    (tmp_path / "tree" / "a.yaml").write_text("a: 1\n")
    async with store.lock(KEY):
        stored = await store.archive(KEY, source=tmp_path / "tree", revision="r1")
        await indexes.save(store, KEY, stored.path, {"a.yaml": "e1"})
        await store.garbage_collect(stored)

    assert await indexes.load(store, KEY) == (stored.path, {"a.yaml": "e1"})
    assert indexes.INDEX_FILE.startswith(".")  # never served


async def test_a_missing_or_unreadable_index_is_empty(store: storage.Storage) -> None:
    assert await indexes.load(store, KEY) == ("", {})
    target = store.local_path(store.artifact_path(KEY, indexes.INDEX_FILE))
    target.parent.mkdir(parents=True)
    target.write_text("{not json")
    assert await indexes.load(store, KEY) == ("", {})


async def test_after_a_restart_only_changed_objects_are_downloaded(
    store: storage.Storage, tmp_path: pathlib.Path, s3_server: s3_fixtures.S3Server
) -> None:
    s3_server.client().create_bucket(Bucket="restart")
    s3_server.put("restart", {"a.yaml": "a: 1\n", "b.yaml": "b: 1\n"})
    first_tree = tmp_path / "first"
    first_tree.mkdir()
    for name in ("a.yaml", "b.yaml"):
        (first_tree / name).write_text(f"{name[0]}: 1\n")
    bucket_keys = s3.Credentials(s3_fixtures.ACCESS_KEY, s3_fixtures.SECRET_KEY)
    listing = s3.Bucket(endpoint=s3_server.endpoint, bucket="restart", region=None,
                        insecure=True, credentials=bucket_keys)  # fmt: skip
    try:
        first = await listing.list(None)
    finally:
        await listing.close()
    async with store.lock(KEY):
        stored = await store.archive(KEY, source=first_tree, revision="r1")
        await indexes.save(store, KEY, stored.path, first)
    s3_server.put("restart", {"b.yaml": "b: 2\n"})

    # A new reconciler: nothing in memory, as after a restart.
    fresh = reconciler.BucketReconciler(api=None, store=store, recorder=None)  # type: ignore[arg-type]
    tree = tmp_path / "work" / "tree"
    tree.mkdir(parents=True)
    with countingproxy.counting_proxy() as proxy:
        bucket = s3.Bucket(endpoint=s3_server.endpoint, bucket="restart", region=None,
                           insecure=True, credentials=bucket_keys, proxy=proxy.url)  # fmt: skip
        try:
            second = await bucket.list(None)
            vanished = await fresh._download(bucket, KEY, second, tree)
        finally:
            await bucket.close()
        fetched = [path for method, path in proxy.requests if method == "GET" and "." in path]

    assert vanished == set()
    assert fetched == ["/restart/b.yaml"]
    assert (tree / "a.yaml").read_text() == "a: 1\n"
    assert (tree / "b.yaml").read_text() == "b: 2\n"
