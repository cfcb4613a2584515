"""Each HTTP auth kind against git http-backend (and dulwich's server) on 127.0.0.1."""

from __future__ import annotations

import pathlib
import urllib.parse
from collections.abc import Callable

import pytest

from controllers.source.git import auth, checkout, errors
from tests.fixtures import gitservers, socksproxy

TIME_LIMIT = 20.0


async def _fetch(options: auth.AuthOptions, dest: pathlib.Path) -> checkout.CheckoutResult:
    resolved = await checkout.resolve(options, ref=None, time_limit=TIME_LIMIT)
    dest.mkdir()  # noqa: ASYNC240 - a test helper; one mkdir
    return await checkout.checkout(options, resolved, dest=dest, time_limit=TIME_LIMIT)


@pytest.fixture
def repo(make_repo: Callable[..., gitservers.RepoBuilder]) -> gitservers.RepoBuilder:
    builder = make_repo("app.git")
    builder.commit("first", {"deploy.yaml": "kind: ConfigMap\n"})
    return builder


async def test_anonymous_http(
    repo: gitservers.RepoBuilder, http_server: gitservers.GitServer, tmp_path: pathlib.Path
) -> None:
    result = await _fetch(auth.options_for(http_server.url("app.git")), tmp_path / "out")
    assert result.commit.sha == repo.rev()
    assert (tmp_path / "out" / "deploy.yaml").read_text() == "kind: ConfigMap\n"


async def test_dulwich_http_server(
    repo: gitservers.RepoBuilder,
    start_http: Callable[..., gitservers.GitServer],
    tmp_path: pathlib.Path,
) -> None:
    server = start_http(backend="dulwich")
    result = await _fetch(auth.options_for(server.url("app.git")), tmp_path / "out")
    assert result.commit.sha == repo.rev()


async def test_basic_auth(
    repo: gitservers.RepoBuilder,
    start_http: Callable[..., gitservers.GitServer],
    tmp_path: pathlib.Path,
) -> None:
    server = start_http(basic="flux:s3cret")
    options = auth.options_for(
        server.url("app.git"), secret_data={"username": b"flux", "password": b"s3cret"}
    )
    result = await _fetch(options, tmp_path / "out")
    assert result.commit.sha == repo.rev()


async def test_bearer_token(
    repo: gitservers.RepoBuilder,
    start_http: Callable[..., gitservers.GitServer],
    tmp_path: pathlib.Path,
) -> None:
    server = start_http(bearer="tok-123")
    options = auth.options_for(server.url("app.git"), secret_data={"bearerToken": b"tok-123"})
    result = await _fetch(options, tmp_path / "out")
    assert result.commit.sha == repo.rev()


@pytest.mark.parametrize(
    ("server_auth", "secret"),
    [
        ({"basic": "flux:s3cret"}, {"username": b"flux", "password": b"wrong"}),
        ({"basic": "flux:s3cret"}, {}),
        ({"bearer": "tok-123"}, {"bearerToken": b"tok-999"}),
    ],
    ids=["wrong-password", "no-credentials", "wrong-token"],
)
async def test_bad_credentials_are_a_readable_auth_error(
    repo: gitservers.RepoBuilder,
    start_http: Callable[..., gitservers.GitServer],
    server_auth: dict[str, str],
    secret: dict[str, bytes],
) -> None:
    server = start_http(**server_auth)
    options = auth.options_for(server.url("app.git"), secret_data=secret)
    with pytest.raises(errors.AuthError, match=r"authentication to .* failed: .*401") as info:
        await checkout.resolve(options, ref=None, time_limit=TIME_LIMIT)
    assert "s3cret" not in str(info.value)
    assert "wrong" not in str(info.value)


async def test_https_with_custom_ca(
    repo: gitservers.RepoBuilder,
    start_http: Callable[..., gitservers.GitServer],
    tls_material: gitservers.TlsMaterial,
    tmp_path: pathlib.Path,
) -> None:
    server = start_http(tls=tls_material)
    options = auth.options_for(
        server.url("app.git"), secret_data={"ca.crt": tls_material.ca_cert.read_bytes()}
    )
    result = await _fetch(options, tmp_path / "out")
    assert result.commit.sha == repo.rev()


async def test_https_without_the_ca_fails_verification(
    repo: gitservers.RepoBuilder,
    start_http: Callable[..., gitservers.GitServer],
    tls_material: gitservers.TlsMaterial,
) -> None:
    server = start_http(tls=tls_material)
    with pytest.raises(errors.UnreachableError, match=r"TLS|certificate"):
        await checkout.resolve(auth.options_for(server.url("app.git")), ref=None, time_limit=10)


async def test_mutual_tls(
    repo: gitservers.RepoBuilder,
    start_http: Callable[..., gitservers.GitServer],
    tls_material: gitservers.TlsMaterial,
    tmp_path: pathlib.Path,
) -> None:
    server = start_http(tls=tls_material, client_ca=True)
    options = auth.options_for(
        server.url("app.git"),
        secret_data={
            "ca.crt": tls_material.ca_cert.read_bytes(),
            "tls.crt": tls_material.client_cert.read_bytes(),
            "tls.key": tls_material.client_key.read_bytes(),
        },
    )
    result = await _fetch(options, tmp_path / "out")
    assert result.commit.sha == repo.rev()


