"""Benchmark of the Receiver webhook server (not a test; prints figures).

Figures (requests per second over ``--seconds``, ``--concurrency`` clients):
1. ``verify_per_s``: ``verifying.verify`` of a signed GitHub push (HMAC-SHA256
   of a ~7 KiB body), in-process, no HTTP;
2. ``refused_per_s``: HTTP requests with a bad signature, answered 400: the
   lookup by path, the signature check, no API call;
3. ``accepted_per_s``: signed pushes answered 200, each annotating one
   GitRepository (one merge PATCH to the API server), with the client's rate
   limit raised so the figure shows the server, not ``--kube-api-qps``
   (with Flux's default of 50 it is capped near 50/s after the burst of 300);
4. ``api_calls_per_refused`` and ``api_calls_per_accepted``.

Usage: python -m bench.receiver_bench [--seconds 5] [--concurrency 16]
It starts its own devcluster on 127.0.0.1 and stops it by PID at the end; the
server and the load run in this one process (one event loop, one core).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pathlib
import tempfile
import time
import uuid
from collections.abc import Callable
from typing import Any

import multidict

from controllers.notification.receiver import signatures, verifying
from shared.kube import applying, client, resources
from shared.runtime import logging
from tests.fixtures import devcluster as devcluster_fixtures
from tests.fixtures.polling import eventually
from tests.fixtures.receivers import Cluster, Receivers, running_receivers

NAMESPACE = "bench"
TOKEN = "bench-token"
BODY = json.dumps(
    {
        "ref": "refs/heads/main",
        "commits": [{"id": f"{i:040d}", "message": "x" * 80} for i in range(50)],
    }
).encode()
CRDS = pathlib.Path(__file__).resolve().parents[1] / "crds"


def _headers(token: str) -> Callable[[], dict[str, str]]:
    signature = signatures.sign(BODY, token.encode())

    def make() -> dict[str, str]:
        return {
            "Content-Type": "application/json",
            "X-GitHub-Event": "push",
            "X-GitHub-Delivery": str(uuid.uuid4()),
            "X-Hub-Signature-256": signature,
        }

    return make


def _verify_rate(seconds: float) -> float:
    headers = multidict.CIMultiDict(_headers(TOKEN)())
    request = verifying.Request(headers=headers, body=BODY)
    secret = {"token": TOKEN.encode()}
    done, deadline = 0, time.perf_counter() + seconds
    start = time.perf_counter()
    while time.perf_counter() < deadline:
        for _ in range(100):
            verifying.verify("github", request, secret=secret, events=("push",))
        done += 100
    return done / (time.perf_counter() - start)


async def _load(
    receivers: Receivers, path: str, headers: Callable[[], dict[str, str]], *,
    want: int, seconds: float, concurrency: int,
) -> float:  # fmt: skip
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            status = await receivers.post(path, BODY, headers())
            if status != want:
                raise RuntimeError(f"answer {status}, want {want}")
            done += 1

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done / (time.perf_counter() - start)


async def _measure(kube: Cluster, seconds: float, concurrency: int) -> dict[str, Any]:
    await kube.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "token"},
                      "stringData": {"token": TOKEN}})  # fmt: skip
    await kube.apply({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
                      "metadata": {"name": "app"},
                      "spec": {"interval": "1h", "url": "http://127.0.0.1:1/app.git"}})  # fmt: skip
    spec = {
        "type": "github",
        "events": ["push"],
        "secretRef": {"name": "token"},
        "resources": [{"kind": "GitRepository", "name": "app"}],
    }
    await kube.apply(
        {
            "apiVersion": "notification.toolkit.fluxcd.io/v1",
            "kind": "Receiver",
            "metadata": {"name": "github"},
            "spec": spec,
        }
    )
    async with running_receivers(kube) as running:

        async def served() -> str | None:
            obj = await kube.get("notification.toolkit.fluxcd.io/v1", "Receiver", "github")
            path: str | None = ((obj or {}).get("status") or {}).get("webhookPath")
            return path if path and running.serves(path) else None

        path = await eventually(served, within=30)
        figures: dict[str, Any] = {}
        for name, token, want in (("refused", "wrong", 400), ("accepted", TOKEN, 200)):
            calls = sum(kube.api.stats.values())
            rate = await _load(running, path, _headers(token), want=want,
                               seconds=seconds, concurrency=concurrency)  # fmt: skip
            figures[f"{name}_per_s"] = round(rate, 1)
            figures[f"api_calls_per_{name}"] = round(
                (sum(kube.api.stats.values()) - calls) / (rate * seconds), 3
            )
        return figures


async def main(seconds: float, concurrency: int) -> dict[str, Any]:
    figures: dict[str, Any] = {"verify_per_s": round(_verify_rate(seconds), 1)}
    with (
        tempfile.TemporaryDirectory() as tmp,
        devcluster_fixtures.start_devcluster(pathlib.Path(tmp)) as cluster,
    ):
        cluster.kubectl("apply", "--server-side", "-f", str(CRDS))
        cluster.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
        cluster.kubectl("create", "namespace", NAMESPACE)
        async with client.connected(
            kubeconfig=str(cluster.kubeconfig), qps=100_000.0, burst=100_000
        ) as api:
            kube = Cluster(
                api, applying.Objects(api=api, discovery=resources.Discovery(api)), NAMESPACE
            )
            figures.update(await _measure(kube, seconds, concurrency))
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    # NB: JSON lines at info, as a controller logs them, but into /dev/null:
    # the figures measure the server, not a terminal.
    with open(os.devnull, "w") as sink:
        logging.configure(level="info", encoding="json", stream=sink)
        figures = asyncio.run(main(args.seconds, args.concurrency))
    print(json.dumps(figures, indent=2))
