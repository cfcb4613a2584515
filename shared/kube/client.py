"""The HTTP connection to one Kubernetes API server.

``connect`` loads the configuration the way Flux controllers do: an explicit
``--kubeconfig`` (and context), else ``$KUBECONFIG``, else the in-cluster
service-account token and CA, else ``~/.kube/config`` (``shared.kube.kubeconfig``,
which hands exec plugins and auth-providers to kubernetes-asyncio's loader);
requests go through one aiohttp
session per process, behind the client-side rate limiter.

Every request is counted by verb in ``stats`` so that tests and benchmarks can
assert how many API calls a reconcile cost, and every answer by status code,
host and HTTP method in ``responses`` (``<error>`` when none came), the labels
of client-go's ``rest_client_requests_total``. Errors are raised as
``shared.kube.errors`` types, never as aiohttp or kubernetes-asyncio ones.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import pathlib
import ssl
import tempfile
import urllib.parse
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any

import aiohttp

from shared.kube import errors, ratelimit
from shared.kube import kubeconfig as kubeconfig_loading

JSON = "application/json"
MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"


async def load_configuration(
    *, kubeconfig: str | None = None, context: str | None = None
) -> kubeconfig_loading.Connection:
    """The API server address and credentials, found as Flux controllers find them."""
    return await kubeconfig_loading.load(kubeconfig=kubeconfig, context=context)


def _ssl_context(connection: kubeconfig_loading.Connection) -> ssl.SSLContext | bool:
    if not connection.host.startswith("https"):
        return False
    context = ssl.create_default_context(
        cafile=connection.ca_file,
        cadata=connection.ca_data.decode() if connection.ca_data else None,
    )
    if connection.cert_file or connection.cert_data:
        with _pem_files(connection) as (cert, key):
            context.load_cert_chain(cert, keyfile=key)
    if connection.insecure_skip_tls_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


@contextlib.contextmanager
def _pem_files(connection: kubeconfig_loading.Connection) -> Iterator[tuple[str, str | None]]:
    """The client certificate and key as files (``load_cert_chain`` reads only files)."""
    with tempfile.TemporaryDirectory(prefix="headwater-tls-") as directory:
        cert, key = connection.cert_file, connection.key_file
        if connection.cert_data:
            cert = os.path.join(directory, "tls.crt")
            pathlib.Path(cert).write_bytes(connection.cert_data)
        if connection.key_data:
            key = os.path.join(directory, "tls.key")
            pathlib.Path(key).write_bytes(connection.key_data)
        yield str(cert), key


class Client:
    """Requests to one API server: auth, rate limit, error translation, counting."""

    def __init__(
        self,
        *,
        configuration: kubeconfig_loading.Connection,
        session: aiohttp.ClientSession,
        limiter: ratelimit.TokenBucket,
        stats: collections.Counter[str] | None = None,
        responses: collections.Counter[tuple[str, str, str]] | None = None,
        impersonate_user: str | None = None,
        impersonate_groups: Sequence[str] = (),
        user_agent: str = "headwater",
        owns_session: bool | None = None,
    ) -> None:
        self.configuration = configuration
        self._session = session
        self._limiter = limiter
        self.stats: collections.Counter[str] = stats if stats is not None else collections.Counter()
        self.responses: collections.Counter[tuple[str, str, str]] = (
            responses if responses is not None else collections.Counter()
        )
        self._netloc = urllib.parse.urlsplit(configuration.host).netloc
        self._impersonate_user = impersonate_user
        self._impersonate_groups = tuple(impersonate_groups)
        self._user_agent = user_agent
        self._owner = impersonate_user is None if owns_session is None else owns_session
        self._ssl = _ssl_context(configuration)

    @property
    def host(self) -> str:
        return self.configuration.host.rstrip("/")

    @property
    def impersonated_user(self) -> str | None:
        """The user this client acts as (``Impersonate-User``); None for its own identity."""
        return self._impersonate_user

    def impersonating(self, user: str, *, groups: Sequence[str] = ()) -> Client:
        """A client that acts as ``user`` (``Impersonate-User``), sharing this connection."""
        return Client(
            configuration=self.configuration,
            session=self._session,
            limiter=self._limiter,
            stats=self.stats,
            responses=self.responses,
            impersonate_user=user,
            impersonate_groups=groups,
            user_agent=self._user_agent,
        )

    def with_own_limiter(self) -> Client:
        """A client on this connection with a token bucket and per-verb counts of its own.

        For Kubernetes Events: as client-go's event broadcaster has a clientset
        of its own, events never spend the QPS budget that applying objects
        needs, and ``stats`` (the API cost a reconcile pays) leaves them out.
        ``responses`` (the ``rest_client_requests_total`` metric) is shared,
        so dashboards still see every request. Closing it leaves the
        connection open.
        """
        return Client(
            configuration=self.configuration,
            session=self._session,
            limiter=ratelimit.TokenBucket(qps=self._limiter.qps, burst=self._limiter.burst),
            responses=self.responses,
            impersonate_user=self._impersonate_user,
            impersonate_groups=self._impersonate_groups,
            user_agent=self._user_agent,
            owns_session=False,
        )

    async def _headers(self, *, accept: str, content_type: str | None) -> dict[str, str]:
        headers = {"Accept": accept, "User-Agent": self._user_agent}
        if content_type:
            headers["Content-Type"] = content_type
        authorization = await self.configuration.authorization()
        if authorization:
            headers["Authorization"] = authorization
        if self._impersonate_user:
            headers["Impersonate-User"] = self._impersonate_user
        return headers

    def _answered(self, code: int | str, method: str) -> None:
        self.responses[(str(code), self._netloc, method.upper())] += 1

    def _impersonation_items(self) -> list[tuple[str, str]]:
        return [("Impersonate-Group", group) for group in self._impersonate_groups]

    async def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | Sequence[tuple[str, str]] | None = None,
        body: Any = None,
        content_type: str | None = None,
        accept: str = JSON,
        verb: str | None = None,
        request_timeout: float | None = None,
        advisory: bool = False,
    ) -> Any:
        """Send one request and return the decoded JSON answer.

        Raises a ``shared.kube.errors.KubeError`` subclass for any non-2xx
        answer or when the server cannot be reached. An ``advisory`` request
        (one worth sending only when it costs nothing that matters) is sent
        only with a spare rate-limit token (``TokenBucket.take_spare``), and
        otherwise raises ``ThrottledError`` at once, uncounted.
        """
        if advisory:
            if not self._limiter.take_spare():
                raise errors.ThrottledError(f"{method} {path} not sent: no spare rate-limit token")
        else:
            await self._limiter.acquire()
        self.stats[verb or method.lower()] += 1
        headers = await self._headers(
            accept=accept, content_type=content_type or (JSON if body is not None else None)
        )
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body))
        for attempt in (1, 2):
            try:
                async with self._session.request(
                    method,
                    self.host + path,
                    params=query,
                    data=data,
                    headers=[*headers.items(), *self._impersonation_items()],
                    ssl=self._ssl,
                    server_hostname=self.configuration.tls_server_name,
                    timeout=aiohttp.ClientTimeout(total=request_timeout)
                    if request_timeout
                    else None,
                ) as response:
                    self._answered(response.status, method)
                    payload = await response.read()
                    if response.status >= 300:
                        raise errors.from_status(response.status, payload)
                break
            except aiohttp.ServerDisconnectedError as error:
                # NB: a pooled keep-alive connection to a restarted API server
                # fails on first use; one retry on a fresh connection is safe.
                self._answered("<error>", method)
                if attempt == 2:
                    raise errors.translate(error) from error
            except (aiohttp.ClientError, TimeoutError, OSError) as error:
                self._answered("<error>", method)
                raise errors.translate(error) from error
        if not payload:
            return None
        try:
            return json.loads(payload)
        except ValueError as error:
            raise errors.ServerError(f"undecodable answer from {path}: {error}") from error

    async def lines(
        self,
        path: str,
        *,
        query: Mapping[str, str] | Sequence[tuple[str, str]] | None = None,
        request_timeout: float | None = None,
        accept: str = JSON,
        verb: str = "get",
    ) -> AsyncIterator[str]:
        """The non-empty lines of a streamed answer (a watch, a followed log), until it ends."""
        self.stats[verb] += 1
        await self._limiter.acquire()
        headers = await self._headers(accept=accept, content_type=None)
        answered = False
        try:
            async with self._session.get(
                self.host + path,
                params=query,
                headers=[*headers.items(), *self._impersonation_items()],
                ssl=self._ssl,
                server_hostname=self.configuration.tls_server_name,
                timeout=aiohttp.ClientTimeout(total=request_timeout, sock_read=request_timeout),
            ) as response:
                self._answered(response.status, "GET")
                answered = True
                if response.status >= 300:
                    raise errors.from_status(response.status, await response.read())
                async for line in response.content:
                    if line.strip():
                        yield line.decode(errors="replace").rstrip("\n")
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            if not answered:
                self._answered("<error>", "GET")
            raise errors.translate(error) from error

    async def stream(
        self,
        path: str,
        *,
        query: Mapping[str, str] | Sequence[tuple[str, str]] | None = None,
        request_timeout: float | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """The JSON objects of a streamed answer (a watch), one per line, until it ends."""
        async for line in self.lines(
            path, query=query, request_timeout=request_timeout, verb="watch"
        ):
            try:
                yield json.loads(line)
            except ValueError as error:
                raise errors.ServerError(f"undecodable watch event from {path}: {error}") from error

    async def close(self) -> None:
        if self._owner:
            await self._session.close()


async def connect(
    *,
    kubeconfig: str | None = None,
    context: str | None = None,
    qps: float = 50.0,
    burst: int = 300,
    user_agent: str = "headwater",
) -> Client:
    """A client for the configured cluster (see ``load_configuration``)."""
    configuration = await load_configuration(kubeconfig=kubeconfig, context=context)
    session = aiohttp.ClientSession(read_bufsize=2**21)
    return Client(
        configuration=configuration,
        session=session,
        limiter=ratelimit.TokenBucket(qps=qps, burst=burst),
        user_agent=user_agent,
    )


@contextlib.asynccontextmanager
async def connected(**kwargs: Any) -> AsyncIterator[Client]:
    """``connect`` as a context manager that always closes the session."""
    client = await connect(**kwargs)
    try:
        yield client
    finally:
        await client.close()
