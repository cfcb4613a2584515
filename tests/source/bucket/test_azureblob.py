"""The Azure Blob client Bucket uses, against Azurite on 127.0.0.1."""

from __future__ import annotations

import datetime
import pathlib
import ssl
from collections.abc import Iterator

import pytest
from aiohttp import test_utils
from azure.storage.blob import ContainerSasPermissions, generate_container_sas
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from yarl import URL

from controllers.source.bucket import azureblob, clients, tokens
from tests.fixtures import azurite as azurite_fixtures
from tests.fixtures import credentials, oauthissuer

azurite = azurite_fixtures.azurite
Azurite = azurite_fixtures.Azurite


def _container(
    server: Azurite, name: str, auth: azureblob.Auth, *, ssl_context: ssl.SSLContext | None = None
) -> azureblob.Container:
    return azureblob.Container(
        endpoint=URL(server.endpoint), container=name, auth=auth,
        transport=clients.Transport(ssl_context=ssl_context), page_size=2,
    )  # fmt: skip


async def test_shared_key_lists_pages_under_the_prefix_and_downloads(
    azurite: Azurite, tmp_path: pathlib.Path
) -> None:
    azurite.put("paged", {f"deploy/{i} x.yaml": f"n: {i}\n" for i in range(5)} | {"x.txt": "x"})
    sdk = {b.name: b.etag for b in azurite.service().get_container_client("paged").list_blobs()}
    container = _container(azurite, "paged", azureblob.SharedKey(azurite_fixtures.ACCOUNT_KEY))
    try:
        listed = await container.list("deploy/")
        assert sorted(listed) == [f"deploy/{i} x.yaml" for i in range(5)]
        # Flux writes the hex of the ETag text, so revisions agree with it.
        assert listed["deploy/3 x.yaml"] == sdk["deploy/3 x.yaml"].encode().hex()
        assert await container.download("deploy/3 x.yaml", tmp_path / "out" / "3.yaml")
        assert (tmp_path / "out" / "3.yaml").read_text() == "n: 3\n"
        assert not await container.download("gone", tmp_path / "g", optional=True)
        with pytest.raises(clients.NotFoundError, match="failed to get 'gone' object: 404"):
            await container.download("gone", tmp_path / "g")
    finally:
        await container.close()


async def test_missing_container_and_wrong_key_are_bucket_errors(azurite: Azurite) -> None:
    missing = _container(azurite, "nowhere", azureblob.SharedKey(azurite_fixtures.ACCOUNT_KEY))
    wrong = _container(azurite, "paged", azureblob.SharedKey("d3Jvbmcta2V5"))
    try:
        with pytest.raises(clients.NotFoundError, match="bucket 'nowhere' not found"):
            await missing.list(None)
        with pytest.raises(clients.BucketError, match="403") as refused:
            await wrong.list(None)
        assert "d3Jvbmcta2V5" not in str(refused.value)
    finally:
        await missing.close()
        await wrong.close()


async def test_sas_token_reads_and_a_token_without_list_is_refused(azurite: Azurite) -> None:
    azurite.put("sas", {"a.yaml": "a: 1\n"})

    def sas(permission: ContainerSasPermissions) -> str:
        return str(
            generate_container_sas(
                azurite_fixtures.ACCOUNT, "sas", account_key=azurite_fixtures.ACCOUNT_KEY,
                permission=permission,
                expiry=datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1),
            )
        )  # fmt: skip

    read_list = ContainerSasPermissions(read=True, list=True)
    readable = _container(azurite, "sas", azureblob.Sas("?" + sas(read_list)))
    no_list = _container(azurite, "sas", azureblob.Sas(sas(ContainerSasPermissions(read=True))))
    try:
        assert list(await readable.list(None)) == ["a.yaml"]
        with pytest.raises(clients.BucketError, match="403"):
            await no_list.list(None)
    finally:
        await readable.close()
        await no_list.close()


async def test_anonymous_reads_a_public_container_only(azurite: Azurite) -> None:
    azurite.put("public", {"p.yaml": "p: 1\n"}, public=True)
    azurite.put("private", {"q.yaml": "q: 1\n"})
    public = _container(azurite, "public", None)
    private = _container(azurite, "private", None)
    try:
        assert list(await public.list(None)) == ["p.yaml"]
        with pytest.raises(clients.BucketError):
            await private.list(None)
    finally:
        await public.close()
        await private.close()


