"""Secret data → auth options: Flux's keys and validation, with no I/O."""

from __future__ import annotations

import pytest

from controllers.source.git import auth, errors, proxies


def test_basic_auth() -> None:
    options = auth.options_for("https://h/r.git", secret_data={"username": b"u", "password": b"p"})
    assert (options.http.username, options.http.password) == ("u", "p")


def test_bearer_token() -> None:
    options = auth.options_for("https://h/r.git", secret_data={"bearerToken": b"t"})
    assert options.http.bearer_token == "t"


def test_ca_legacy_key_and_client_certificate() -> None:
    options = auth.options_for(
        "https://h/r.git", secret_data={"caFile": b"CA", "tls.crt": b"C", "tls.key": b"K"}
    )
    assert (options.http.ca_pem, options.http.cert_pem, options.http.key_pem) == (b"CA", b"C", b"K")


def test_ssh_identity_user_from_url() -> None:
    options = auth.options_for(
        "ssh://deploy@h/r.git",
        secret_data={"identity": b"KEY", "known_hosts": b"h ssh-ed25519 AAA", "password": b"pp"},
    )
    assert options.ssh is not None
    assert (options.ssh.username, options.ssh.key.passphrase) == ("deploy", "pp")
    assert "KEY" not in repr(options)


def test_proxy() -> None:
    options = auth.options_for(
        "http://h/r.git",
        proxy_data={"address": b"http://127.0.0.1:3128", "username": b"u", "password": b"p"},
    )
    assert options.proxy == proxies.ProxyOptions(
        address="http://127.0.0.1:3128", username="u", password="p"
    )


@pytest.mark.parametrize(
    ("url", "data", "message"),
    [
        ("https://h/r.git", {"username": b"u", "bearerToken": b"t"}, "both basic auth"),
        ("https://h/r.git", {"password": b"p"}, "password without username"),
        ("https://h/r.git", {"tls.crt": b"C"}, "both tls.crt and tls.key"),
        ("http://h/r.git", {"tls.crt": b"C", "tls.key": b"K"}, "needs an https"),
        ("ssh://h/r.git", {"known_hosts": b"x"}, "no 'identity'"),
        ("ssh://h/r.git", {"identity": b"x"}, "no 'known_hosts'"),
        ("ssh://h/r.git", {}, "no 'identity'"),
    ],
)
def test_invalid_secret_data_is_an_auth_error(
    url: str, data: dict[str, bytes], message: str
) -> None:
    with pytest.raises(errors.AuthError, match=message):
        auth.options_for(url, secret_data=data)


def test_proxy_without_address_is_refused() -> None:
    with pytest.raises(errors.AuthError, match="no 'address'"):
        auth.options_for("http://h/r.git", proxy_data={"username": b"u"})


@pytest.mark.parametrize("url", ["ftp://h/r.git", "file:///tmp/r.git", "git@h:r.git", "https://"])
def test_unsupported_urls_stall(url: str) -> None:
    with pytest.raises(errors.InvalidUrlError) as info:
        auth.options_for(url)
    assert info.value.stalling


def test_reprs_never_show_secrets() -> None:
    options = auth.options_for(
        "https://h/r.git",
        secret_data={"username": b"u", "password": b"hunter2"},
        proxy_data={"address": b"http://p:1", "username": b"pu", "password": b"hunter3"},
    )
    assert "hunter" not in repr(options)


def test_redact_hides_url_password() -> None:
    assert auth.redact("https://u:hunter2@h:8443/r.git") == "https://u:***@h:8443/r.git"
