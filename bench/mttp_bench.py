"""Flux's "mean time to production" benchmark shape (fluxcd/flux-benchmark), not a test.

N Kustomizations are created at once, each applying from one GitRepository a
ServiceAccount, a Service, a Deployment scaled to zero and an Ingress whose
names carry ``${INDEX}``, set per Kustomization through
``postBuild.substitute``. Everything runs as real processes on 127.0.0.1:
devcluster, a git http-backend server, source-controller and
kustomize-controller (rate limit QPS 50 / burst 300, as Flux's defaults).

Figures printed (JSON):
- ``seconds_to_all_ready``: from creating the Kustomizations to all Ready;
- ``writes_needed``: each Kustomization needs its finalizer, one status
  patch and one write per object; ``floor_seconds``, the time those take
  under the client's rate limit, ``(writes_needed - BURST) / QPS``; the
  target ``1.15 * floor_seconds`` and ``ratio_to_floor``;
- ``api_requests_per_object`` and ``api_requests_per_kustomization``:
  kustomize-controller's API requests (from its
  ``headwater_rest_client_requests_total``, by verb; Kubernetes Events have a
  limiter of their own and are not counted) divided by the objects applied
  and by the Kustomizations (target: objects + 2); figures independent of
  how busy the machine is;
- ``noop_requests_per_object``: the same over one more forced reconcile of
  every Kustomization with nothing changed (target 0);
- ``peak_rss_mib``: kustomize-controller's peak resident memory (VmHWM).

Usage: python -m bench.mttp_bench --count 100 [--count 500 …]
"""

from __future__ import annotations

import argparse
import json
import pathlib
import re
import tempfile
import time
import urllib.request
from typing import Any

from tests.fixtures import devcluster as devcluster_fixtures
from tests.fixtures import gitservers, processes

QPS = 50
BURST = 300
OBJECTS_PER_KUSTOMIZATION = 4
CRDS = pathlib.Path(__file__).resolve().parents[1] / "crds"

TEMPLATE = {
    "sa.yaml": """apiVersion: v1
kind: ServiceAccount
metadata:
  name: app-${INDEX}
""",
    "service.yaml": """apiVersion: v1
kind: Service
metadata:
  name: app-${INDEX}
spec:
  selector:
    app: app-${INDEX}
  ports:
    - port: 80
      targetPort: 8080
""",
    "deployment.yaml": """apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-${INDEX}
spec:
  replicas: 0
  selector:
    matchLabels:
      app: app-${INDEX}
  template:
    metadata:
      labels:
        app: app-${INDEX}
    spec:
      serviceAccountName: app-${INDEX}
      containers:
        - name: app
          image: ghcr.io/stefanprodan/podinfo:6.7.0
""",
    "ingress.yaml": """apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: app-${INDEX}
spec:
  rules:
    - host: app-${INDEX}.example.com
      http:
        paths:
          - path: /
            pathType: Prefix
            backend:
              service:
                name: app-${INDEX}
                port:
                  number: 80
""",
}


def _requests(metrics_addr: str) -> int:
    with urllib.request.urlopen(f"http://{metrics_addr}/metrics", timeout=10) as response:
        text = response.read().decode()
    return sum(
        int(float(value))
        for value in re.findall(
            r'^headwater_rest_client_requests_total\{verb="[a-z]+"\} (\S+)$', text, re.M
        )
    )


def _peak_rss_mib(pid: int) -> float:
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def _ready_count(cluster: devcluster_fixtures.Devcluster) -> int:
    listing = json.loads(
        cluster.kubectl("get", "kustomizations", "-n", "bench", "-o", "json", timeout=120).stdout
    )
    return sum(
        1
        for item in listing["items"]
        for c in item.get("status", {}).get("conditions", [])
        if c["type"] == "Ready" and c["status"] == "True"
    )


