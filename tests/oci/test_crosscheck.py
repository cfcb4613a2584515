"""The client against an independent one (PyPI ``python-dxf``) on the TLS + htpasswd registry.

What one pushes the other must read byte for byte, with the same digests.
python-dxf refuses credentials over plain HTTP, hence the secure registry.
python-dxf is synchronous: its calls run in a thread.
"""

from __future__ import annotations

import asyncio
import collections.abc
import pathlib
import typing

import aiohttp
import dxf
import pytest
import requests

from shared.oci import client, credentials, manifests, mediatypes, tls, tokens, transport
from tests.fixtures import registry as registry_fixtures


@pytest.fixture
def ours(
    secure_registry: registry_fixtures.Registry,
    session: aiohttp.ClientSession,
    token_cache: tokens.TokenCache,
) -> client.Client:
    assert secure_registry.tls is not None
    connection = transport.Connection(
        host=secure_registry.host,
        credentials=credentials.Credentials(secure_registry.username, secure_registry.password),
        ssl_context=tls.context(ca=secure_registry.tls.ca_cert.read_bytes()),
    )
    return client.Client(session, connection, token_cache=token_cache)


def _theirs(registry: registry_fixtures.Registry, repository: str) -> dxf.DXF:
    assert registry.tls is not None

    def login(session: dxf.DXFBase, response: requests.Response) -> None:
        session.authenticate(registry.username, registry.password, response=response)

    return dxf.DXF(registry.host, repository, auth=login, tlsverify=str(registry.tls.ca_cert))


async def test_what_python_dxf_pushes_the_client_reads(
    secure_registry: registry_fixtures.Registry, ours: client.Client, tmp_path: pathlib.Path
) -> None:
    theirs = _theirs(secure_registry, "cross/from-dxf")
    layer = tmp_path / "layer"
    layer.write_bytes(b"pushed by python-dxf" * 300)

    def push() -> str:
        digest: str = theirs.push_blob(str(layer))
        theirs.set_alias("v1", digest)
        return digest

    digest = await asyncio.to_thread(push)

    manifest = await ours.get_manifest("cross/from-dxf", "v1")
    assert manifest.media_type == mediatypes.DOCKER_MANIFEST
    assert [descriptor.digest for descriptor in manifest.layers] == [digest]
    target = tmp_path / "pulled"
    await ours.fetch_blob("cross/from-dxf", digest, target)
    assert target.read_bytes() == layer.read_bytes()
    assert await ours.list_tags("cross/from-dxf") == ["v1"]


async def test_what_the_client_pushes_python_dxf_reads(
    secure_registry: registry_fixtures.Registry, ours: client.Client
) -> None:
    content = b"pushed by headwater" * 300
    config = await ours.push_blob("cross/to-dxf", b"{}", media_type=mediatypes.OCI_EMPTY_CONFIG)
    blob = await ours.push_blob(
        "cross/to-dxf", content, media_type=mediatypes.OCI_LAYER_TAR_GZIP, chunk_size=1000
    )
    data = manifests.image_manifest(config=config, layers=[blob])
    pushed = await ours.push_manifest(
        "cross/to-dxf", "v2", data, media_type=mediatypes.OCI_MANIFEST
    )
    theirs = _theirs(secure_registry, "cross/to-dxf")

    def pull() -> tuple[bytes, str, list[str]]:
        chunks = typing.cast(collections.abc.Iterable[bytes], theirs.pull_blob(blob.digest))
        _, response = theirs.get_manifest_and_response("v2")
        return (
            b"".join(chunks),
            response.headers["Docker-Content-Digest"],
            list(theirs.list_aliases()),
        )

    pulled, digest, aliases = await asyncio.to_thread(pull)

    assert (pulled, digest, aliases) == (content, pushed.digest, ["v2"])
