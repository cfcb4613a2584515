"""Auth options → a dulwich Git client, with credentials material on disk only while used.

Contract: ``open_client`` is a context manager yielding a ``Transport`` (a dulwich
client plus the path to pass to it). Files it needs (SSH identity, known_hosts,
the askpass helper, the TLS client key) live in a private 0700 temp directory
that is removed on every exit path. It does no network I/O itself.

Security choices:
- TLS is always verified; ``ca.crt`` adds trust in a private CA (on top of the
  system store, as Git does).
- SSH runs the system ``ssh`` as ``shared.gitssh`` hardens it: no user
  config, no agent, only the Secret's identity, host keys checked against the
  Secret's known_hosts alone, an encrypted identity unlocked through
  ``SSH_ASKPASS`` (the passphrase never in a process's arguments).
- http(s) through a proxy: an HTTP(S) proxy via urllib3's ProxyManager, a
  ``socks5://`` one via its SOCKSProxyManager (PySocks), names resolved by the
  proxy. SSH through a ``socks5://`` proxy (the only kind ``auth`` accepts for
  ssh, as Flux): ``ssh``'s ``ProxyCommand`` is ``socksrelay``, which gets the
  proxy's address and credentials from ssh's environment, not its arguments.
"""

from __future__ import annotations

import contextlib
import dataclasses
import pathlib
import shlex
import shutil
import ssl
import subprocess
import sys
import tempfile
import urllib.parse
from collections.abc import Iterator

import dulwich.client
import urllib3
from urllib3.contrib import socks

from controllers.source.git import auth, errors, socksrelay
from shared import gitssh


@dataclasses.dataclass(frozen=True)
class Transport:
    """A dulwich client bound to one repository."""

    client: dulwich.client.GitClient
    path: str
    display_url: str
    """The URL without credentials, for messages."""


class _SshVendor(dulwich.client.SSHVendor):
    """Runs ``ssh`` with only the options this module chose (see the module docstring)."""

    def __init__(self, *, args: list[str], env: dict[str, str]) -> None:
        self._args = args
        self._env = env

    def run_command(
        self,
        host: str,
        command: bytes,
        username: str | None = None,
        port: int | None = None,
        password: str | None = None,
        key_filename: str | None = None,
        ssh_command: str | None = None,
        protocol_version: int | None = None,
    ) -> dulwich.client.SubprocessWrapper:
        args = list(self._args)
        if port:
            args += ["-p", str(port)]
        if protocol_version is not None and protocol_version > 0:
            args += ["-o", f"SetEnv=GIT_PROTOCOL=version={protocol_version}"]
        if host.startswith("-") or (username or "").startswith("-"):
            raise dulwich.client.StrangeHostname(hostname=host)
        if username:
            args += ["-l", username]
        args += ["--", host, command.decode("utf-8")]
        proc = subprocess.Popen(
            args,
            bufsize=0,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=self._env,
        )
        return dulwich.client.SubprocessWrapper(proc)


def _ssh_transport(
    options: auth.AuthOptions, *, workdir: pathlib.Path, timeout: float
) -> Transport:
    ssh = options.ssh
    if ssh is None:  # pragma: no cover - auth.options_for guarantees it
        raise ValueError("ssh transport without ssh auth")
    parsed = urllib.parse.urlsplit(options.url)
    command = gitssh.prepare(ssh.key, directory=workdir, timeout=timeout)
    args, env = command.args, command.env
    if options.proxy is not None:
        # NB: ssh runs the command through /bin/sh; %h and %p are ssh's own tokens.
        relay = f"{shlex.quote(sys.executable)} {shlex.quote(socksrelay.__file__)} %h %p"
        args = [*args, "-o", f"ProxyCommand={relay}"]
        env = env | {
            socksrelay.PROXY_ADDRESS_ENV: options.proxy.address,
            socksrelay.PROXY_USERNAME_ENV: options.proxy.username or "",
            socksrelay.PROXY_PASSWORD_ENV: options.proxy.password or "",
        }
    client = dulwich.client.SSHGitClient(
        host=parsed.hostname or "",
        port=parsed.port,
        username=ssh.username,
        vendor=_SshVendor(args=args, env=env),
        thin_packs=True,
        quiet=True,
    )
    return Transport(client=client, path=parsed.path, display_url=auth.redact(options.url))


