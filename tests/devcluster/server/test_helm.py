"""Acceptance: the real Helm 4 SDK (helm-python-sdk) against a devcluster.

A chart built in the test's tmp dir holds a CRD in ``crds/``, a ConfigMap, a
Deployment, a Service and a custom resource of the CRD. Helm stores releases
as Secrets sent in protobuf, waits with kstatus (``wait="watcher"``), and
needs the simulated kubelet for its Deployment to become ready.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import gzip
import json
import pathlib
import threading
from collections.abc import Iterator
from typing import Any

import aiohttp
import helm_python as helm
import pytest
from aiohttp import web

from devcluster.serializers import protobuf
from tests.fixtures import democharts
from tests.fixtures import devcluster as fixtures

Devcluster = fixtures.Devcluster
SIMULATE = "devcluster.headwater.dev/simulate"

# The demo chart with a CRD and two replicas (so waiting has several Pods to wait for).
CHART = {
    **democharts.with_gadgets(group="helm.example.org"),
    "values.yaml": democharts.DEMO["values.yaml"].replace("replicas: 1", "replicas: 2"),
}


@pytest.fixture(scope="module")
def chart_dir(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    return democharts.write(tmp_path_factory.mktemp("chart") / "demo", CHART)


@pytest.fixture
def helm_config(devcluster: Devcluster, namespace: str) -> Iterator[helm.Config]:
    with helm.Config(kubeconfig_path=devcluster.kubeconfig, namespace=namespace) as config:
        yield config


def get(devcluster: Devcluster, namespace: str, *what: str) -> dict[str, Any]:
    out = devcluster.kubectl("get", "-n", namespace, *what, "-o", "json").stdout
    result: dict[str, Any] = json.loads(out)
    return result


def names(devcluster: Devcluster, namespace: str, kind: str) -> list[str]:
    return sorted(i["metadata"]["name"] for i in get(devcluster, namespace, kind)["items"])


def release_secrets(devcluster: Devcluster, namespace: str) -> list[dict[str, Any]]:
    listing = get(devcluster, namespace, "secrets", "-l", "owner=helm")
    return sorted(listing["items"], key=lambda s: s["metadata"]["name"])


def decode_release(secret: dict[str, Any]) -> dict[str, Any]:
    """Helm's storage format: base64 (Secret data) of base64 of gzipped JSON."""
    helm_encoded = base64.b64decode(secret["data"]["release"])
    payload = gzip.decompress(base64.b64decode(helm_encoded))
    release: dict[str, Any] = json.loads(payload)
    return release


def install(config: helm.Config, chart_dir: pathlib.Path, **values: Any) -> dict[str, Any]:
    return config.install(
        helm.Chart.load(chart_dir), "demo", values or None, wait="watcher", timeout=60
    )


def test_install_waits_until_everything_is_ready(
    devcluster: Devcluster, namespace: str, helm_config: helm.Config, chart_dir: pathlib.Path
) -> None:
    release = install(helm_config, chart_dir)

    assert (release["status"], release["revision"]) == ("deployed", 1)
    # The wait must have waited: the Deployment is available when install returns.
    status = get(devcluster, namespace, "deployment", "demo-web")["status"]
    assert status["availableReplicas"] == status["updatedReplicas"] == 2
    assert names(devcluster, namespace, "configmaps")[:1] == ["demo-cm"]
    assert names(devcluster, namespace, "services") == ["demo-svc"]
    crd = get(devcluster, "", "crd", "gadgets.helm.example.org")
    assert {c["type"]: c["status"] for c in crd["status"]["conditions"]}["Established"] == "True"
    gadget = get(devcluster, namespace, "gadgets.helm.example.org", "demo-gadget")
    assert gadget["spec"] == {"size": 3}


def test_hooks_run_and_helm_test_passes(
    devcluster: Devcluster, namespace: str, helm_config: helm.Config, chart_dir: pathlib.Path
) -> None:
    install(helm_config, chart_dir)
    # The pre-install Job completed and was deleted (hook-succeeded policy).
    assert names(devcluster, namespace, "jobs") == []

    result = helm_config.test("demo", timeout=60)

    assert result["release"]["status"] == "deployed"


