"""Where the API server is and how to authenticate to it: kubeconfig and in-cluster loading.

``load`` finds the configuration as Flux controllers do: an explicit path
(``--kubeconfig``; else the first file of ``$KUBECONFIG``), else the in-cluster
service account when ``KUBERNETES_SERVICE_HOST`` is set and its files exist,
else ``~/.kube/config``. A kubeconfig's ``current-context`` (or the given
context) picks the cluster and user; relative file paths resolve against the
kubeconfig's directory, as kubectl resolves them.

Users with an ``exec`` credential plugin or an ``auth-provider`` are delegated
to kubernetes-asyncio's loader, imported only then: it keeps Kubernetes'
exact semantics for those (token caching and refresh) while every other
process stays clear of its ~850 generated client modules.

Failures raise ``errors.UnreachableError("cannot load the Kubernetes
configuration: …")``.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import os
import pathlib
import time
from typing import Any

import yaml

from shared.kube import errors

SERVICE_ACCOUNT = pathlib.Path("/var/run/secrets/kubernetes.io/serviceaccount")
TOKEN_REREAD_SECONDS = 60.0
"""How long a token file's content is trusted: client-go re-reads rotated tokens every minute."""


class TokenFile:
    """A bearer token kept in a file that the kubelet rotates; re-read once a minute."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._token = ""
        self._read_at = float("-inf")

    def token(self) -> str:
        now = time.monotonic()
        if now - self._read_at >= TOKEN_REREAD_SECONDS:
            self._token = pathlib.Path(self.path).read_text().strip()
            self._read_at = now
        return self._token


@dataclasses.dataclass(frozen=True)
class Connection:
    """What a ``Client`` needs to reach and authenticate to one API server."""

    host: str
    ca_file: str | None = None
    ca_data: bytes | None = None
    cert_file: str | None = None
    cert_data: bytes | None = None
    key_file: str | None = None
    key_data: bytes | None = None
    token: str | None = None
    token_file: TokenFile | None = None
    username: str | None = None
    password: str | None = None
    insecure_skip_tls_verify: bool = False
    tls_server_name: str | None = None
    delegated: Any = None
    """A kubernetes-asyncio ``Configuration`` owning the token (exec plugin, auth-provider)."""

    async def authorization(self) -> str | None:
        """The ``Authorization`` header value, current as of this call (or None)."""
        if self.delegated is not None:
            auth = (await self.delegated.auth_settings()).get("BearerToken") or {}
            value = auth.get("value")
            return str(value) if value else None
        token = self.token_file.token() if self.token_file else self.token
        if token:
            return f"Bearer {token}"
        if self.username is not None and self.password is not None:
            pair = f"{self.username}:{self.password}".encode()
            return "Basic " + base64.b64encode(pair).decode()
        return None


def _fail(reason: str) -> errors.UnreachableError:
    return errors.UnreachableError(f"cannot load the Kubernetes configuration: {reason}")


async def load(*, kubeconfig: str | None = None, context: str | None = None) -> Connection:
    """The API server address and credentials, found as Flux controllers find them."""
    path = kubeconfig or os.environ.get("KUBECONFIG")
    if path:
        # NB: KUBECONFIG may list several files; the first one is the primary.
        return await load_file(path.split(os.pathsep)[0], context=context)
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        connection = in_cluster()
        if connection is not None:
            return connection
    return await load_file(_home_kubeconfig(), context=context)


def _home_kubeconfig() -> str:
    return os.path.expanduser("~/.kube/config")


def in_cluster(root: pathlib.Path = SERVICE_ACCOUNT) -> Connection | None:
    """The service account's connection, or None when the pod has no mounted token."""
    host = os.environ.get("KUBERNETES_SERVICE_HOST", "")
    port = os.environ.get("KUBERNETES_SERVICE_PORT", "")
    token, ca = root / "token", root / "ca.crt"
    if not host or not port or not token.is_file() or not ca.is_file():
        return None
    if ":" in host:
        host = f"[{host}]"
    return Connection(
        host=f"https://{host}:{port}", ca_file=str(ca), token_file=TokenFile(str(token))
    )


