"""Flux's "mean time to production" shape for HelmReleases (fluxcd/flux-benchmark), not a test.

N HelmReleases of one chart from the local OCI registry (an OCIRepository
selecting the chart layer) are created at once; each installs a
ServiceAccount, a ConfigMap, a Service and a Deployment scaled to zero into
its own release. Everything runs as real processes on 127.0.0.1: devcluster,
Debian's docker-registry, source-controller and helm-controller (rate limit
QPS 50 / burst 300, as Flux's defaults).

Figures printed (JSON):
- ``seconds_to_all_ready``: from creating the HelmReleases to all Ready;
- ``writes_needed`` and the target ``1.3 * writes_needed / QPS``: each
  HelmRelease needs its finalizer, a status write before the install and one
  after it, the storage Secret created (pending-install) and updated
  (deployed), and one write per object;
- ``api_requests_per_object``: helm-controller's API requests (from its
  ``headwater_rest_client_requests_total``) divided by the objects released;
- ``noop_requests_per_object``: the same over one more requested reconcile
  of every HelmRelease with nothing changed, less the one status write that
  records ``lastHandledReconcileAt`` (target 0);
- ``peak_rss_mib``: helm-controller's peak resident memory (VmHWM; target
  < 250 MiB at 500).

Usage: python -m bench.helm_mttp_bench --count 100 [--count 500 …]
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

import yaml

from bench import mttp_bench
from tests.fixtures import commands, processes
from tests.fixtures import devcluster as devcluster_fixtures
from tests.fixtures import registry as registry_fixtures

QPS = 50
OBJECTS_PER_RELEASE = 4
WRITES_PER_RELEASE = 5  # finalizer, two status writes, storage create and update
HELM_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
TEMPLATES = {
    "sa.yaml": "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: {{ .Release.Name }}\n",
    "cm.yaml": (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n"
        "data:\n  index: {{ .Values.index | quote }}\n"
    ),
    "service.yaml": (
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: {{ .Release.Name }}\n"
        "spec:\n  selector: {app: {{ .Release.Name | quote }}}\n"
        "  ports: [{port: 80, targetPort: 8080}]\n"
    ),
    "deployment.yaml": (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\n"
        "spec:\n  replicas: 0\n  selector:\n    matchLabels: {app: {{ .Release.Name | quote }}}\n"
        "  template:\n    metadata:\n      labels: {app: {{ .Release.Name | quote }}}\n"
        "    spec:\n      serviceAccountName: {{ .Release.Name }}\n"
        "      containers: [{name: app, image: 'ghcr.io/stefanprodan/podinfo:6.7.0'}]\n"
    ),
}


def _package(workdir: pathlib.Path) -> pathlib.Path:
    import helm_python  # NB: loads a Go runtime, so only when used

    source = workdir / "chart" / "bench"
    (source / "templates").mkdir(parents=True)
    (source / "Chart.yaml").write_text(
        yaml.safe_dump({"apiVersion": "v2", "name": "bench", "version": "1.0.0"})
    )
    (source / "values.yaml").write_text("index: 0\n")
    for name, text in TEMPLATES.items():
        (source / "templates" / name).write_text(text)
    return pathlib.Path(helm_python.package(source, destination=workdir))


def _ready(cluster: devcluster_fixtures.Devcluster, *, stamp: str | None = None) -> int:
    listing = json.loads(
        cluster.kubectl("get", "helmreleases", "-n", "bench", "-o", "json", timeout=120).stdout
    )
    if stamp is not None:
        return sum(
            1
            for item in listing["items"]
            if item.get("status", {}).get("lastHandledReconcileAt") == stamp
        )
    return sum(
        1
        for item in listing["items"]
        for c in item.get("status", {}).get("conditions", [])
        if c["type"] == "Ready" and c["status"] == "True"
    )


def _wait(
    cluster: devcluster_fixtures.Devcluster, count: int, deadline: float, **kwargs: Any
) -> None:
    while _ready(cluster, **kwargs) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"not all {count} HelmReleases done")
        time.sleep(1.0)


def _manifests(count: int) -> str:
    documents = [
        {
            "apiVersion": "helm.toolkit.fluxcd.io/v2",
            "kind": "HelmRelease",
            "metadata": {"name": f"app-{i}", "namespace": "bench"},
            "spec": {
                "interval": "1h",
                "chartRef": {"kind": "OCIRepository", "name": "bench"},
                "values": {"index": i},
            },
        }
        for i in range(count)
    ]
    return "\n---\n".join(json.dumps(document) for document in documents)


def _requests_by_verb(metrics_addr: str) -> dict[str, int]:
    """helm-controller's API requests so far, by Kubernetes verb."""
    with urllib.request.urlopen(f"http://{metrics_addr}/metrics", timeout=10) as response:
        text = response.read().decode()
    found = re.findall(
        r'^headwater_rest_client_requests_total\{verb="([a-z]+)"\} (\S+)$', text, re.M
    )
    return {verb: int(float(value)) for verb, value in found}