async def test_mutual_tls_without_client_certificate_fails(
    repo: gitservers.RepoBuilder,
    start_http: Callable[..., gitservers.GitServer],
    tls_material: gitservers.TlsMaterial,
) -> None:
    server = start_http(tls=tls_material, client_ca=True)
    options = auth.options_for(
        server.url("app.git"), secret_data={"ca.crt": tls_material.ca_cert.read_bytes()}
    )
    with pytest.raises(errors.GitOperationError):
        await checkout.resolve(options, ref=None, time_limit=10)


async def test_proxy_with_auth(
    repo: gitservers.RepoBuilder,
    start_http: Callable[..., gitservers.GitServer],
    tmp_path: pathlib.Path,
) -> None:
    origin = start_http()
    proxy = start_http(proxy=True, basic="px:pw")
    options = auth.options_for(
        origin.url("app.git"),
        proxy_data={"address": proxy.base_url.encode(), "username": b"px", "password": b"pw"},
    )
    result = await _fetch(options, tmp_path / "out")
    assert result.commit.sha == repo.rev()
    assert proxy.requests(), "the fetch did not go through the proxy"
    assert all(line.endswith(" 200") for line in proxy.requests())


async def test_proxy_auth_refused(
    repo: gitservers.RepoBuilder, start_http: Callable[..., gitservers.GitServer]
) -> None:
    origin = start_http()
    proxy = start_http(proxy=True, basic="px:pw")
    options = auth.options_for(
        origin.url("app.git"),
        proxy_data={"address": proxy.base_url.encode(), "username": b"px", "password": b"no"},
    )
    with pytest.raises(errors.AuthError, match="proxy"):
        await checkout.resolve(options, ref=None, time_limit=10)


async def test_socks5_proxy_with_auth(
    repo: gitservers.RepoBuilder, http_server: gitservers.GitServer, tmp_path: pathlib.Path
) -> None:
    with socksproxy.socks_proxy(credentials=("px", "pw")) as proxy:
        options = auth.options_for(
            http_server.url("app.git"),
            proxy_data={"address": proxy.address.encode(), "username": b"px", "password": b"pw"},
        )
        result = await _fetch(options, tmp_path / "out")
    assert result.commit.sha == repo.rev()
    port = urllib.parse.urlsplit(http_server.url("app.git")).port
    assert proxy.connections, "the fetch did not go through the SOCKS5 proxy"
    assert set(proxy.connections) == {("127.0.0.1", port)}


async def test_socks5_proxy_auth_refused(
    repo: gitservers.RepoBuilder, http_server: gitservers.GitServer
) -> None:
    with socksproxy.socks_proxy(credentials=("px", "pw")) as proxy:
        options = auth.options_for(
            http_server.url("app.git"),
            proxy_data={"address": proxy.address.encode(), "username": b"px", "password": b"no"},
        )
        with pytest.raises(errors.AuthError, match="proxy authentication"):
            await checkout.resolve(options, ref=None, time_limit=10)
    assert proxy.connections == []


async def test_environment_proxy_reaches_a_named_host(
    repo: gitservers.RepoBuilder, http_server: gitservers.GitServer, tmp_path: pathlib.Path
) -> None:
    """HTTP_PROXY (here a SOCKS5 one) carries a fetch to a name only the proxy resolves;
    NO_PROXY naming that host makes the same fetch go direct, and fail to resolve."""
    url = http_server.url("app.git").replace("127.0.0.1", "git.headwater.test")
    with socksproxy.socks_proxy(hosts={"git.headwater.test": "127.0.0.1"}) as proxy:
        options = auth.options_for(url, environ={"HTTP_PROXY": proxy.address})
        result = await _fetch(options, tmp_path / "out")
        assert result.commit.sha == repo.rev()
        assert {host for host, _ in proxy.connections} == {"git.headwater.test"}
        direct = auth.options_for(
            url, environ={"HTTP_PROXY": proxy.address, "NO_PROXY": "headwater.test"}
        )
        assert direct.proxy is None
        used = len(proxy.connections)
        with pytest.raises(errors.UnreachableError):
            await checkout.resolve(direct, ref=None, time_limit=10)
        assert len(proxy.connections) == used


async def test_unreachable_host_is_a_readable_error() -> None:
    port = gitservers.free_port()  # nothing listens there
    options = auth.options_for(f"http://127.0.0.1:{port}/app.git")
    with pytest.raises(errors.UnreachableError, match=f"cannot reach http://127.0.0.1:{port}"):
        await checkout.resolve(options, ref=None, time_limit=5)


async def test_missing_repository_is_a_readable_error(http_server: gitservers.GitServer) -> None:
    options = auth.options_for(http_server.url("nope.git"))
    with pytest.raises(errors.GitOperationError, match=r"nope\.git"):
        await checkout.resolve(options, ref=None, time_limit=5)
