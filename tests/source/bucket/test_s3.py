"""The S3 client Bucket uses, against moto's S3 server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import pathlib

import pytest

from controllers.source.bucket import reconciler, s3
from tests.fixtures import s3 as s3_fixtures

s3_server = s3_fixtures.s3_server


def _bucket(server: s3_fixtures.S3Server, name: str, *, page_size: int = 2) -> s3.Bucket:
    return s3.Bucket(
        endpoint=server.endpoint, bucket=name, region=None, insecure=True,
        credentials=s3.Credentials(s3_fixtures.ACCESS_KEY, s3_fixtures.SECRET_KEY),
        page_size=page_size,
    )  # fmt: skip


async def test_listing_spans_pages_and_keeps_the_prefix(
    s3_server: s3_fixtures.S3Server, tmp_path: pathlib.Path
) -> None:
    s3_server.client().create_bucket(Bucket="paged")
    s3_server.put("paged", {f"deploy/{i}.yaml": f"n: {i}\n" for i in range(5)} | {"x.txt": "x"})

    listed = await _bucket(s3_server, "paged").list("deploy/")

    assert sorted(listed) == [f"deploy/{i}.yaml" for i in range(5)]
    assert listed["deploy/3.yaml"] == hashlib.md5(b"n: 3\n").hexdigest()  # S3 ETag of a plain PUT
    target = tmp_path / "out" / "3.yaml"
    assert await _bucket(s3_server, "paged").download("deploy/3.yaml", target)
    assert target.read_text() == "n: 3\n"
    assert not await _bucket(s3_server, "paged").download("gone", tmp_path / "g", optional=True)
    with pytest.raises(s3.BucketError, match="failed to get 'gone' object"):
        await _bucket(s3_server, "paged").download("gone", tmp_path / "g")


async def test_missing_bucket_is_a_bucket_error(s3_server: s3_fixtures.S3Server) -> None:
    with pytest.raises(s3.BucketError, match="bucket 'nowhere' not found"):
        await _bucket(s3_server, "nowhere").list(None)


def test_revision_is_the_sha256_of_sorted_key_etag_lines() -> None:
    index = {"b.yaml": "2", "a.yaml": "1"}

    expected = hashlib.sha256(b"a.yaml 1\nb.yaml 2\n").hexdigest()
    assert reconciler.index_revision(index) == f"sha256:{expected}"
    assert reconciler.index_revision({}) == "sha256:" + hashlib.sha256(b"").hexdigest()