def _read(path: str) -> dict[str, Any]:
    try:
        document = yaml.safe_load(pathlib.Path(path).read_text())
    except OSError as error:
        raise _fail(f"cannot read {path}: {error.strerror or error}") from error
    except yaml.YAMLError as error:
        raise _fail(f"{path} is not YAML: {error}") from error
    if not isinstance(document, dict):
        raise _fail(f"{path} is not a kubeconfig")
    return document


def _named(document: dict[str, Any], section: str, name: str, key: str) -> dict[str, Any]:
    for entry in document.get(section) or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            value = entry.get(key) or {}
            if isinstance(value, dict):
                return value
    raise _fail(f"{key} {name!r} not found in the kubeconfig")


def _data(entry: dict[str, Any], field: str) -> bytes | None:
    raw = entry.get(field)
    if not raw:
        return None
    try:
        return base64.b64decode(str(raw), validate=True)
    except (binascii.Error, ValueError) as error:
        raise _fail(f"{field} is not valid base64: {error}") from error


def _file(entry: dict[str, Any], field: str, base: pathlib.Path) -> str | None:
    raw = entry.get(field)
    if not raw:
        return None
    return str(base / os.path.expanduser(str(raw)))


async def load_file(path: str, *, context: str | None = None) -> Connection:
    """The connection a kubeconfig file describes for ``context`` (else its current one)."""
    connection = _from_file(path, context=context)
    return connection if connection is not None else await _delegate(path, context=context)


def _from_file(path: str, *, context: str | None) -> Connection | None:
    """The file's connection; None when its user needs kubernetes-asyncio's loader."""
    document = _read(path)
    name = context or document.get("current-context")
    if not name:
        raise _fail(f"{path} names no current-context")
    chosen = _named(document, "contexts", str(name), "context")
    cluster = _named(document, "clusters", str(chosen.get("cluster", "")), "cluster")
    user = _named(document, "users", str(chosen["user"]), "user") if chosen.get("user") else {}
    if user.get("exec") or user.get("auth-provider"):
        return None
    if not cluster.get("server"):
        raise _fail(f"cluster {chosen.get('cluster')!r} has no server")
    base = pathlib.Path(path).resolve().parent
    token_file = _file(user, "tokenFile", base)
    return Connection(
        host=str(cluster["server"]).rstrip("/"),
        ca_file=_file(cluster, "certificate-authority", base),
        ca_data=_data(cluster, "certificate-authority-data"),
        cert_file=_file(user, "client-certificate", base),
        cert_data=_data(user, "client-certificate-data"),
        key_file=_file(user, "client-key", base),
        key_data=_data(user, "client-key-data"),
        token=str(user["token"]) if user.get("token") else None,
        token_file=TokenFile(token_file) if token_file and not user.get("token") else None,
        username=user.get("username"),
        password=user.get("password"),
        insecure_skip_tls_verify=bool(cluster.get("insecure-skip-tls-verify")),
        tls_server_name=cluster.get("tls-server-name") or None,
    )


async def _delegate(path: str, *, context: str | None) -> Connection:
    """kubernetes-asyncio's loader for exec plugins and auth-providers (imported only here)."""
    from kubernetes_asyncio import client as kube_client
    from kubernetes_asyncio import config as kube_config

    configuration = kube_client.Configuration()
    try:
        await kube_config.load_kube_config(
            config_file=path,
            context=context,
            client_configuration=configuration,
            persist_config=False,
        )
    except (kube_config.ConfigException, OSError) as error:
        raise _fail(str(error)) from error
    return Connection(
        host=str(configuration.host).rstrip("/"),
        ca_file=configuration.ssl_ca_cert,
        cert_file=configuration.cert_file,
        key_file=configuration.key_file,
        insecure_skip_tls_verify=not configuration.verify_ssl,
        tls_server_name=configuration.tls_server_name,
        delegated=configuration,
    )
