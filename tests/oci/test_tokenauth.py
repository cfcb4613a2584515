"""The bearer token flow against the real registry in ``auth: token`` mode."""

from __future__ import annotations

import collections.abc
import pathlib

import aiohttp
import pytest

from shared.oci import client, credentials, errors, tokens, transport
from tests.fixtures import registry as registry_fixtures
from tests.fixtures import tokenissuer

TokenRegistry = registry_fixtures.TokenRegistry


@pytest.fixture
async def token_registry(tmp_path: pathlib.Path) -> collections.abc.AsyncIterator[TokenRegistry]:
    async with registry_fixtures.token_registry(tmp_path, users={"robot": "robot-pass"}) as served:
        yield served


def _client(
    served: TokenRegistry,
    session: aiohttp.ClientSession,
    cache: tokens.TokenCache,
    creds: credentials.Credentials | None,
) -> client.Client:
    connection = transport.Connection(host=served.registry.host, plain_http=True, credentials=creds)
    return client.Client(session, connection, token_cache=cache)


async def test_push_and_pull_with_tokens_from_the_token_server(
    token_registry: TokenRegistry,
    session: aiohttp.ClientSession,
    token_cache: tokens.TokenCache,
) -> None:
    oci = _client(
        token_registry, session, token_cache, credentials.Credentials("robot", "robot-pass")
    )

    pushed = await oci.push_blob("tokens/app", b"token layer")
    async with oci.open_blob("tokens/app", pushed.digest) as blob:
        assert b"".join([chunk async for chunk in blob.chunks()]) == b"token layer"

    assert [request["scope"] for request in token_registry.issuer.requests] == [
        "repository:tokens/app:pull",  # the HEAD before the upload
        "repository:tokens/app:pull,push",
    ]
    assert {request["service"] for request in token_registry.issuer.requests} == {
        tokenissuer.SERVICE
    }


async def test_a_token_without_the_needed_access_is_unauthorized(
    token_registry: TokenRegistry,
    session: aiohttp.ClientSession,
    token_cache: tokens.TokenCache,
) -> None:
    token = token_registry.issuer.token("robot", "repository:other/app:pull")
    oci = _client(token_registry, session, token_cache, credentials.Credentials(token=token))

    with pytest.raises(errors.UnauthorizedError, match="tokens/app: 401 UNAUTHORIZED"):
        await oci.list_tags("tokens/app")


async def test_wrong_password_at_the_token_server_is_unauthorized(
    token_registry: TokenRegistry,
    session: aiohttp.ClientSession,
    token_cache: tokens.TokenCache,
) -> None:
    oci = _client(token_registry, session, token_cache, credentials.Credentials("robot", "bad"))

    with pytest.raises(errors.UnauthorizedError, match="invalid username or password"):
        await oci.list_tags("tokens/app")