def run(count: int, workdir: pathlib.Path) -> dict[str, Any]:
    root = workdir / "repos"
    root.mkdir(parents=True)
    repo = gitservers.RepoBuilder(root, "apps.git")
    repo.commit("apps", {f"app/{name}": text for name, text in TEMPLATE.items()})
    server = gitservers.start_githttpd(root, log=workdir / "git.log")
    try:
        with devcluster_fixtures.start_devcluster(
            workdir / "cluster", simulate_delay=0.1
        ) as cluster:
            cluster.kubectl("apply", "--server-side", "-f", str(CRDS))
            cluster.kubectl("wait", "--for=condition=Established", "crd", "--all")
            cluster.kubectl("create", "namespace", "bench")
            addr = f"127.0.0.1:{devcluster_fixtures.free_port()}"
            common = ["--kubeconfig", str(cluster.kubeconfig), "--watch-all-namespaces=false"]
            env = {"RUNTIME_NAMESPACE": "bench"}
            with (
                processes.start_controller(
                    "controllers.source",
                    [*common, "--storage-path", str(workdir / "storage"),
                     "--storage-addr", addr, "--storage-adv-addr", addr],
                    log=workdir / "source.log", env=env,
                ),
                processes.start_controller(
                    "controllers.kustomize", [*common, "--concurrent", "10"],
                    log=workdir / "kustomize.log", env=env,
                ) as kustomize,
            ):  # fmt: skip
                repository = {
                    "apiVersion": "source.toolkit.fluxcd.io/v1",
                    "kind": "GitRepository",
                    "metadata": {"name": "apps", "namespace": "bench"},
                    "spec": {"interval": "1h", "url": server.url("apps.git")},
                }
                cluster.kubectl("apply", "-f", "-", input=json.dumps(repository))
                cluster.kubectl(
                    "wait", "-n", "bench", "gitrepository/apps", "--for=condition=Ready",
                    "--timeout=120s",
                )  # fmt: skip
                documents = [
                    {
                        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
                        "kind": "Kustomization",
                        "metadata": {"name": f"app-{i}", "namespace": "bench"},
                        "spec": {
                            "interval": "1h",
                            "prune": True,
                            "path": "./app",
                            "targetNamespace": "bench",
                            "sourceRef": {"kind": "GitRepository", "name": "apps"},
                            "postBuild": {"substitute": {"INDEX": str(i)}},
                        },
                    }
                    for i in range(count)
                ]
                requests_before = _requests(kustomize.metrics_addr)
                started = time.monotonic()
                stream = "\n---\n".join(json.dumps(document) for document in documents)
                cluster.kubectl("apply", "-f", "-", input=stream, timeout=600)
                deadline = started + 1800
                while _ready_count(cluster) < count:
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"not all {count} Kustomizations became Ready")
                    time.sleep(1.0)
                elapsed = time.monotonic() - started
                requests = _requests(kustomize.metrics_addr) - requests_before
                objects = count * OBJECTS_PER_KUSTOMIZATION
                noop_before = _requests(kustomize.metrics_addr)
                stamp = str(time.time())
                cluster.kubectl(
                    "annotate", "-n", "bench", "kustomizations", "--all", "--overwrite",
                    f"reconcile.fluxcd.io/requestedAt={stamp}", timeout=600,
                )  # fmt: skip
                handled = 0
                while handled < count and time.monotonic() < deadline:
                    listing = json.loads(
                        cluster.kubectl("get", "kustomizations", "-n", "bench", "-o", "json").stdout
                    )
                    handled = sum(
                        1
                        for item in listing["items"]
                        if item.get("status", {}).get("lastHandledReconcileAt") == stamp
                    )
                    time.sleep(1.0)
                # NB: handling requestedAt writes lastHandledReconcileAt: one status
                # patch per Kustomization, not per object; counted separately.
                noop_requests = _requests(kustomize.metrics_addr) - noop_before - count
                writes_needed = count * (2 + OBJECTS_PER_KUSTOMIZATION)
                floor = max(writes_needed - BURST, 0) / QPS
                return {
                    "kustomizations": count,
                    "objects": objects,
                    "seconds_to_all_ready": round(elapsed, 1),
                    "writes_needed": writes_needed,
                    "floor_seconds": round(floor, 1),
                    "target_seconds": round(1.15 * floor, 1),
                    "ratio_to_floor": round(elapsed / floor, 2) if floor else None,
                    "api_requests_per_object": round(requests / objects, 3),
                    "api_requests_per_kustomization": round(requests / count, 2),
                    "noop_requests_per_object": round(max(noop_requests, 0) / objects, 3),
                    "peak_rss_mib": _peak_rss_mib(kustomize.process.pid),
                }
    finally:
        gitservers.stop(server.process)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, action="append", default=[])
    args = parser.parse_args()
    results = []
    for count in args.count or [100]:
        with tempfile.TemporaryDirectory() as tmp:
            results.append(run(count, pathlib.Path(tmp)))
            print(json.dumps(results[-1]), flush=True)


if __name__ == "__main__":
    main()
