"""The S3 client Bucket uses, against moto's S3 server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import pathlib
from collections.abc import Iterator

import pytest
from aiohttp import test_utils, web

from controllers.source.bucket import clients, reconciler, s3, sts
from tests.fixtures import countingproxy, credentials
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


@pytest.fixture(scope="module")
def tls_s3_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[s3_fixtures.S3Server, credentials.TlsMaterial]]:
    material = credentials.make_tls_material(tmp_path_factory.mktemp("s3-tls"))
    with s3_fixtures.start_s3_server(tls=material) as server:
        yield server, material


async def test_a_private_ca_from_cert_secret_ref_is_trusted(
    tls_s3_server: tuple[s3_fixtures.S3Server, credentials.TlsMaterial],
) -> None:
    server, material = tls_s3_server
    server.client().create_bucket(Bucket="tls")
    server.put("tls", {"a.yaml": "a: 1\n"})
    keys = s3.Credentials(s3_fixtures.ACCESS_KEY, s3_fixtures.SECRET_KEY)
    trusted = s3.Bucket(
        endpoint=server.endpoint, bucket="tls", region=None, insecure=False, credentials=keys,
        tls=s3.Tls(ca=material.ca_cert.read_bytes()),
    )  # fmt: skip
    untrusted = s3.Bucket(endpoint=server.endpoint, bucket="tls", region=None, insecure=False,
                          credentials=keys)  # fmt: skip
    try:
        assert list(await trusted.list(None)) == ["a.yaml"]
        with pytest.raises(s3.BucketError, match="CERTIFICATE_VERIFY_FAILED"):
            await untrusted.list(None)
    finally:
        await trusted.close()
        await untrusted.close()


async def test_requests_go_through_the_proxy(s3_server: s3_fixtures.S3Server) -> None:
    s3_server.client().create_bucket(Bucket="proxied")
    s3_server.put("proxied", {"p.yaml": "p: 1\n"})
    with countingproxy.counting_proxy() as proxy:
        bucket = s3.Bucket(
            endpoint=s3_server.endpoint, bucket="proxied", region=None, insecure=True,
            credentials=s3.Credentials(s3_fixtures.ACCESS_KEY, s3_fixtures.SECRET_KEY),
            proxy=proxy.url,
        )  # fmt: skip
        try:
            assert list(await bucket.list(None)) == ["p.yaml"]
        finally:
            await bucket.close()
        assert ("HEAD", "/proxied") in proxy.requests
        assert ("GET", "/proxied") in proxy.requests


async def test_ldap_sts_keys_sign_the_requests(s3_server: s3_fixtures.S3Server) -> None:
    """MinIO's STS is faked at the boundary; moto's server takes the temporary keys."""
    s3_server.client().create_bucket(Bucket="ldap")
    s3_server.put("ldap", {"l.yaml": "l: 1\n"})
    forms: list[dict[str, str]] = []

    async def assume(request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        forms.append(form)
        if form.get("LDAPPassword") != "right":
            return web.Response(status=400, text=_STS_ERROR, content_type="application/xml")
        return web.Response(text=_STS_ANSWER, content_type="application/xml")

    app = web.Application()
    app.router.add_post("/", assume)
    async with test_utils.TestServer(app, host="127.0.0.1") as minio_sts:
        endpoint = f"http://127.0.0.1:{minio_sts.port}"
        keys = await sts.ldap_credentials(
            endpoint, username="alice", password="right", transport=clients.Transport()
        )
        with pytest.raises(clients.BucketError, match="400 invalid LDAP credentials") as refused:
            await sts.ldap_credentials(
                endpoint, username="alice", password="wrong", transport=clients.Transport()
            )
    assert "wrong" not in str(refused.value)
    assert keys == s3.Credentials("TEMPKEY", "TEMPSECRET", "TEMPTOKEN")
    assert forms[0] == {"Action": "AssumeRoleWithLDAPIdentity", "Version": "2011-06-15",
                        "LDAPUsername": "alice", "LDAPPassword": "right"}  # fmt: skip
    bucket = s3.Bucket(endpoint=s3_server.endpoint, bucket="ldap", region=None, insecure=True,
                       credentials=keys)  # fmt: skip
    try:
        assert list(await bucket.list(None)) == ["l.yaml"]
    finally:
        await bucket.close()


_STS_ANSWER = """<?xml version="1.0" encoding="UTF-8"?>
<AssumeRoleWithLDAPIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithLDAPIdentityResult><Credentials>
    <AccessKeyId>TEMPKEY</AccessKeyId><SecretAccessKey>TEMPSECRET</SecretAccessKey>
    <SessionToken>TEMPTOKEN</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration>
  </Credentials></AssumeRoleWithLDAPIdentityResult>
</AssumeRoleWithLDAPIdentityResponse>"""
_STS_ERROR = """<?xml version="1.0" encoding="UTF-8"?>
<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <Error><Type>Sender</Type><Code>InvalidParameterValue</Code>
  <Message>invalid LDAP credentials</Message></Error>
</ErrorResponse>"""


@pytest.mark.parametrize(
    ("key", "where"),
    [("a/b.yaml", "a/b.yaml"), ("../../etc/x", "etc/x"), ("/abs/y", "abs/y"), ("a/../b", "b")],
)
def test_object_keys_stay_inside_the_tree(key: str, where: str, tmp_path: pathlib.Path) -> None:
    assert reconciler.local_path(tmp_path, key) == tmp_path / where


def test_a_key_naming_the_root_is_refused(tmp_path: pathlib.Path) -> None:
    with pytest.raises(clients.BucketError, match=r"failed to resolve path for '\.\.' object"):
        reconciler.local_path(tmp_path, "..")


async def test_web_identity_keys_from_aws_sts(s3_server: s3_fixtures.S3Server) -> None:
    """moto's STS (served on the S3 server's port) answers AssumeRoleWithWebIdentity."""
    keys = await sts.web_identity_credentials(
        f"http://{s3_server.endpoint}", role_arn="arn:aws:iam::123456789012:role/flux",
        token="eyJhbGciOiJSUzI1NiJ9.e30.c2ln", session="source-controller",
        transport=clients.Transport(),
    )  # fmt: skip

    assert keys.access_key.startswith("ASIA")
    assert keys.secret_key
    assert keys.session_token
