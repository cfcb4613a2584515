"""A Provider's Secrets read into a delivery job, against a devcluster."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import pathlib
import ssl
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from controllers.notification import delivery, notifiers, providers
from shared.api import notification
from shared.kube import client
from tests.fixtures import credentials
from tests.fixtures import devcluster as devcluster_fixtures
from tests.notification import events

NAMESPACE = "default"


cluster = devcluster_fixtures.devcluster


@pytest.fixture
async def api(cluster: devcluster_fixtures.Devcluster) -> AsyncIterator[client.Client]:
    async with client.connected(kubeconfig=str(cluster.kubeconfig)) as connected:
        yield connected


async def _secret(api: client.Client, name: str, data: dict[str, bytes]) -> None:
    body = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "data": {k: base64.b64encode(v).decode() for k, v in data.items()},
    }
    await api.request("POST", f"/api/v1/namespaces/{NAMESPACE}/secrets", body=body)


def _provider(spec: dict[str, Any]) -> tuple[dict[str, Any], notification.ProviderSpec]:
    obj = {
        "apiVersion": notification.PROVIDER_API_VERSION,
        "kind": "Provider",
        "metadata": {"name": "p", "namespace": NAMESPACE, "uid": "1234abcd-0000"},
        "spec": spec,
    }
    return obj, notification.Provider.model_validate(obj).spec


async def _resolve(api: client.Client, spec: dict[str, Any]) -> delivery.Job:
    obj, parsed = _provider(spec)
    return await providers.resolve(
        api, obj, parsed, events.parsed(), alert=events.alert({}), context={}
    )


async def test_the_secret_gives_address_token_and_headers(api: client.Client) -> None:
    await _secret(
        api,
        "hook",
        {
            "address": b"http://127.0.0.1:1/from-secret\n",
            "token": b"s3cret",
            "headers": b"X-Team: platform\nX-Env: prod\n",
        },
    )
    job = await _resolve(
        api, {"type": "generic-hmac", "address": "http://spec/", "secretRef": {"name": "hook"}}
    )
    (request,) = job.requests
    assert isinstance(request, notifiers.Request)
    assert request.url == "http://127.0.0.1:1/from-secret"
    assert request.headers["X-Team"] == "platform"
    assert request.headers["X-Env"] == "prod"
    digest = hmac.new(b"s3cret", request.body, hashlib.sha256).hexdigest()
    assert request.headers["X-Signature"] == f"sha256={digest}"
    assert job.timeout == delivery.DEFAULT_TIMEOUT


async def test_the_proxy_secret_gives_the_proxy_with_its_credentials(api: client.Client) -> None:
    await _secret(
        api,
        "proxy",
        {"address": b"http://proxy.example:3128", "username": b"u", "password": b"p@ss"},
    )
    job = await _resolve(
        api,
        {"type": "generic", "address": "http://h/", "proxySecretRef": {"name": "proxy"},
         "timeout": "30s"},
    )  # fmt: skip
    assert job.proxy == "http://u:p%40ss@proxy.example:3128"
    assert job.timeout == 30.0


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"secretRef": {"name": "absent"}}, f"failed to get secret '{NAMESPACE}/absent'"),
        ({"proxySecretRef": {"name": "absent"}}, f"failed to get secret '{NAMESPACE}/absent'"),
        ({"certSecretRef": {"name": "absent"}}, f"failed to get secret '{NAMESPACE}/absent'"),
    ],
)
async def test_a_missing_secret_is_a_provider_error(
    api: client.Client, spec: dict[str, Any], message: str
) -> None:
    with pytest.raises(providers.ProviderError, match=message):
        await _resolve(api, {"type": "generic", "address": "http://h/", **spec})


async def test_a_header_list_that_is_not_a_map_is_refused(api: client.Client) -> None:
    await _secret(api, "bad-headers", {"headers": b"- a\n- b\n"})
    with pytest.raises(providers.ProviderError, match="want a map"):
        await _resolve(
            api, {"type": "generic", "address": "http://h/", "secretRef": {"name": "bad-headers"}}
        )


@contextlib.asynccontextmanager
async def _https_server(tls: credentials.TlsMaterial) -> AsyncIterator[tuple[str, list[str]]]:
    """An HTTPS server that requires a client certificate signed by the test CA."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(tls.ca_cert))
    context.load_cert_chain(str(tls.server_cert), str(tls.server_key))
    context.verify_mode = ssl.CERT_REQUIRED
    received: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        received.append(request.path)
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = devcluster_fixtures.free_port()
    await web.TCPSite(runner, "127.0.0.1", port, ssl_context=context).start()
    try:
        yield f"https://127.0.0.1:{port}", received
    finally:
        await runner.cleanup()


async def test_the_cert_secret_trusts_the_ca_and_presents_the_client_certificate(
    api: client.Client, tmp_path: pathlib.Path
) -> None:
    tls = credentials.make_tls_material(tmp_path / "tls")
    await _secret(
        api,
        "tls",
        {
            "ca.crt": tls.ca_cert.read_bytes(),
            "tls.crt": tls.client_cert.read_bytes(),
            "tls.key": tls.client_key.read_bytes(),
        },
    )
    failures: list[str] = []

    async def on_failure(_: delivery.Job, message: str) -> None:
        failures.append(message)

    dispatcher = delivery.Dispatcher(on_failure=on_failure, retries=0)
    try:
        async with _https_server(tls) as (url, received):
            job = await _resolve(
                api, {"type": "generic", "address": f"{url}/hook", "certSecretRef": {"name": "tls"}}
            )
            dispatcher.submit("p", job)
            untrusted = await _resolve(api, {"type": "generic", "address": f"{url}/plain"})
            dispatcher.submit("q", untrusted)
            await dispatcher.drain()
    finally:
        await dispatcher.close()
    assert received == ["/hook"]
    (failure,) = failures
    assert "certificate verify failed" in failure


async def test_a_client_certificate_without_its_key_is_refused(
    api: client.Client, tmp_path: pathlib.Path
) -> None:
    tls = credentials.make_tls_material(tmp_path / "tls")
    await _secret(api, "half", {"tls.crt": tls.client_cert.read_bytes()})
    with pytest.raises(providers.ProviderError, match=r"needs both tls\.crt and tls\.key"):
        await _resolve(
            api, {"type": "generic", "address": "https://h/", "certSecretRef": {"name": "half"}}
        )
