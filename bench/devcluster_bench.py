"""Benchmark of the devcluster API server (not a test): four figures, printed.

1. Server-side apply throughput: 4 concurrent clients, each re-applying a
   ~60-line Deployment (``application/apply-patch+yaml``) with a changed
   annotation every time (a real write per request), and again unchanged
   (the no-op re-apply of a GitOps loop). For the changed applies, also the CPU
   time (user + system, from ``/proc/PID/stat``) the server and its
   controller-manager child spent per apply.
2. Watch delivery latency: time from sending a ConfigMap write to receiving its
   watch event on an open watch, p50/p99 over sequential writes.
3. LIST of 10,000 ConfigMaps (one unpaginated JSON request).
4. Resident memory (VmRSS) of the server process holding those ConfigMaps
   (the target), and of the server plus its controller-manager child.

The server is started as ``python -m devcluster`` on a free
127.0.0.1 port (in-memory store, its controller-manager child running as
usual) and stopped by PID. Usage::

    .venv/bin/python bench/devcluster_bench.py [--configmaps 10000] [--seconds 5]
        [--authorization-mode RBAC] [--output bench/results/devcluster.json]

With ``--authorization-mode RBAC`` the server enforces RBAC and every measured
request carries a ServiceAccount token bound to a Role (see ``ACCOUNT``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import pathlib
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from typing import Any

import aiohttp

from headwater import devprocesses

REPO = pathlib.Path(__file__).resolve().parents[1]
NAMESPACE = "bench"
TARGETS = {
    "ssa_changed_per_s": (">=", 400.0),
    "watch_latency_p99_ms": ("<", 50.0),
    "list_10k_s": ("<", 1.0),
    "rss_10k_mib": ("<", 300.0),
}

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: {namespace}
  labels:
    app.kubernetes.io/name: {name}
    app.kubernetes.io/part-of: bench
    app.kubernetes.io/managed-by: devcluster-bench
  annotations:
    bench.headwater.dev/iteration: "{iteration}"
spec:
  replicas: 1
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      app.kubernetes.io/name: {name}
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 1
      maxUnavailable: 0
  template:
    metadata:
      labels:
        app.kubernetes.io/name: {name}
    spec:
      containers:
      - name: app
        image: ghcr.io/example/app:1.2.3
        imagePullPolicy: IfNotPresent
        args: ["--listen=:8080", "--log-level=info"]
        ports:
        - name: http
          containerPort: 8080
          protocol: TCP
        env:
        - name: MODE
          value: production
        - name: REGION
          value: eu-west-1
        resources:
          requests:
            cpu: 100m
            memory: 128Mi
          limits:
            memory: 256Mi
        readinessProbe:
          httpGet:
            path: /healthz
            port: http
          periodSeconds: 5
        livenessProbe:
          httpGet:
            path: /livez
            port: http
          periodSeconds: 10
      - name: sidecar
        image: ghcr.io/example/sidecar:0.9
        ports:
        - name: metrics
          containerPort: 9090
          protocol: TCP
"""


Headers = dict[str, str] | None
# With RBAC on, the measured requests run as this ServiceAccount, bound to a
# Role for what the bench does (so every request walks the bindings), not as
# the admin, whom the masters group lets through before RBAC is consulted.
ACCOUNT = "bench"
ROLE_RULES = [
    {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["*"]},
    {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["*"]},
]


@dataclasses.dataclass
class Server:
    process: subprocess.Popen[bytes]
    base_url: str


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def devcluster(directory: pathlib.Path, *, authorization_mode: str) -> Iterator[Server]:
    """The server as ``headwater dev`` runs it (``devprocesses``), until the block ends."""
    port = _free_port()
    kubeconfig = directory / "kubeconfig"
    child = devprocesses.spawn(
        "devcluster",
        [sys.executable, "-m", "devcluster", "--host", "127.0.0.1",
         "--port", str(port), "--kubeconfig", str(kubeconfig),
         "--authorization-mode", authorization_mode],
        log=directory / "devcluster.log",
        cwd=REPO,
    )  # fmt: skip
    try:
        # The kubeconfig is written once the server is serving.
        devprocesses.wait_ready(child, kubeconfig.exists, timeout=60, stop=threading.Event())
        yield Server(child.process, f"http://127.0.0.1:{port}")
    finally:
        devprocesses.terminate(child.identity, grace=15, process=child.process)