@pytest.fixture(scope="module")
def tls_azurite(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Azurite, credentials.TlsMaterial]]:
    material = credentials.make_tls_material(tmp_path_factory.mktemp("azurite-tls"))
    workdir = tmp_path_factory.mktemp("azurite-oauth")
    with azurite_fixtures.start_azurite(workdir, tls=material, oauth=True) as server:
        yield server, material


async def test_service_principal_secret_gets_a_token_and_reads_over_tls(
    tls_azurite: tuple[Azurite, credentials.TlsMaterial],
) -> None:
    server, material = tls_azurite
    server.put("oauth", {"o.yaml": "o: 1\n"})
    issuer = oauthissuer.OAuthIssuer(clients={"app-id": "app-secret"})
    trust = ssl.create_default_context(cafile=str(material.ca_cert))
    async with test_utils.TestServer(issuer.app(), host="127.0.0.1") as entra:
        authority = f"http://127.0.0.1:{entra.port}/"

        def principal(secret: str) -> azureblob.Bearer:
            return azureblob.Bearer(tokens.azure_client_secret(
                tenant="tenant-1", client="app-id", secret=secret, authority=authority,
                transport=clients.Transport(),
            ))  # fmt: skip

        good = _container(server, "oauth", principal("app-secret"), ssl_context=trust)
        bad = _container(server, "oauth", principal("wrong"), ssl_context=trust)
        untrusted = _container(server, "oauth", principal("app-secret"))
        try:
            assert list(await good.list(None)) == ["o.yaml"]
            with pytest.raises(tokens.CredentialsError, match="401 AADSTS7000215") as refused:
                await bad.list(None)
            assert "wrong" not in str(refused.value)
            with pytest.raises(clients.BucketError, match="CERTIFICATE_VERIFY_FAILED"):
                await untrusted.list(None)
        finally:
            for container in (good, bad, untrusted):
                await container.close()
    first = issuer.grants[0]
    assert first["scope"] == "https://storage.azure.com/.default"
    assert (first["grant_type"], first["client_id"]) == ("client_credentials", "app-id")


@pytest.mark.parametrize(
    ("endpoint", "account"),
    [
        ("https://podinfo.blob.core.windows.net", "podinfo"),
        ("https://podinfo.blob.core.windows.net/?sv=x", "podinfo"),
        ("http://127.0.0.1:10000/devstoreaccount1", "devstoreaccount1"),
        ("http://localhost:10000/devstoreaccount1/", "devstoreaccount1"),
    ],
)
def test_account_name_is_the_first_label_or_the_emulators_path(endpoint: str, account: str) -> None:
    assert azureblob.account_name(URL(endpoint)) == account


@pytest.mark.parametrize("endpoint", ["https://example.com", "http://127.0.0.1:10000/"])
def test_an_endpoint_without_an_account_is_refused(endpoint: str) -> None:
    with pytest.raises(clients.BucketError, match="failed to extract account name"):
        azureblob.account_name(URL(endpoint))


def test_sas_values_win_over_the_endpoints_query() -> None:
    endpoint = URL("https://a.blob.core.windows.net/?sv=old&x=1")
    merged = azureblob.merge_sas(endpoint, "?sv=new&sig=s")
    assert dict(merged.query) == {"sv": "new", "x": "1", "sig": "s"}