def run(count: int, workdir: pathlib.Path) -> dict[str, Any]:
    import helm_python  # NB: loads a Go runtime, so only when used

    registry = registry_fixtures.start_registry(workdir / "registry")
    try:
        helm_python.push(_package(workdir), f"oci://{registry.host}/charts", plain_http=True)
        with devcluster_fixtures.start_devcluster(
            workdir / "cluster", simulate_delay=0.1
        ) as cluster:
            cluster.kubectl("apply", "--server-side", "-f", str(mttp_bench.CRDS))
            cluster.kubectl("wait", "--for=condition=Established", "crd", "--all")
            cluster.kubectl("create", "namespace", "bench")
            common = ["--kubeconfig", str(cluster.kubeconfig), "--watch-all-namespaces=false"]
            with (
                processes.start_source_controller(
                    cluster.kubeconfig, "bench", workdir, devcluster_fixtures.free_port()
                ),
                processes.start_controller(
                    "controllers.helm", [*common, "--concurrent", "10"],
                    log=workdir / "helm.log", env={"RUNTIME_NAMESPACE": "bench"},
                ) as helm,
            ):  # fmt: skip
                repository = {
                    "apiVersion": "source.toolkit.fluxcd.io/v1",
                    "kind": "OCIRepository",
                    "metadata": {"name": "bench", "namespace": "bench"},
                    "spec": {
                        "interval": "1h",
                        "url": f"oci://{registry.host}/charts/bench",
                        "ref": {"tag": "1.0.0"},
                        "insecure": True,
                        "layerSelector": {"mediaType": HELM_LAYER, "operation": "copy"},
                    },
                }
                cluster.kubectl("apply", "-f", "-", input=json.dumps(repository))
                cluster.kubectl(
                    "wait", "-n", "bench", "ocirepository/bench", "--for=condition=Ready",
                    "--timeout=120s",
                )  # fmt: skip
                requests_before = mttp_bench._requests(helm.metrics_addr)
                verbs_before = _requests_by_verb(helm.metrics_addr)
                started = time.monotonic()
                cluster.kubectl("apply", "-f", "-", input=_manifests(count), timeout=600)
                deadline = started + 1800
                _wait(cluster, count, deadline)
                elapsed = time.monotonic() - started
                requests = mttp_bench._requests(helm.metrics_addr) - requests_before
                verbs = _requests_by_verb(helm.metrics_addr)
                objects = count * OBJECTS_PER_RELEASE
                noop_before = mttp_bench._requests(helm.metrics_addr)
                stamp = str(time.time())
                cluster.kubectl(
                    "annotate", "-n", "bench", "helmreleases", "--all", "--overwrite",
                    f"reconcile.fluxcd.io/requestedAt={stamp}", timeout=600,
                )  # fmt: skip
                _wait(cluster, count, deadline, stamp=stamp)
                # NB: handling requestedAt writes lastHandledReconcileAt: one status
                # patch per HelmRelease, not per object; counted separately.
                noop_requests = mttp_bench._requests(helm.metrics_addr) - noop_before - count
                writes_needed = count * (WRITES_PER_RELEASE + OBJECTS_PER_RELEASE)
                return {
                    "helmreleases": count,
                    "objects": objects,
                    "seconds_to_all_ready": round(elapsed, 1),
                    "writes_needed": writes_needed,
                    "target_seconds": round(1.3 * writes_needed / QPS, 1),
                    "api_requests_per_object": round(requests / objects, 3),
                    "requests_per_release_by_verb": {
                        verb: round((n - verbs_before.get(verb, 0)) / count, 2)
                        for verb, n in sorted(verbs.items())
                        if n != verbs_before.get(verb, 0)
                    },
                    "noop_requests_per_object": round(max(noop_requests, 0) / objects, 3),
                    "peak_rss_mib": mttp_bench._peak_rss_mib(helm.process.pid),
                }
    finally:
        commands.stop(registry.process)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, action="append", default=[])
    args = parser.parse_args()
    for count in args.count or [100]:
        with tempfile.TemporaryDirectory() as tmp:
            print(json.dumps(run(count, pathlib.Path(tmp))), flush=True)


if __name__ == "__main__":
    main()
