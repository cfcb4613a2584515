"""Proxy choice: the proxy Secret's data and the environment's rules (Go's httpproxy)."""

from __future__ import annotations

import pytest

from controllers.source.git import auth, errors, proxies

ENV = {"HTTPS_PROXY": "http://secure:3128", "http_proxy": "plain:8080"}


@pytest.mark.parametrize(
    ("url", "environ", "address"),
    [
        ("https://git.example.com/r.git", ENV, "http://secure:3128"),
        ("http://git.example.com/r.git", ENV, "http://plain:8080"),
        ("https://git.example.com/r.git", {"https_proxy": "socks5://s:1080"}, "socks5://s:1080"),
        ("https://git.example.com/r.git", {"HTTPS_PROXY": "http://u", "https_proxy": "http://l"},
         "http://u"),
        ("https://git.example.com/r.git", {"HTTP_PROXY": "http://p:1"}, None),
        ("https://git.example.com/r.git", {}, None),
        ("https://localhost/r.git", ENV, None),
        ("https://127.0.0.5:8443/r.git", ENV, None),
        ("https://[::1]/r.git", ENV, None),
    ],
)  # fmt: skip
def test_environment_proxy_by_scheme(
    url: str, environ: dict[str, str], address: str | None
) -> None:
    proxy = proxies.from_environment(url, environ)
    assert (proxy.address if proxy else None) == address


@pytest.mark.parametrize(
    ("no_proxy", "url", "proxied"),
    [
        ("*", "https://git.example.com/r.git", False),
        ("example.com", "https://git.example.com/r.git", False),
        ("example.com", "https://example.com/r.git", False),
        (".example.com", "https://example.com/r.git", True),
        (".example.com", "https://git.example.com/r.git", False),
        ("*.example.com", "https://git.example.com/r.git", False),
        ("ample.com", "https://git.example.com/r.git", True),
        ("other.org, git.example.com", "https://git.example.com/r.git", False),
        ("git.example.com:8443", "https://git.example.com/r.git", True),
        ("git.example.com:443", "https://git.example.com/r.git", False),
        ("10.0.0.0/8", "https://10.1.2.3/r.git", False),
        ("10.0.0.0/8", "https://11.1.2.3/r.git", True),
        ("192.0.2.7", "https://192.0.2.7/r.git", False),
        ("", "https://git.example.com/r.git", True),
    ],
)
def test_no_proxy_rules(no_proxy: str, url: str, proxied: bool) -> None:
    environ = {"HTTPS_PROXY": "http://p:3128", "NO_PROXY": no_proxy}
    assert (proxies.from_environment(url, environ) is not None) is proxied


def test_environment_proxy_credentials_come_from_its_url() -> None:
    proxy = proxies.from_environment(
        "https://h.example/r.git", {"HTTPS_PROXY": "http://us%40er:p%3Ass@p:3128"}
    )
    assert proxy is not None
    assert (proxy.address, proxy.username, proxy.password) == ("http://p:3128", "us@er", "p:ss")
    assert "p:ss" not in repr(proxy)


def test_the_proxy_secret_takes_precedence_over_the_environment() -> None:
    options = auth.options_for(
        "https://h.example/r.git",
        proxy_data={"address": b"socks5://127.0.0.1:1080"},
        environ={"HTTPS_PROXY": "http://p:3128"},
    )
    assert options.proxy is not None
    assert (options.proxy.address, options.proxy.is_socks) == ("socks5://127.0.0.1:1080", True)


def test_git_daemon_remotes_ignore_the_environment() -> None:
    environ = {"HTTPS_PROXY": "http://p:3128", "HTTP_PROXY": "http://p:3128"}
    assert auth.options_for("git://h.example/r.git", environ=environ).proxy is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"address": b"ftp://p:21"}, "must be an http, https or socks5 URL"),
        ({"address": b"socks4://p:1080"}, "must be an http, https or socks5 URL"),
        ({"username": b"u"}, "no 'address'"),
    ],
)
def test_invalid_proxy_secret_is_an_auth_error(data: dict[str, bytes], message: str) -> None:
    with pytest.raises(errors.AuthError, match=message):
        proxies.from_secret(data)


def test_invalid_environment_proxy_is_an_auth_error() -> None:
    with pytest.raises(errors.AuthError, match="HTTPS_PROXY proxy address"):
        proxies.from_environment("https://h.example/r.git", {"HTTPS_PROXY": "ftp://p:21"})