def rss_mib(pid: int) -> float:
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def _stat_fields(pid: int) -> list[str]:
    """Fields of ``/proc/PID/stat`` from field 3 (state) on."""
    text = pathlib.Path(f"/proc/{pid}/stat").read_text()
    # NB: field 2, the command name in parentheses, may contain spaces.
    return text[text.rindex(")") + 2 :].split()


def children(pid: int) -> list[int]:
    """Live child processes of ``pid`` (the server's controller manager)."""
    found = []
    for entry in pathlib.Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = _stat_fields(int(entry.name))
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far."""
    fields = _stat_fields(pid)
    # utime and stime are fields 14 and 15 of the file: 11 and 12 from the state.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _check(response: aiohttp.ClientResponse) -> Any:
    body = await response.read()
    if response.status >= 300:
        raise RuntimeError(f"{response.method} {response.url}: {response.status} {body[:300]!r}")
    return json.loads(body) if body else None


async def create_namespace(session: aiohttp.ClientSession, base: str) -> None:
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
    async with session.post(f"{base}/api/v1/namespaces", json=body) as response:
        await _check(response)


# --- 1. SSA throughput ------------------------------------------------------------


async def ssa_throughput(
    base: str, *, clients: int, seconds: float, change: bool, headers: Headers = None
) -> tuple[int, float]:
    """(applies done, seconds taken) by ``clients`` concurrent appliers."""

    async def client(index: int) -> int:
        name = f"bench-{'changed' if change else 'same'}-{index}"
        url = f"{base}/apis/apps/v1/namespaces/{NAMESPACE}/deployments/{name}"
        params = {"fieldManager": f"bench-{index}", "fieldValidation": "Strict", "force": "false"}
        apply = {"Content-Type": "application/apply-patch+yaml", "Accept": "application/json"}
        count = 0
        async with aiohttp.ClientSession(headers=headers) as session:
            body = DEPLOYMENT.format(name=name, namespace=NAMESPACE, iteration=0)
            async with session.patch(url, params=params, data=body, headers=apply) as response:
                await _check(response)
            deadline = time.perf_counter() + seconds
            while time.perf_counter() < deadline:
                count += 1
                body = DEPLOYMENT.format(
                    name=name, namespace=NAMESPACE, iteration=count if change else 0
                )
                async with session.patch(url, params=params, data=body, headers=apply) as response:
                    await _check(response)
        return count

    started = time.perf_counter()
    counts = await asyncio.gather(*(client(i) for i in range(clients)))
    return sum(counts), time.perf_counter() - started


# --- 2. watch latency -------------------------------------------------------------


async def watch_latency(base: str, *, writes: int, headers: Headers = None) -> list[float]:
    url = f"{base}/api/v1/namespaces/{NAMESPACE}/configmaps"
    sent: dict[str, float] = {}
    latencies: list[float] = []
    done = asyncio.Event()
    async with aiohttp.ClientSession(headers=headers) as session:
        async with session.get(url) as response:
            version = (await _check(response))["metadata"]["resourceVersion"]
        params = {"watch": "true", "resourceVersion": version, "allowWatchBookmarks": "true"}
        timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
        async with session.get(url, params=params, timeout=timeout) as stream:

            async def read() -> None:
                async for line in stream.content:
                    if not line.strip():
                        continue
                    arrived = time.perf_counter()
                    event = json.loads(line)
                    name = event["object"].get("metadata", {}).get("name", "")
                    if event["type"] == "ADDED" and name in sent:
                        latencies.append((arrived - sent.pop(name)) * 1000)
                        if len(latencies) == writes:
                            done.set()
                            return

            reader = asyncio.create_task(read())
            async with aiohttp.ClientSession(headers=headers) as writer:
                for i in range(writes):
                    name = f"latency-{i}"
                    body = {"metadata": {"name": name}, "data": {"i": str(i)}}
                    sent[name] = time.perf_counter()
                    async with writer.post(url, json=body) as response:
                        await _check(response)
            await asyncio.wait_for(done.wait(), timeout=30)
            reader.cancel()
    return latencies


# --- 3 and 4. many ConfigMaps -----------------------------------------------------


def config_map(index: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": f"cm-{index:05d}",
            "labels": {"app.kubernetes.io/part-of": "bench", "shard": str(index % 16)},
        },
        "data": {f"key{k}": f"value-{index}-{k}-" + "x" * 180 for k in range(4)},
    }


async def create_config_maps(
    base: str, *, count: int, concurrency: int = 16, headers: Headers = None
) -> float:
    url = f"{base}/api/v1/namespaces/{NAMESPACE}/configmaps"
    queue = iter(range(count))
    started = time.perf_counter()

    async def worker() -> None:
        async with aiohttp.ClientSession(headers=headers) as session:
            for index in queue:
                async with session.post(url, json=config_map(index)) as response:
                    await _check(response)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return count / (time.perf_counter() - started)


async def list_timings(
    base: str, *, expected: int, repeats: int, headers: Headers = None
) -> tuple[list[float], list[float]]:
    url = f"{base}/api/v1/namespaces/{NAMESPACE}/configmaps"
    received, parsed = [], []
    async with aiohttp.ClientSession(headers=headers) as session:
        for _ in range(repeats):
            started = time.perf_counter()
            async with session.get(
                url, params={"labelSelector": "app.kubernetes.io/part-of=bench"}
            ) as r:
                body = await r.read()
            received.append(time.perf_counter() - started)
            items = json.loads(body)["items"]
            parsed.append(time.perf_counter() - started)
            if len(items) != expected:
                raise RuntimeError(f"listed {len(items)} ConfigMaps, expected {expected}")
    return received, parsed


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def service_account_headers(session: aiohttp.ClientSession, base: str) -> dict[str, str]:
    """A ServiceAccount bound to a Role of ``ROLE_RULES`` in the namespace; its token header."""
    namespaced = f"{base}/api/v1/namespaces/{NAMESPACE}"
    rbac = f"{base}/apis/rbac.authorization.k8s.io/v1/namespaces/{NAMESPACE}"
    ref = {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": ACCOUNT}
    subject = {"kind": "ServiceAccount", "name": ACCOUNT, "namespace": NAMESPACE}
    for url, body in (
        (f"{namespaced}/serviceaccounts", {"metadata": {"name": ACCOUNT}}),
        (f"{rbac}/roles", {"metadata": {"name": ACCOUNT}, "rules": ROLE_RULES}),
        (
            f"{rbac}/rolebindings",
            {"metadata": {"name": ACCOUNT}, "roleRef": ref, "subjects": [subject]},
        ),
    ):
        async with session.post(url, json=body) as response:
            await _check(response)
    url = f"{namespaced}/serviceaccounts/{ACCOUNT}/token"
    async with session.post(url, json={"spec": {"expirationSeconds": 3600}}) as response:
        token = (await _check(response))["status"]["token"]
    headers = {"Authorization": f"Bearer {token}"}
    review = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
    url = f"{base}/apis/authentication.k8s.io/v1/selfsubjectreviews"
    async with session.post(url, json=review, headers=headers) as response:
        user = (await _check(response))["status"]["userInfo"]["username"]
    if user != f"system:serviceaccount:{NAMESPACE}:{ACCOUNT}":
        raise RuntimeError(f"the bench would run as {user!r}, not as its ServiceAccount")
    return headers


async def run(args: argparse.Namespace, server: Server) -> dict[str, Any]:
    base = server.base_url
    results: dict[str, Any] = {}
    headers: Headers = None
    async with aiohttp.ClientSession() as session:
        await create_namespace(session, base)
        if args.authorization_mode == "RBAC":
            headers = await service_account_headers(session, base)
    pid = server.process.pid
    controllers = children(pid)
    results["controller_processes"] = len(controllers)
    results["rss_start_mib"] = round(rss_mib(pid), 1)
    results["rss_start_with_controllers_mib"] = round(
        rss_mib(pid) + sum(rss_mib(child) for child in controllers), 1
    )

    server_cpu = cpu_seconds(pid)
    # NB: per child PID, so a child that (re)started during the phase counts from zero.
    controllers_cpu = {child: cpu_seconds(child) for child in children(pid)}
    applies, taken = await ssa_throughput(
        base, clients=4, seconds=args.seconds, change=True, headers=headers
    )
    server_cpu = cpu_seconds(pid) - server_cpu
    controllers_used = sum(
        cpu_seconds(child) - controllers_cpu.get(child, 0.0) for child in children(pid)
    )
    results["ssa_changed_per_s"] = round(applies / taken, 1)
    results["ssa_changed_server_cpu_ms_per_apply"] = round(server_cpu * 1000 / applies, 2)
    results["ssa_changed_controllers_cpu_ms_per_apply"] = round(
        controllers_used * 1000 / applies, 2
    )
    applies, taken = await ssa_throughput(
        base, clients=4, seconds=args.seconds, change=False, headers=headers
    )
    results["ssa_unchanged_per_s"] = round(applies / taken, 1)

    latencies = await watch_latency(base, writes=args.watch_writes, headers=headers)
    results["watch_latency_p50_ms"] = round(percentile(latencies, 0.5), 2)
    results["watch_latency_p99_ms"] = round(percentile(latencies, 0.99), 2)
    results["watch_latency_max_ms"] = round(max(latencies), 2)

    results["create_configmaps_per_s"] = round(
        await create_config_maps(base, count=args.configmaps, headers=headers), 1
    )
    received, parsed = await list_timings(
        base, expected=args.configmaps, repeats=5, headers=headers
    )
    results["list_10k_s"] = round(statistics.median(received), 3)
    results["list_10k_s_min"] = round(min(received), 3)
    results["list_10k_with_client_parse_s"] = round(statistics.median(parsed), 3)
    results["rss_10k_mib"] = round(rss_mib(pid), 1)
    results["rss_10k_with_controllers_mib"] = round(
        rss_mib(pid) + sum(rss_mib(child) for child in children(pid)), 1
    )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configmaps", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=5.0, help="per SSA measurement")
    parser.add_argument("--watch-writes", type=int, default=500)
    parser.add_argument("--output", type=pathlib.Path, default=None, help="also write JSON here")
    parser.add_argument(
        "--authorization-mode",
        choices=("AlwaysAllow", "RBAC"),
        default="AlwaysAllow",
        help="RBAC: the server enforces RBAC and the measured requests use a ServiceAccount token",
    )
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="devcluster-bench-") as tmp,
        devcluster(pathlib.Path(tmp), authorization_mode=args.authorization_mode) as server,
    ):
        results = asyncio.run(run(args, server))
    print(f"{'figure':34} {'value':>10}  target")
    for key, value in results.items():
        target = TARGETS.get(key)
        verdict = ""
        if target is not None:
            op, limit = target
            ok = value >= limit if op == ">=" else value < limit
            verdict = f"{op} {limit:g}  {'met' if ok else 'MISSED'}"
        print(f"{key:34} {value:>10}  {verdict}")
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