def _ssl_context(http: auth.HttpAuth, *, workdir: pathlib.Path) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if http.ca_pem is not None:
        try:
            context.load_verify_locations(cadata=http.ca_pem.decode("ascii"))
        except (ssl.SSLError, UnicodeDecodeError, ValueError) as exc:
            raise errors.AuthError("ca.crt is not a valid PEM certificate") from exc
    if http.cert_pem is not None and http.key_pem is not None:
        cert = gitssh.write_private(workdir, "tls.crt", http.cert_pem, mode=0o600)
        key = gitssh.write_private(workdir, "tls.key", http.key_pem, mode=0o600)
        try:
            context.load_cert_chain(cert, key)
        except ssl.SSLError as exc:
            raise errors.AuthError("tls.crt/tls.key are not a valid certificate and key") from exc
    return context


def _http_transport(
    options: auth.AuthOptions, *, workdir: pathlib.Path, timeout: float
) -> Transport:
    parsed = urllib.parse.urlsplit(options.url)
    netloc = parsed.hostname or ""
    if parsed.port is not None:
        netloc = f"{netloc}:{parsed.port}"
    base_url = urllib.parse.urlunsplit((parsed.scheme, netloc, parsed.path, "", ""))
    http = options.http
    username, password = http.username, http.password
    if username is None and parsed.username:
        # Credentials embedded in the URL are used only when the Secret has none.
        username = urllib.parse.unquote(parsed.username)
        password = urllib.parse.unquote(parsed.password or "")
    headers = {"User-Agent": dulwich.client.default_user_agent_string()}
    if http.bearer_token is not None:
        # NB: dulwich ignores extra_headers when given a pool manager; the pool's
        # headers are sent on every request. Redirects are not followed (retries=False).
        headers["Authorization"] = f"Bearer {http.bearer_token}"
    pool_options: dict[str, object] = {
        "timeout": urllib3.Timeout(connect=timeout, read=timeout),
        "retries": False,
        "headers": headers,
    }
    if parsed.scheme == "https":
        pool_options["ssl_context"] = _ssl_context(http, workdir=workdir)
    pool: urllib3.PoolManager
    if options.proxy is not None and options.proxy.is_socks:
        # Names are resolved by the proxy (socks5h), as Go's SOCKS5 dialer does.
        address = urllib.parse.urlsplit(options.proxy.address)._replace(scheme="socks5h")
        pool = socks.SOCKSProxyManager(
            address.geturl(),
            username=options.proxy.username,
            password=options.proxy.password,
            **pool_options,  # type: ignore[arg-type]
        )
    elif options.proxy is not None:
        proxy_headers = None
        if options.proxy.username is not None:
            proxy_headers = urllib3.make_headers(
                proxy_basic_auth=f"{options.proxy.username}:{options.proxy.password or ''}"
            )
        pool = urllib3.ProxyManager(
            options.proxy.address,
            proxy_headers=proxy_headers,
            **pool_options,  # type: ignore[arg-type]
        )
    else:
        pool = urllib3.PoolManager(**pool_options)  # type: ignore[arg-type]
    client = dulwich.client.Urllib3HttpGitClient(
        base_url,
        pool_manager=pool,
        username=username,
        password=password,
        timeout=timeout,
        thin_packs=True,
        quiet=True,
    )
    return Transport(client=client, path="", display_url=auth.redact(options.url))


def _git_transport(options: auth.AuthOptions) -> Transport:
    parsed = urllib.parse.urlsplit(options.url)
    client = dulwich.client.TCPGitClient(
        parsed.hostname or "", port=parsed.port, thin_packs=True, quiet=True
    )
    return Transport(client=client, path=parsed.path, display_url=options.url)


@contextlib.contextmanager
def open_client(options: auth.AuthOptions, *, timeout: float) -> Iterator[Transport]:
    """A client for ``options.url``; its credential files are deleted on exit."""
    workdir = pathlib.Path(tempfile.mkdtemp(prefix="headwater-git-auth-"))
    try:
        if options.scheme == "ssh":
            transport = _ssh_transport(options, workdir=workdir, timeout=timeout)
        elif options.scheme == "git":
            transport = _git_transport(options)
        else:
            transport = _http_transport(options, workdir=workdir, timeout=timeout)
        try:
            yield transport
        finally:
            transport.client.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