def test_list_and_release_secrets(
    devcluster: Devcluster, namespace: str, helm_config: helm.Config, chart_dir: pathlib.Path
) -> None:
    install(helm_config, chart_dir)

    listed = helm_config.list()

    assert [(r["name"], r["revision"], r["status"]) for r in listed] == [("demo", 1, "deployed")]
    (secret,) = release_secrets(devcluster, namespace)
    assert secret["metadata"]["name"] == "sh.helm.release.v1.demo.v1"
    assert secret["type"] == "helm.sh/release.v1"
    labels = secret["metadata"]["labels"]
    assert (labels["name"], labels["owner"], labels["status"], labels["version"]) == (
        "demo",
        "helm",
        "deployed",
        "1",
    )
    stored = decode_release(secret)
    assert (stored["name"], stored["version"], stored["namespace"]) == ("demo", 1, namespace)
    assert "kind: Deployment" in stored["manifest"]


def test_upgrade_history_and_rollback(
    devcluster: Devcluster, namespace: str, helm_config: helm.Config, chart_dir: pathlib.Path
) -> None:
    install(helm_config, chart_dir)

    upgraded = helm_config.upgrade(
        helm.Chart.load(chart_dir),
        "demo",
        {"greeting": "bye", "image": "nginx:1.28"},
        wait="watcher",
        timeout=60,
    )

    assert (upgraded["revision"], upgraded["status"]) == (2, "deployed")
    assert get(devcluster, namespace, "configmap", "demo-cm")["data"] == {"greeting": "bye"}
    deploy = get(devcluster, namespace, "deployment", "demo-web")
    assert deploy["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.28"
    assert deploy["status"]["updatedReplicas"] == deploy["status"]["availableReplicas"] == 2
    history = helm_config.history("demo")
    assert [(r["revision"], r["status"]) for r in history] == [(1, "superseded"), (2, "deployed")]

    helm_config.rollback("demo", version=1, wait="watcher", timeout=60)

    history = helm_config.history("demo")
    assert [(r["revision"], r["status"]) for r in history] == [
        (1, "superseded"),
        (2, "superseded"),
        (3, "deployed"),
    ]
    assert get(devcluster, namespace, "configmap", "demo-cm")["data"] == {"greeting": "hello"}
    assert [s["metadata"]["name"] for s in release_secrets(devcluster, namespace)] == [
        "sh.helm.release.v1.demo.v1",
        "sh.helm.release.v1.demo.v2",
        "sh.helm.release.v1.demo.v3",
    ]
    assert decode_release(release_secrets(devcluster, namespace)[2])["version"] == 3


def test_uninstall_removes_resources_and_history(
    devcluster: Devcluster, namespace: str, helm_config: helm.Config, chart_dir: pathlib.Path
) -> None:
    install(helm_config, chart_dir)

    helm_config.uninstall("demo", wait="watcher", timeout=60)

    assert helm_config.list(all_states=True) == []
    assert release_secrets(devcluster, namespace) == []
    assert "demo-cm" not in names(devcluster, namespace, "configmaps")
    assert names(devcluster, namespace, "deployments") == []
    assert names(devcluster, namespace, "services") == []
    # Helm never deletes CRDs it installed from crds/.
    get(devcluster, "", "crd", "gadgets.helm.example.org")


@dataclasses.dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    content_type: str
    body: bytes


@contextlib.contextmanager
def recording_proxy(upstream: str) -> Iterator[tuple[str, list[Recorded]]]:
    """A plain HTTP proxy on 127.0.0.1 that forwards to ``upstream`` and records
    every request. Runs its own event loop in a thread (the Helm SDK blocks)."""
    recorded: list[Recorded] = []
    ready = threading.Event()
    loop = asyncio.new_event_loop()
    address: list[str] = []

    async def forward(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        recorded.append(
            Recorded(request.method, request.path_qs, request.headers.get("Content-Type", ""), body)
        )
        headers = {
            k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")
        }
        timeout = aiohttp.ClientTimeout(total=None)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.request(
                request.method, upstream + request.path_qs, data=body or None, headers=headers
            ) as response,
        ):
            # NB: Content-Type verbatim: discovery's media-type parameters matter.
            kept = {
                k: v
                for k, v in response.headers.items()
                if k.lower() in ("content-type", "warning")
            }
            # Streamed, so watches (Helm's hook and resource waits) work through it.
            reply = web.StreamResponse(status=response.status, headers=kept)
            await reply.prepare(request)
            async for chunk in response.content.iter_any():
                await reply.write(chunk)
            await reply.write_eof()
            return reply

    async def serve() -> web.AppRunner:
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", forward)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        address.append(f"http://{host}:{port}")
        return runner

    runners: list[web.AppRunner] = []

    def main() -> None:
        asyncio.set_event_loop(loop)
        runners.append(loop.run_until_complete(serve()))
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=main, daemon=True)
    thread.start()
    ready.wait(timeout=10)
    try:
        yield address[0], recorded
    finally:
        asyncio.run_coroutine_threadsafe(runners[0].cleanup(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


def test_protobuf_bodies_helm_sends_decode_to_what_the_server_stores(
    devcluster: Devcluster, namespace: str, chart_dir: pathlib.Path
) -> None:
    with recording_proxy(devcluster.base_url) as (proxy, recorded):
        config_text = devcluster.kubeconfig.read_text().replace(devcluster.base_url, proxy)
        with helm.Config(kubeconfig_content=config_text, namespace=namespace) as config:
            config.install(helm.Chart.load(chart_dir), "demo")
            stored = release_secrets(devcluster, namespace)
            config.uninstall("demo")

    sent = [r for r in recorded if protobuf.is_protobuf(r.content_type)]
    decoded = [(r.method, r.path, protobuf.decode(r.body)) for r in sent]
    release_path = f"/api/v1/namespaces/{namespace}/secrets/sh.helm.release.v1.demo.v1"
    assert decoded[0][:2] == ("POST", f"/api/v1/namespaces/{namespace}/secrets")
    assert decoded[-1] == ("DELETE", release_path, {"kind": "DeleteOptions", "apiVersion": "v1"})
    updates = decoded[1:-1]
    assert updates
    assert {(method, path, body["kind"]) for method, path, body in updates} == {
        ("PUT", release_path, "Secret")
    }
    created = decoded[0][2]
    assert created["apiVersion"] == "v1"
    assert created["metadata"]["name"] == "sh.helm.release.v1.demo.v1"
    assert created["metadata"]["labels"]["status"] == "pending-install"
    assert decode_release(created)["name"] == "demo"
    # The last update of the install is exactly what the server then held.
    (secret,) = stored
    deployed = [b for _, _, b in updates if b["metadata"]["labels"]["status"] == "deployed"]
    assert deployed[-1]["data"] == secret["data"]
    assert deployed[-1]["type"] == secret["type"] == "helm.sh/release.v1"
    assert deployed[-1]["metadata"]["labels"] == secret["metadata"]["labels"]
    assert updates[-1][2]["metadata"]["labels"]["status"] == "uninstalling"


@pytest.mark.slow
def test_legacy_wait_install_and_upgrade(
    devcluster: Devcluster, namespace: str, helm_config: helm.Config, chart_dir: pathlib.Path
) -> None:
    chart = helm.Chart.load(chart_dir)

    installed = helm_config.install(chart, "demo", wait="legacy", timeout=10)
    upgraded = helm_config.upgrade(
        chart, "demo", {"image": "nginx:1.28"}, wait="legacy", timeout=10
    )

    assert (installed["status"], upgraded["status"]) == ("deployed", "deployed")
    assert get(devcluster, namespace, "deployment", "demo-web")["status"]["availableReplicas"] == 2


@pytest.mark.slow
def test_wait_fails_when_the_deployment_fails(
    devcluster: Devcluster, namespace: str, helm_config: helm.Config, chart_dir: pathlib.Path
) -> None:
    with pytest.raises(helm.HelmError) as caught:
        install(helm_config, chart_dir, simulate="fail")

    assert "demo-web" in str(caught.value)
    (secret,) = release_secrets(devcluster, namespace)
    assert secret["metadata"]["labels"]["status"] == "failed"
