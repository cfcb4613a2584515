"""The GCS client Bucket uses, against gcp-storage-emulator on 127.0.0.1."""

from __future__ import annotations

import json
import pathlib

import pytest
from aiohttp import test_utils, web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from yarl import URL

from controllers.source.bucket import clients, gcs, tokens
from tests.fixtures import countingproxy, gcsemulator, oauthissuer

gcs_emulator = gcsemulator.gcs_emulator


def _bucket(endpoint: str, name: str, token: tokens.Source | None = None) -> gcs.Bucket:
    return gcs.Bucket(
        endpoint=clients.endpoint_url(endpoint, insecure=True), bucket=name, token=token,
        transport=clients.Transport(),
    )  # fmt: skip


async def test_lists_under_the_prefix_with_the_apis_etags_and_downloads(
    gcs_emulator: gcsemulator.GcsEmulator, tmp_path: pathlib.Path
) -> None:
    gcs_emulator.create_bucket("listed")
    etags = gcs_emulator.put("listed", {"deploy/a b.yaml": "a: 1\n", "deploy/c.yaml": "c: 1\n",
                                        "other.yaml": "o: 1\n"})  # fmt: skip
    bucket = _bucket(gcs_emulator.endpoint, "listed")
    try:
        listed = await bucket.list("deploy/")
        assert listed == {k: v for k, v in etags.items() if k.startswith("deploy/")}
        assert await bucket.download("deploy/a b.yaml", tmp_path / "x" / "a.yaml")
        assert (tmp_path / "x" / "a.yaml").read_text() == "a: 1\n"
        assert not await bucket.download("gone", tmp_path / "g", optional=True)
        with pytest.raises(clients.NotFoundError, match="failed to get 'gone' object: 404"):
            await bucket.download("gone", tmp_path / "g")
    finally:
        await bucket.close()


async def test_missing_bucket_is_not_found(gcs_emulator: gcsemulator.GcsEmulator) -> None:
    bucket = _bucket(gcs_emulator.endpoint, "nowhere")
    try:
        with pytest.raises(clients.NotFoundError, match="bucket 'nowhere' not found"):
            await bucket.list(None)
    finally:
        await bucket.close()


async def test_service_account_key_gets_a_signed_grant_and_one_token(
    gcs_emulator: gcsemulator.GcsEmulator, tmp_path: pathlib.Path
) -> None:
    gcs_emulator.create_bucket("private")
    gcs_emulator.put("private", {"k.yaml": "k: 1\n"})
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    issuer = oauthissuer.OAuthIssuer(google_public_key=key.public_key())
    async with test_utils.TestServer(issuer.app(), host="127.0.0.1") as google:
        token_uri = f"http://127.0.0.1:{google.port}/google/token"
        account = {
            "type": "service_account", "client_email": "flux@example.iam.gserviceaccount.com",
            "token_uri": token_uri, "private_key_id": "k1",
            "private_key": key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ).decode(),
        }  # fmt: skip
        source = tokens.google_service_account(json.dumps(account).encode(), clients.Transport())
        bucket = _bucket(gcs_emulator.endpoint, "private", source)
        try:
            assert list(await bucket.list(None)) == ["k.yaml"]
            assert await bucket.download("k.yaml", tmp_path / "k.yaml")
        finally:
            await bucket.close()
    assert len(issuer.google_claims) == 1  # the token is reused within its lifetime
    claims = issuer.google_claims[0]
    assert claims["iss"] == "flux@example.iam.gserviceaccount.com"
    assert claims["aud"] == token_uri
    assert claims["scope"] == "https://www.googleapis.com/auth/devstorage.read_only"


def test_a_malformed_service_account_key_is_a_credentials_error() -> None:
    with pytest.raises(tokens.CredentialsError, match="invalid service account key"):
        tokens.google_service_account(b'{"client_email": "x"}', clients.Transport())


async def test_listing_follows_next_page_tokens() -> None:
    """The emulator ignores maxResults: paging is shown against a fake of the JSON API."""
    seen: list[dict[str, str]] = []
    pages = {"": (["a", "b"], "p2"), "p2": (["c", "d"], "p3"), "p3": (["e"], "")}

    async def objects(request: web.Request) -> web.Response:
        seen.append(dict(request.query))
        names, following = pages[request.query.get("pageToken", "")]
        answer: dict[str, object] = {"items": [{"name": n, "etag": f"e-{n}"} for n in names]}
        if following:
            answer["nextPageToken"] = following
        return web.json_response(answer)

    async def bucket_attrs(request: web.Request) -> web.Response:
        return web.json_response({"name": request.match_info["bucket"]})

    app = web.Application()
    app.router.add_get("/storage/v1/b/{bucket}", bucket_attrs)
    app.router.add_get("/storage/v1/b/{bucket}/o", objects)
    async with test_utils.TestServer(app, host="127.0.0.1") as fake:
        bucket = gcs.Bucket(
            endpoint=URL(f"http://127.0.0.1:{fake.port}"), bucket="paged", token=None,
            transport=clients.Transport(), page_size=2,
        )  # fmt: skip
        try:
            listed = await bucket.list("p/")
        finally:
            await bucket.close()
    assert listed == {n: f"e-{n}" for n in "abcde"}
    assert [q.get("pageToken") for q in seen] == [None, "p2", "p3"]
    assert {(q["maxResults"], q["prefix"]) for q in seen} == {("2", "p/")}


async def test_requests_go_through_the_proxy(gcs_emulator: gcsemulator.GcsEmulator) -> None:
    gcs_emulator.create_bucket("proxied")
    gcs_emulator.put("proxied", {"p.yaml": "p: 1\n"})
    with countingproxy.counting_proxy() as proxy:
        bucket = gcs.Bucket(
            endpoint=clients.endpoint_url(gcs_emulator.endpoint, insecure=True),
            bucket="proxied", token=None, transport=clients.Transport(proxy=proxy.url),
        )  # fmt: skip
        try:
            assert list(await bucket.list(None)) == ["p.yaml"]
        finally:
            await bucket.close()
        assert ("GET", "/storage/v1/b/proxied/o") in proxy.requests
