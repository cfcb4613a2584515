"""What the real registry cannot show, against the fake: tag paging, wrong bytes, no length."""

from __future__ import annotations

import collections.abc
import pathlib

import aiohttp
import pytest

from shared.oci import client, errors, mediatypes, tokens, transport
from tests.oci import fakeregistry

TAGS = [f"1.{minor}.0" for minor in range(7)]


@pytest.fixture
async def fake() -> collections.abc.AsyncIterator[fakeregistry.FakeRegistry]:
    async with fakeregistry.serving(fakeregistry.FakeRegistry(tags={"team/app": TAGS})) as served:
        yield served


@pytest.fixture
def oci(
    fake: fakeregistry.FakeRegistry, session: aiohttp.ClientSession, token_cache: tokens.TokenCache
) -> client.Client:
    connection = transport.Connection(host=fake.host, plain_http=True)
    return client.Client(session, connection, token_cache=token_cache)


async def test_tags_are_listed_across_pages(
    fake: fakeregistry.FakeRegistry, oci: client.Client
) -> None:
    assert await oci.list_tags("team/app", page_size=3) == sorted(TAGS)

    assert [request for request in fake.requests if "tags" in request] == [
        "GET /v2/team/app/tags/list?n=3",
        "GET /v2/team/app/tags/list?n=3&last=1.2.0",
        "GET /v2/team/app/tags/list?n=3&last=1.5.0",
    ]


async def test_tag_listing_starts_after_last(oci: client.Client) -> None:
    assert await oci.list_tags("team/app", page_size=2, last="1.3.0") == ["1.4.0", "1.5.0", "1.6.0"]


async def test_a_next_link_to_another_origin_is_refused(
    fake: fakeregistry.FakeRegistry, oci: client.Client
) -> None:
    fake.next_link = "http://elsewhere.example/v2/team/app/tags/list?n=3"

    with pytest.raises(errors.InvalidContentError, match=r"elsewhere\.example"):
        await oci.list_tags("team/app", page_size=3)


async def test_manifest_bytes_not_matching_the_announced_digest_are_refused(
    fake: fakeregistry.FakeRegistry, oci: client.Client
) -> None:
    digest = fake.add_manifest("team/app", "1.0.0", b'{"schemaVersion":2}', mediatypes.OCI_MANIFEST)
    fake.corrupt = True

    with pytest.raises(errors.DigestMismatchError, match=f"expected {digest}"):
        await oci.get_manifest("team/app", "1.0.0")
    with pytest.raises(errors.DigestMismatchError, match=f"team/app@{digest}"):
        await oci.get_manifest("team/app", digest)


async def test_blob_bytes_not_matching_the_digest_are_refused_and_the_file_removed(
    fake: fakeregistry.FakeRegistry, oci: client.Client, tmp_path: pathlib.Path
) -> None:
    content = b"the real layer" * 500
    digest = fakeregistry.digest_of(content)
    fake.blobs[digest] = content
    fake.corrupt = True
    target = tmp_path / "layer"

    with pytest.raises(errors.DigestMismatchError, match=f"expected {digest}"):
        await oci.fetch_blob("team/app", digest, target)
    assert not target.exists()


async def test_size_limit_stops_a_stream_without_content_length(
    fake: fakeregistry.FakeRegistry, oci: client.Client
) -> None:
    content = b"0123456789" * 1000
    digest = fakeregistry.digest_of(content)
    fake.blobs[digest] = content
    fake.chunked = True
    received: list[bytes] = []

    async def read() -> None:
        async with oci.open_blob("team/app", digest, max_size=4096) as blob:
            assert blob.size is None
            async for chunk in blob.chunks(chunk_size=1024):
                received.append(chunk)

    with pytest.raises(errors.TooLargeError, match="limit of 4096 bytes"):
        await read()
    assert sum(map(len, received)) <= 4096


async def test_generic_content_type_falls_back_to_the_documents_media_type(
    fake: fakeregistry.FakeRegistry, oci: client.Client
) -> None:
    data = (
        b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}'
    )
    fake.add_manifest("team/app", "idx", data, "application/json")

    manifest = await oci.get_manifest("team/app", "idx")

    assert (manifest.media_type, manifest.is_index, manifest.children) == (
        mediatypes.OCI_INDEX,
        True,
        [],
    )


async def test_referrers_come_from_the_referrers_api_when_the_registry_has_it(
    fake: fakeregistry.FakeRegistry, oci: client.Client
) -> None:
    subject = "sha256:" + "ab" * 32
    listed = {
        "mediaType": mediatypes.OCI_MANIFEST,
        "digest": "sha256:" + "cd" * 32,
        "size": 10,
        "artifactType": "application/vnd.dev.sigstore.bundle.v0.3+json",
    }
    fake.referrers[f"team/app:{subject}"] = [listed]

    (found,) = await oci.referrers("team/app", subject)

    assert (found.digest, found.artifact_type) == (listed["digest"], listed["artifactType"])
    assert await oci.referrers("team/app", "sha256:" + "ef" * 32) == []
    assert not [request for request in fake.requests if "manifests" in request]
