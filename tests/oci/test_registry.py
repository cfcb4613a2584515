"""The client against a real registry (docker-registry, plain HTTP, anonymous)."""

from __future__ import annotations

import collections.abc
import dataclasses
import json
import pathlib

import aiohttp
import pytest

from shared.oci import client, digests, errors, manifests, mediatypes, tokens, transport
from tests.fixtures import commands, gitservers
from tests.fixtures import registry as registry_fixtures
from tests.fixtures.polling import eventually


@pytest.fixture
def oci(
    registry: registry_fixtures.Registry,
    session: aiohttp.ClientSession,
    token_cache: tokens.TokenCache,
) -> client.Client:
    connection = transport.Connection(host=registry.host, plain_http=True)
    return client.Client(session, connection, token_cache=token_cache)


async def _push_image(
    oci: client.Client, repository: str, tag: str, layer: bytes
) -> tuple[manifests.Descriptor, manifests.Descriptor]:
    """Push a one-layer image; (manifest descriptor, layer descriptor)."""
    config = await oci.push_blob(repository, b"{}", media_type=mediatypes.OCI_EMPTY_CONFIG)
    blob = await oci.push_blob(repository, layer, media_type=mediatypes.OCI_LAYER_TAR_GZIP)
    data = manifests.image_manifest(config=config, layers=[blob])
    pushed = await oci.push_manifest(repository, tag, data, media_type=mediatypes.OCI_MANIFEST)
    return pushed, blob


async def test_pushed_image_is_pulled_back_with_verified_digests(
    oci: client.Client, tmp_path: pathlib.Path
) -> None:
    pushed, blob = await _push_image(oci, "team/app", "1.0.0", b"layer bytes" * 1000)

    manifest = await oci.get_manifest("team/app", "1.0.0")
    assert manifest.digest == pushed.digest
    assert manifest.media_type == mediatypes.OCI_MANIFEST
    assert not manifest.is_index
    assert [layer.digest for layer in manifest.layers] == [blob.digest]
    target = tmp_path / "layer"
    size = await oci.fetch_blob("team/app", blob.digest, target)
    assert (size, target.read_bytes()) == (blob.size, b"layer bytes" * 1000)


async def test_head_manifest_gives_the_descriptor_without_the_body(oci: client.Client) -> None:
    pushed, _ = await _push_image(oci, "team/head", "v1", b"x")

    head = await oci.head_manifest("team/head", "v1")

    assert (head.digest, head.size, head.media_type) == (
        pushed.digest,
        pushed.size,
        mediatypes.OCI_MANIFEST,
    )


async def test_chunked_upload_of_a_file_stores_the_same_blob(
    oci: client.Client, tmp_path: pathlib.Path
) -> None:
    content = bytes(range(256)) * 700  # 179,200 bytes: three PATCH chunks of 64 KiB
    source = tmp_path / "blob"
    source.write_bytes(content)

    pushed = await oci.push_blob("team/chunks", source, chunk_size=1 << 16)

    assert pushed.digest == digests.of(content)
    assert await oci.blob_exists("team/chunks", pushed.digest)
    async with oci.open_blob("team/chunks", pushed.digest) as blob:
        received = b"".join([chunk async for chunk in blob.chunks()])
    assert received == content


async def test_monolithic_upload_of_a_file(oci: client.Client, tmp_path: pathlib.Path) -> None:
    source = tmp_path / "blob"
    source.write_bytes(b"monolithic" * 10_000)

    pushed = await oci.push_blob("team/mono", source)

    assert pushed.size == 100_000
    assert await oci.blob_exists("team/mono", pushed.digest)


async def test_image_index_is_served_as_an_index_and_its_children_resolve(
    oci: client.Client,
) -> None:
    amd64, _ = await _push_image(oci, "team/multi", "amd64", b"amd64 layer")
    arm64, _ = await _push_image(oci, "team/multi", "arm64", b"arm64 layer")
    children = [
        dataclasses.replace(amd64, platform={"os": "linux", "architecture": "amd64"}),
        dataclasses.replace(arm64, platform={"os": "linux", "architecture": "arm64"}),
    ]
    await oci.push_manifest(
        "team/multi", "2.0", manifests.image_index(children), media_type=mediatypes.OCI_INDEX
    )

    index = await oci.get_manifest("team/multi", "2.0")

    assert index.is_index
    assert [(c.digest, c.platform) for c in index.children] == [
        (amd64.digest, {"os": "linux", "architecture": "amd64"}),
        (arm64.digest, {"os": "linux", "architecture": "arm64"}),
    ]
    child = await oci.get_manifest("team/multi", index.children[1].digest)
    assert child.digest == arm64.digest
    with pytest.raises(errors.InvalidContentError, match="is not an image manifest"):
        _ = index.layers


async def test_docker_manifest_list_is_accepted(oci: client.Client) -> None:
    amd64, _ = await _push_image(oci, "team/docker", "amd64", b"docker layer")
    document = {
        "schemaVersion": 2,
        "mediaType": mediatypes.DOCKER_MANIFEST_LIST,
        "manifests": [{**amd64.to_json(), "platform": {"os": "linux", "architecture": "amd64"}}],
    }
    data = json.dumps(document).encode()
    await oci.push_manifest("team/docker", "list", data, media_type=mediatypes.DOCKER_MANIFEST_LIST)

    listed = await oci.get_manifest("team/docker", "list")

    assert (listed.media_type, listed.digest, listed.is_index) == (
        mediatypes.DOCKER_MANIFEST_LIST,
        digests.of(data),
        True,
    )