async def test_workload_identity_exchanges_the_federated_token(
    tls_azurite: tuple[Azurite, credentials.TlsMaterial], tmp_path: pathlib.Path
) -> None:
    server, material = tls_azurite
    server.put("federated", {"f.yaml": "f: 1\n"})
    token_file = tmp_path / "azure-identity-token"
    token_file.write_text("eyJhbGciOiJSUzI1NiJ9.projected.c2ln\n")
    issuer = oauthissuer.OAuthIssuer(assertions=frozenset({"eyJhbGciOiJSUzI1NiJ9.projected.c2ln"}))
    trust = ssl.create_default_context(cafile=str(material.ca_cert))
    async with test_utils.TestServer(issuer.app(), host="127.0.0.1") as entra:

        def identity(path: pathlib.Path) -> azureblob.Bearer:
            return azureblob.Bearer(tokens.azure_federated(
                tenant="tenant-1", client="wi-client", token_file=str(path),
                authority=f"http://127.0.0.1:{entra.port}", transport=clients.Transport(),
            ))  # fmt: skip

        good = _container(server, "federated", identity(token_file), ssl_context=trust)
        missing = _container(server, "federated", identity(tmp_path / "absent"), ssl_context=trust)
        try:
            assert list(await good.list(None)) == ["f.yaml"]
            with pytest.raises(tokens.CredentialsError, match="reading the federated token"):
                await missing.list(None)
        finally:
            await good.close()
            await missing.close()
    grant = issuer.grants[0]
    assert grant["client_id"] == "wi-client"
    assert grant["client_assertion"] == "eyJhbGciOiJSUzI1NiJ9.projected.c2ln"
    assert "client_secret" not in grant


def _self_signed(password: bytes | None) -> tuple[x509.Certificate, bytes]:
    """A certificate and the PEM Entra ID's clientCertificate holds: certificate, then key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "flux-sp")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    encryption: serialization.KeySerializationEncryption = serialization.NoEncryption()
    if password:
        encryption = serialization.BestAvailableEncryption(password)
    pem_key = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                encryption)  # fmt: skip
    return cert, cert.public_bytes(serialization.Encoding.PEM) + pem_key


async def test_service_principal_certificate_signs_the_assertion(
    tls_azurite: tuple[Azurite, credentials.TlsMaterial],
) -> None:
    server, material = tls_azurite
    server.put("certified", {"c.yaml": "c: 1\n"})
    cert, pem = _self_signed(b"pfx-password")
    _, other_pem = _self_signed(None)
    issuer = oauthissuer.OAuthIssuer(certificates={"sp": cert})
    trust = ssl.create_default_context(cafile=str(material.ca_cert))
    async with test_utils.TestServer(issuer.app(), host="127.0.0.1") as entra:

        def principal(certificate: bytes, password: bytes | None) -> azureblob.Bearer:
            return azureblob.Bearer(tokens.azure_client_certificate(
                tenant="tenant-1", client="sp", certificate=certificate, password=password,
                send_chain=False, authority=f"http://127.0.0.1:{entra.port}/",
                transport=clients.Transport(),
            ))  # fmt: skip

        good = _container(server, "certified", principal(pem, b"pfx-password"), ssl_context=trust)
        unknown = _container(server, "certified", principal(other_pem, None), ssl_context=trust)
        try:
            assert list(await good.list(None)) == ["c.yaml"]
            with pytest.raises(tokens.CredentialsError, match="401"):
                await unknown.list(None)
        finally:
            await good.close()
            await unknown.close()
    with pytest.raises(tokens.CredentialsError, match="failed to parse client certificates"):
        principal(pem, b"wrong-password")


async def test_a_pkcs12_client_certificate_is_read_with_its_password(
    tls_azurite: tuple[Azurite, credentials.TlsMaterial],
) -> None:
    server, material = tls_azurite
    server.put("pkcs12", {"k.yaml": "k: 1\n"})
    cert, pem = _self_signed(None)
    key = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    bundle = pkcs12.serialize_key_and_certificates(
        b"sp", key, cert, None, serialization.BestAvailableEncryption(b"pw")
    )
    issuer = oauthissuer.OAuthIssuer(certificates={"sp": cert})
    async with test_utils.TestServer(issuer.app(), host="127.0.0.1") as entra:

        def principal(password: bytes) -> tokens.Source:
            return tokens.azure_client_certificate(
                tenant="t", client="sp", certificate=bundle, password=password, send_chain=True,
                authority=f"http://127.0.0.1:{entra.port}/", transport=clients.Transport(),
            )  # fmt: skip

        trust = ssl.create_default_context(cafile=str(material.ca_cert))
        container = _container(
            server, "pkcs12", azureblob.Bearer(principal(b"pw")), ssl_context=trust
        )
        try:
            assert list(await container.list(None)) == ["k.yaml"]
        finally:
            await container.close()
        with pytest.raises(tokens.CredentialsError, match="failed to parse client certificates"):
            principal(b"not-it")
