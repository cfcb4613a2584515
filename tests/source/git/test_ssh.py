"""SSH identity (plain and passphrase-protected) with known_hosts, against sshd on 127.0.0.1;
directly and through a SOCKS5 proxy (``proxySecretRef``)."""

from __future__ import annotations

import pathlib
from collections.abc import Callable, Iterator

import pytest

from controllers.source.git import auth, checkout, errors
from shared.api import source
from tests.fixtures import gitservers, socksproxy

TIME_LIMIT = 20.0


@pytest.fixture
def repo(make_repo: Callable[..., gitservers.RepoBuilder]) -> gitservers.RepoBuilder:
    builder = make_repo("app.git")
    builder.commit("first", {"deploy.yaml": "kind: ConfigMap\n"})
    builder.tag("v1.0.0", message="release 1.0.0")
    return builder


def _options(sshd: gitservers.SshServer, **data: bytes) -> auth.AuthOptions:
    secret = {"identity": sshd.identity, "known_hosts": sshd.known_hosts} | data
    return auth.options_for(sshd.url("app.git"), secret_data=secret)


async def test_ssh_identity_with_known_hosts(
    repo: gitservers.RepoBuilder, sshd: gitservers.SshServer, tmp_path: pathlib.Path
) -> None:
    options = _options(sshd)
    resolved = await checkout.resolve(options, ref=None, time_limit=TIME_LIMIT)
    assert resolved.commit == repo.rev()
    dest = tmp_path / "out"
    dest.mkdir()
    result = await checkout.checkout(options, resolved, dest=dest, time_limit=TIME_LIMIT)
    assert result.commit.revision == f"master@sha1:{repo.rev()}"
    assert (dest / "deploy.yaml").read_text() == "kind: ConfigMap\n"


async def test_ssh_identity_with_passphrase(
    repo: gitservers.RepoBuilder, sshd: gitservers.SshServer
) -> None:
    options = _options(sshd, identity=sshd.encrypted_identity, password=sshd.passphrase.encode())
    resolved = await checkout.resolve(options, ref=None, time_limit=TIME_LIMIT)
    assert resolved.commit == repo.rev()


async def test_ssh_wrong_passphrase_is_an_auth_error(
    repo: gitservers.RepoBuilder, sshd: gitservers.SshServer
) -> None:
    options = _options(sshd, identity=sshd.encrypted_identity, password=b"not it")
    with pytest.raises(errors.AuthError, match="ssh authentication"):
        await checkout.resolve(options, ref=None, time_limit=TIME_LIMIT)


async def test_ssh_unauthorized_key_is_an_auth_error(
    repo: gitservers.RepoBuilder, sshd: gitservers.SshServer
) -> None:
    options = _options(sshd, identity=sshd.other_identity)
    with pytest.raises(errors.AuthError, match="Permission denied"):
        await checkout.resolve(options, ref=None, time_limit=TIME_LIMIT)


async def test_ssh_unknown_host_key_is_refused(
    repo: gitservers.RepoBuilder, sshd: gitservers.SshServer, tmp_path: pathlib.Path
) -> None:
    other = tmp_path / "otherhost"
    gitservers.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)])
    kind, key = (other.with_suffix(".pub")).read_text().split()[:2]
    wrong = f"[127.0.0.1]:{sshd.port} {kind} {key}\n".encode()
    options = _options(sshd, known_hosts=wrong)
    with pytest.raises(errors.AuthError, match=r"[Hh]ost key verification failed"):
        await checkout.resolve(options, ref=None, time_limit=TIME_LIMIT)


async def test_ssh_tag_fetch_over_protocol_v2(
    repo: gitservers.RepoBuilder, sshd: gitservers.SshServer, tmp_path: pathlib.Path
) -> None:
    options = _options(sshd)
    resolved = await checkout.resolve(
        options, ref=source.GitRepositoryRef(tag="v1.0.0"), time_limit=TIME_LIMIT
    )
    dest = tmp_path / "out"
    dest.mkdir()
    result = await checkout.checkout(options, resolved, dest=dest, time_limit=TIME_LIMIT)
    assert result.commit.revision == f"v1.0.0@sha1:{repo.rev()}"
    assert result.tag_signature is not None


async def test_ssh_unreachable_port_is_a_readable_error() -> None:
    port = gitservers.free_port()
    options = auth.options_for(
        f"ssh://git@127.0.0.1:{port}/srv/app.git",
        secret_data={"identity": b"unused\n", "known_hosts": b"[127.0.0.1]:1 ssh-ed25519 AAAA\n"},
    )
    with pytest.raises(errors.UnreachableError, match=r"[Cc]onnection refused"):
        await checkout.resolve(options, ref=None, time_limit=5)


def _through_proxy(
    sshd: gitservers.SshServer, proxy: socksproxy.SocksProxy, **proxy_data: bytes
) -> auth.AuthOptions:
    """Options naming the server by a host only the proxy resolves (known_hosts to match)."""
    name = "git.headwater.test"
    secret = {
        "identity": sshd.identity,
        "known_hosts": sshd.known_hosts.replace(b"127.0.0.1", name.encode()),
    }
    return auth.options_for(
        sshd.url("app.git").replace("127.0.0.1", name),
        secret_data=secret,
        proxy_data={"address": proxy.address.encode(), **proxy_data},
    )


@pytest.fixture
def proxy() -> Iterator[socksproxy.SocksProxy]:
    """A SOCKS5 proxy with a login, the only resolver of ``git.headwater.test``."""
    with socksproxy.socks_proxy(
        credentials=("px", "pw"), hosts={"git.headwater.test": "127.0.0.1"}
    ) as running:
        yield running


async def test_ssh_through_a_socks5_proxy_with_auth(
    repo: gitservers.RepoBuilder, sshd: gitservers.SshServer, proxy: socksproxy.SocksProxy
) -> None:
    options = _through_proxy(sshd, proxy, username=b"px", password=b"pw")
    resolved = await checkout.resolve(options, ref=None, time_limit=TIME_LIMIT)
    assert resolved.commit == repo.rev()
    assert proxy.connections == [("git.headwater.test", sshd.port)]


async def test_ssh_socks5_proxy_login_refused_is_an_auth_error(
    repo: gitservers.RepoBuilder, sshd: gitservers.SshServer, proxy: socksproxy.SocksProxy
) -> None:
    options = _through_proxy(sshd, proxy, username=b"px", password=b"no")
    with pytest.raises(errors.AuthError, match="SOCKS5 proxy authentication failed"):
        await checkout.resolve(options, ref=None, time_limit=TIME_LIMIT)
    assert proxy.connections == []


def test_ssh_refuses_an_http_proxy(sshd: gitservers.SshServer) -> None:
    with pytest.raises(errors.AuthError, match="ssh:// needs a socks5 one"):
        auth.options_for(
            sshd.url("app.git"),
            secret_data={"identity": sshd.identity, "known_hosts": sshd.known_hosts},
            proxy_data={"address": b"http://127.0.0.1:3128"},
        )
