"""Authentication and TLS: htpasswd over TLS on the real registry, the token flow on a fake."""

from __future__ import annotations

import asyncio
import collections.abc
import pathlib

import aiohttp
import pytest

from shared.oci import challenges, client, credentials, errors, mediatypes, tls, tokens, transport
from tests.fixtures import commands
from tests.fixtures import credentials as credentials_fixtures
from tests.fixtures import registry as registry_fixtures
from tests.oci import fakeregistry


def _secure_client(
    registry: registry_fixtures.Registry,
    session: aiohttp.ClientSession,
    cache: tokens.TokenCache,
    *,
    password: str | None = None,
    anonymous: bool = False,
) -> client.Client:
    assert registry.tls is not None
    creds = None
    if not anonymous:
        creds = credentials.Credentials(
            username=registry.username,
            password=registry.password if password is None else password,
        )
    connection = transport.Connection(
        host=registry.host,
        credentials=creds,
        ssl_context=tls.context(ca=registry.tls.ca_cert.read_bytes()),
    )
    return client.Client(session, connection, token_cache=cache)


async def test_basic_auth_over_tls_pushes_and_pulls(
    secure_registry: registry_fixtures.Registry,
    session: aiohttp.ClientSession,
    token_cache: tokens.TokenCache,
) -> None:
    oci = _secure_client(secure_registry, session, token_cache)

    blob = await oci.push_blob("secure/app", b"secret layer", chunk_size=4)
    async with oci.open_blob("secure/app", blob.digest) as reader:
        assert b"".join([chunk async for chunk in reader.chunks()]) == b"secret layer"
    assert token_cache.challenge(secure_registry.host) == _basic_challenge()


async def test_wrong_password_is_unauthorized_with_the_registry_message(
    secure_registry: registry_fixtures.Registry,
    session: aiohttp.ClientSession,
    token_cache: tokens.TokenCache,
) -> None:
    oci = _secure_client(secure_registry, session, token_cache, password="wrong")

    with pytest.raises(errors.UnauthorizedError) as raised:
        await oci.list_tags("secure/app")

    assert raised.value.status == 401
    assert raised.value.code == "UNAUTHORIZED"
    assert str(raised.value) == (
        f"listing tags of {secure_registry.host}/secure/app: 401 UNAUTHORIZED: "
        "authentication required"
    )
    assert "wrong" not in str(raised.value)


async def test_no_credentials_on_a_protected_registry_is_unauthorized(
    secure_registry: registry_fixtures.Registry,
    session: aiohttp.ClientSession,
    token_cache: tokens.TokenCache,
) -> None:
    oci = _secure_client(secure_registry, session, token_cache, anonymous=True)

    with pytest.raises(errors.UnauthorizedError, match="authentication required"):
        await oci.get_manifest("secure/app", "latest")


async def test_server_certificate_from_an_unknown_ca_is_a_transport_error(
    secure_registry: registry_fixtures.Registry,
    session: aiohttp.ClientSession,
    token_cache: tokens.TokenCache,
) -> None:
    connection = transport.Connection(host=secure_registry.host)
    oci = client.Client(session, connection, token_cache=token_cache)

    with pytest.raises(errors.TransportError, match="CERTIFICATE_VERIFY_FAILED"):
        await oci.list_tags("secure/app")


async def test_client_certificate_from_the_bundle_passes_mutual_tls(
    tmp_path: pathlib.Path, session: aiohttp.ClientSession, token_cache: tokens.TokenCache
) -> None:
    material = credentials_fixtures.make_tls_material(tmp_path / "tls")
    mutual = registry_fixtures.start_registry(tmp_path / "registry", tls=material, client_ca=True)
    try:
        ca, cert, key = (
            material.ca_cert.read_bytes(),
            material.client_cert.read_bytes(),
            material.client_key.read_bytes(),
        )
        with_cert = transport.Connection(
            host=mutual.host, ssl_context=tls.context(ca=ca, cert=cert, key=key)
        )
        without = transport.Connection(host=mutual.host, ssl_context=tls.context(ca=ca))

        oci = client.Client(session, with_cert, token_cache=token_cache)
        assert await oci.blob_exists("mtls/app", fakeregistry.digest_of(b"none")) is False
        refused = client.Client(session, without, token_cache=token_cache)
        with pytest.raises(errors.TransportError):
            await refused.list_tags("mtls/app")
    finally:
        commands.stop(mutual.process)


def test_invalid_tls_bundle_is_refused() -> None:
    with pytest.raises(errors.InvalidTLSError, match=r"ca\.crt"):
        tls.context(ca=b"not a certificate")
    with pytest.raises(errors.InvalidTLSError, match="together"):
        tls.context(cert=b"-----BEGIN CERTIFICATE-----")


def _basic_challenge() -> challenges.Challenge:
    return challenges.Challenge(scheme="basic", params={"realm": "headwater-test"})


# --- the token flow (fake registry and token server) -----------------------------------------


@pytest.fixture
async def bearer_registry() -> collections.abc.AsyncIterator[fakeregistry.FakeRegistry]:
    fake = fakeregistry.FakeRegistry(bearer=True, tags={"team/app": ["1", "2"]})
    async with fakeregistry.serving(fake):
        yield fake