async def test_tag_points_a_new_tag_at_the_same_manifest(oci: client.Client) -> None:
    pushed, _ = await _push_image(oci, "team/tags", "1.0.0", b"t")

    await oci.tag("team/tags", "1.0.0", "latest")

    assert (await oci.head_manifest("team/tags", "latest")).digest == pushed.digest
    assert sorted(await oci.list_tags("team/tags")) == ["1.0.0", "latest"]


async def test_unknown_manifest_blob_and_repository_raise_their_errors(
    oci: client.Client,
) -> None:
    await _push_image(oci, "team/known", "1", b"k")
    missing = digests.of(b"never pushed")

    with pytest.raises(errors.ManifestUnknownError, match="MANIFEST_UNKNOWN: manifest unknown"):
        await oci.get_manifest("team/known", "2")
    with pytest.raises(errors.ManifestUnknownError, match="team/known:2: 404: Not Found"):
        await oci.head_manifest("team/known", "2")
    with pytest.raises(errors.BlobUnknownError, match="BLOB_UNKNOWN"):
        async with oci.open_blob("team/known", missing):
            pass
    with pytest.raises(errors.NameUnknownError, match="repository name not known"):
        await oci.list_tags("team/never")


async def test_blob_over_the_size_limit_is_refused_before_reading(
    oci: client.Client, tmp_path: pathlib.Path
) -> None:
    _, blob = await _push_image(oci, "team/big", "1", b"z" * 5000)
    target = tmp_path / "big"

    with pytest.raises(errors.TooLargeError, match="limit of 4096 bytes \\(5000 bytes\\)"):
        await oci.fetch_blob("team/big", blob.digest, target, max_size=4096)
    assert not target.exists()


async def test_manifest_over_the_size_limit_is_refused(
    registry: registry_fixtures.Registry, session: aiohttp.ClientSession, oci: client.Client
) -> None:
    await _push_image(oci, "team/manifest-limit", "1", b"m")
    small = client.Client(
        session,
        transport.Connection(host=registry.host, plain_http=True),
        token_cache=tokens.TokenCache(),
        max_manifest_size=100,
    )

    with pytest.raises(errors.TooLargeError, match="limit of 100 bytes"):
        await small.get_manifest("team/manifest-limit", "1")


async def test_unreachable_registry_is_a_transport_error(
    session: aiohttp.ClientSession, token_cache: tokens.TokenCache
) -> None:
    closed = transport.Connection(host=f"127.0.0.1:{commands.free_port()}", plain_http=True)
    oci = client.Client(session, closed, token_cache=token_cache)

    with pytest.raises(errors.TransportError, match=r"listing tags of 127\.0\.0\.1"):
        await oci.list_tags("team/app")


@pytest.fixture
def proxy(tmp_path: pathlib.Path) -> collections.abc.Iterator[gitservers.GitServer]:
    """A forward HTTP proxy (the Git fixtures' ``githttpd --proxy``) with basic proxy auth."""
    root = tmp_path / "proxy-root"
    root.mkdir()
    server = gitservers.start_githttpd(root, log=tmp_path / "proxy.log", proxy=True, basic="px:pw")
    yield server
    commands.stop(server.process)


def _proxied(
    registry: registry_fixtures.Registry,
    proxy: gitservers.GitServer,
    password: str,
    session: aiohttp.ClientSession,
    token_cache: tokens.TokenCache,
) -> client.Client:
    """A client of ``registry`` through ``proxy`` as user ``px`` with ``password``."""
    address = proxy.base_url.replace("://", f"://px:{password}@")
    proxied = transport.Connection(host=registry.host, plain_http=True, proxy=address)
    return client.Client(session, proxied, token_cache=token_cache)


async def test_requests_go_through_the_proxy_with_its_credentials(
    registry: registry_fixtures.Registry,
    proxy: gitservers.GitServer,
    session: aiohttp.ClientSession,
    token_cache: tokens.TokenCache,
) -> None:
    oci = _proxied(registry, proxy, "pw", session, token_cache)
    direct = client.Client(
        session, transport.Connection(host=registry.host, plain_http=True), token_cache=token_cache
    )
    pushed, _ = await _push_image(direct, "team/proxied", "1", b"proxied")

    assert (await oci.get_manifest("team/proxied", "1")).digest == pushed.digest
    # NB: the proxy logs a request after it has answered it, so the line may
    # land a moment after the response.
    line = f"GET http://{registry.host}/v2/team/proxied/manifests/1 200"
    await eventually(
        lambda: line in proxy.requests() or None, message="the proxy did not serve the request"
    )


async def test_wrong_proxy_credentials_are_an_error(
    registry: registry_fixtures.Registry,
    proxy: gitservers.GitServer,
    session: aiohttp.ClientSession,
    token_cache: tokens.TokenCache,
) -> None:
    oci = _proxied(registry, proxy, "no", session, token_cache)

    with pytest.raises(
        errors.ResponseError, match=r"team/app: 407: Proxy Authentication Required$"
    ):
        await oci.list_tags("team/app")


async def test_referrers_without_the_api_come_from_the_referrers_tag(oci: client.Client) -> None:
    # NB: distribution 2.8 has no referrers API: it answers 404 and the tag is read.
    subject, _ = await _push_image(oci, "team/referred", "1.0.0", b"subject")
    assert await oci.referrers("team/referred", subject.digest) == []

    referrer, _ = await _push_image(oci, "team/referred", "signature", b"signature")
    listed = dataclasses.replace(referrer, artifact_type="application/example")
    index = manifests.image_index([listed])
    await oci.push_manifest(
        "team/referred", client.referrers_tag(subject.digest), index,
        media_type=mediatypes.OCI_INDEX,
    )  # fmt: skip

    assert await oci.referrers("team/referred", subject.digest) == [listed]
