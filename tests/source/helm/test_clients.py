"""HTTP access to a chart repository: credentials, TLS, conditional index fetches, size limits."""

from __future__ import annotations

import pathlib
from collections.abc import AsyncIterator

import aiohttp
import pytest

from controllers.source.helm import clients, errors
from tests.fixtures import chartrepos, credentials


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as opened:
        yield opened


def test_credentials_go_to_other_hosts_only_with_pass_credentials() -> None:
    secret = {"username": b"u", "password": b"p"}
    own = clients.options_for("https://charts.example/stable/", secret=secret)
    assert own.url == "https://charts.example/stable"
    assert own.auth_for("https://charts.example/stable/a-1.0.0.tgz") == {
        "Authorization": "Basic dTpw"
    }
    assert own.auth_for("https://cdn.example/a-1.0.0.tgz") == {}
    passing = clients.options_for("https://charts.example", secret=secret, pass_credentials=True)
    assert passing.auth_for("https://cdn.example/a-1.0.0.tgz") == {"Authorization": "Basic dTpw"}


def test_half_a_basic_auth_secret_is_refused() -> None:
    with pytest.raises(errors.AuthError, match="required fields username, password"):
        clients.options_for("https://charts.example", secret={"username": b"u"})


def test_an_oci_url_is_not_a_default_repository() -> None:
    with pytest.raises(errors.InvalidUrlError) as refused:
        clients.normalize_url("oci://registry.example/charts")
    assert refused.value.stalling
    assert "'oci' URL scheme cannot be used with 'default' HelmRepository type" in str(
        refused.value
    )


async def test_the_index_is_fetched_once_then_answered_not_modified(
    tmp_path: pathlib.Path, session: aiohttp.ClientSession
) -> None:
    with chartrepos.serving(tmp_path / "repo", basic=("u", "p")) as repo:
        body = repo.write_index()
        options = clients.options_for(repo.url, secret={"username": b"u", "password": b"p"})
        first = await clients.fetch_index(session, options, etag=None, max_size=1 << 20)
        assert first.body == body
        assert first.digest is not None
        assert first.digest.startswith("sha256:")
        again = await clients.fetch_index(session, options, etag=first.etag, max_size=1 << 20)
        assert again.not_modified
        assert again.body is None
        assert [status for _, _, status in repo.requests] == [200, 304]

        wrong = clients.options_for(repo.url, secret={"username": b"u", "password": b"x"})
        with pytest.raises(errors.FetchError) as refused:
            await clients.fetch_index(session, wrong, etag=None, max_size=1 << 20)
        assert str(refused.value) == f"failed to fetch {repo.url}/index.yaml : 401 Unauthorized"


async def test_an_index_over_the_limit_is_refused_while_it_streams(
    tmp_path: pathlib.Path, session: aiohttp.ClientSession
) -> None:
    with chartrepos.serving(tmp_path / "repo") as repo:
        repo.write_index(extra={"padding": "x" * 10_000})
        with pytest.raises(errors.FetchError, match="index exceeds the maximum index size of 1000"):
            await clients.fetch_index(
                session, clients.options_for(repo.url), etag=None, max_size=1000
            )


async def test_tls_from_cert_secret_ref_and_from_the_deprecated_secret_ref_keys(
    tmp_path: pathlib.Path, session: aiohttp.ClientSession
) -> None:
    tls = credentials.make_tls_material(tmp_path / "tls")
    with chartrepos.serving(tmp_path / "repo", tls=(tls.server_cert, tls.server_key)) as repo:
        repo.write_index()
        with pytest.raises(errors.FetchError, match="certificate verify failed"):
            await clients.fetch_index(
                session, clients.options_for(repo.url), etag=None, max_size=1 << 20
            )
        ca = tls.ca_cert.read_bytes()
        current = clients.options_for(repo.url, cert_secret={"ca.crt": ca})
        assert not current.deprecated_tls
        assert not (
            await clients.fetch_index(session, current, etag=None, max_size=1 << 20)
        ).not_modified
        legacy = clients.options_for(
            repo.url,
            secret={
                "caFile": ca,
                "certFile": tls.client_cert.read_bytes(),
                "keyFile": tls.client_key.read_bytes(),
            },
        )
        assert legacy.deprecated_tls
        assert (await clients.fetch_index(session, legacy, etag=None, max_size=1 << 20)).body


def test_a_bad_ca_is_an_authentication_failure() -> None:
    with pytest.raises(errors.AuthError) as refused:
        clients.options_for("https://charts.example", cert_secret={"ca.crt": b"not a pem"})
    assert refused.value.reason == "AuthenticationFailed"