def _fake_client(
    fake: fakeregistry.FakeRegistry,
    session: aiohttp.ClientSession,
    cache: tokens.TokenCache,
    creds: credentials.Credentials | None = None,
) -> client.Client:
    connection = transport.Connection(host=fake.host, plain_http=True, credentials=creds)
    return client.Client(session, connection, token_cache=cache)


def _robot_client(
    fake: fakeregistry.FakeRegistry,
    session: aiohttp.ClientSession,
    cache: tokens.TokenCache,
    *,
    password: str,
) -> client.Client:
    """The token server knows ``robot:token-pass``; a client logging in as robot."""
    fake.users = {"robot": "token-pass"}
    return _fake_client(fake, session, cache, credentials.Credentials("robot", password))


async def test_anonymous_token_is_fetched_once_and_reused(
    bearer_registry: fakeregistry.FakeRegistry,
    session: aiohttp.ClientSession,
    token_cache: tokens.TokenCache,
) -> None:
    oci = _fake_client(bearer_registry, session, token_cache)

    assert await oci.list_tags("team/app") == ["1", "2"]
    assert await oci.list_tags("team/app") == ["1", "2"]

    assert bearer_registry.token_requests == [
        {"service": "fake-registry", "scope": "repository:team/app:pull"}
    ]
    # one 401, then every request (the second list too) carries the cached token
    assert bearer_registry.requests.count("GET /v2/team/app/tags/list") == 3


async def test_concurrent_requests_share_one_token_fetch(
    bearer_registry: fakeregistry.FakeRegistry,
    session: aiohttp.ClientSession,
    token_cache: tokens.TokenCache,
) -> None:
    oci = _fake_client(bearer_registry, session, token_cache)

    listed = await asyncio.gather(*(oci.list_tags("team/app") for _ in range(5)))

    assert listed == [["1", "2"]] * 5
    assert len(bearer_registry.token_requests) == 1


async def test_token_is_fetched_with_basic_credentials(
    bearer_registry: fakeregistry.FakeRegistry,
    session: aiohttp.ClientSession,
    token_cache: tokens.TokenCache,
) -> None:
    oci = _robot_client(bearer_registry, session, token_cache, password="token-pass")

    assert await oci.list_tags("team/app") == ["1", "2"]
    assert list(bearer_registry.issued.values()) == ["repository:team/app:pull"]


async def test_token_server_refusing_credentials_is_unauthorized_with_its_message(
    bearer_registry: fakeregistry.FakeRegistry,
    session: aiohttp.ClientSession,
    token_cache: tokens.TokenCache,
) -> None:
    oci = _robot_client(bearer_registry, session, token_cache, password="nope")

    with pytest.raises(errors.UnauthorizedError, match="401: incorrect username or password"):
        await oci.list_tags("team/app")


async def test_tokens_are_cached_per_scope_and_refetched_after_expiry(
    bearer_registry: fakeregistry.FakeRegistry, session: aiohttp.ClientSession
) -> None:
    now = [1000.0]
    cache = tokens.TokenCache(clock=lambda: now[0])
    bearer_registry.expires_in = 60
    bearer_registry.tags["team/other"] = ["x"]
    oci = _fake_client(bearer_registry, session, cache)

    await oci.list_tags("team/app")
    await oci.list_tags("team/other")  # another scope: its own token, no 401 first
    await oci.list_tags("team/app")
    now[0] += 60
    await oci.list_tags("team/app")

    assert [request["scope"] for request in bearer_registry.token_requests] == [
        "repository:team/app:pull",
        "repository:team/other:pull",
        "repository:team/app:pull",
    ]
    assert bearer_registry.requests.count("GET /v2/team/other/tags/list") == 1


async def test_a_refused_cached_token_is_replaced_once(
    bearer_registry: fakeregistry.FakeRegistry,
    session: aiohttp.ClientSession,
    token_cache: tokens.TokenCache,
) -> None:
    oci = _fake_client(bearer_registry, session, token_cache)
    await oci.list_tags("team/app")

    bearer_registry.issued.clear()  # the registry revokes every token
    assert await oci.list_tags("team/app") == ["1", "2"]

    assert len(bearer_registry.token_requests) == 2


async def test_registry_token_from_the_secret_is_sent_as_is(
    bearer_registry: fakeregistry.FakeRegistry,
    session: aiohttp.ClientSession,
    token_cache: tokens.TokenCache,
) -> None:
    bearer_registry.issued["preissued"] = "repository:team/app:pull"
    oci = _fake_client(
        bearer_registry, session, token_cache, credentials.Credentials(token="preissued")
    )

    assert await oci.list_tags("team/app") == ["1", "2"]
    assert bearer_registry.token_requests == []


async def test_pushing_asks_for_a_push_scope(
    bearer_registry: fakeregistry.FakeRegistry,
    session: aiohttp.ClientSession,
    token_cache: tokens.TokenCache,
) -> None:
    oci = _fake_client(bearer_registry, session, token_cache)

    pushed = await oci.push_manifest("team/app", "3", b"{}", media_type=mediatypes.OCI_MANIFEST)

    assert bearer_registry.manifests["team/app:3"] == (mediatypes.OCI_MANIFEST, b"{}")
    assert pushed.digest == fakeregistry.digest_of(b"{}")
    assert [request["scope"] for request in bearer_registry.token_requests] == [
        "repository:team/app:pull,push"
    ]
