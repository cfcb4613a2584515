"""A chart from an OCI registry: source-controller's pull against ``helm pull`` (Helm SDK).

    .venv/bin/python -m bench.helm_oci_bench [--rounds 15] [--large-kib 4096] [--output FILE]

Starts Debian's ``docker-registry`` on 127.0.0.1 (``tests.fixtures.registry``,
plain HTTP), packages two charts and pushes them with the Helm SDK (so the
layout is Helm's own): ``small`` (20 templates, a few KiB, like most charts)
and ``large`` (the same plus ``--large-kib`` KiB of incompressible data).
Then, for each chart, two fresh child processes (``bench.childrun``) pull it
``--rounds`` times each, with the version given as a range (``1.x``) so both
sides list the tags:

- ours: what the HelmChart reconciler does for a new chart from an OCI
  HelmRepository once its Secrets are read — ``registries.resolve_version``
  (tag list), ``registries.pull`` (manifest + chart layer, digest-checked),
  ``building.from_download`` (the chart loaded and checked as Helm would)
  in a thread, and the store of the ``.tgz`` in artifact storage;
- Helm: ``helm_python.pull("oci://…", version="1.x", destination=…)``, which
  resolves the range, pulls and writes ``<name>-<version>.tgz``.

Each child times its own calls (imports and the Go runtime's start excluded).
Printed per chart: the first pull (``_cold``: new connections, empty token
cache) and the median of the others, in seconds and CPU seconds, and the
ratios ours / Helm (target <= 1.5), plus each child's peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import shutil
import statistics
import sys
import tempfile
from typing import Any

from bench import childrun
from tests.fixtures import commands
from tests.fixtures import registry as registry_fixtures

_PUSH = """
import json, pathlib, sys
from tests.fixtures import chartrepos, registry
host, workdir, large_kib = sys.argv[1], pathlib.Path(sys.argv[2]), int(sys.argv[3])
target = registry.Registry(host=host, process=None)
templates = {f"templates/cm-{i}.yaml": (
    "apiVersion: v1\\nkind: ConfigMap\\nmetadata:\\n  name: {{ .Release.Name }}-%d\\n"
    "data:\\n  key: {{ .Values.replicas | quote }}\\n" % i) * 8 for i in range(20)}
small = chartrepos.package(workdir / "small", workdir / "out", "small", "1.0.0", files=templates)
large_files = dict(templates, **{"files/data.b64": __import__("base64").b64encode(
    __import__("os").urandom(large_kib * 768)).decode()})
large = chartrepos.package(workdir / "large", workdir / "out", "large", "1.0.0", files=large_files)
sizes = {}
for archive in (small, large):
    registry.push_chart(target, archive, "bench")
    sizes[archive.name] = archive.stat().st_size
print(json.dumps(sizes))
"""

_OURS = """
import asyncio, json, pathlib, sys, time
import aiohttp
from controllers.source.helm import charts, registries
from controllers.source.helmchart import building
from shared.api import source
from shared.artifacts import storage
from shared.oci import client, tokens, transport
host, chart, rounds, root = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
obj = source.HelmChart.model_validate({
    "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmChart",
    "metadata": {"name": chart, "namespace": "bench", "generation": 1},
    "spec": {"chart": chart, "version": "1.x", "interval": "1m",
             "sourceRef": {"kind": "HelmRepository", "name": "registry"}}})
store = storage.Storage(root, advertised_address="localhost")
key = storage.ObjectKey(kind="HelmChart", namespace="bench", name=chart)
limits = charts.Limits()
async def main():
    walls, cpus = [], []
    location = registries.parse_url(f"oci://{host}/bench")
    async with aiohttp.ClientSession() as session:
        oci = client.Client(session, transport.Connection(host=host, plain_http=True),
                            token_cache=tokens.TokenCache())
        for _ in range(rounds):
            start, cpu = time.perf_counter(), time.process_time()
            version = await registries.resolve_version(oci, location, chart, "1.x")
            pulled = await registries.pull(oci, location, chart, version, limits=limits)
            build = await asyncio.to_thread(building.from_download, obj, pulled.data,
                name=chart, version=version, build_metadata="", limits=limits, tar=pulled.tar)
            async with store.lock(key):
                await store.store_bytes(key, data=build.data,
                    filename=f"{chart}-{version}.tgz", revision=version)
            walls.append(time.perf_counter() - start)
            cpus.append(time.process_time() - cpu)
    return walls, cpus
walls, cpus = asyncio.run(main())
print(json.dumps({"walls": walls, "cpus": cpus}))
"""

_HELM = """
import json, pathlib, sys, time
import helm_python as helm
host, chart, rounds, root = sys.argv[1], sys.argv[2], int(sys.argv[3]), pathlib.Path(sys.argv[4])
walls, cpus = [], []
with helm.RegistryClient(plain_http=True, credentials_file=root / "registry.json") as sdk:
    for index in range(rounds):
        destination = root / str(index)
        destination.mkdir(parents=True)
        start, cpu = time.perf_counter(), time.process_time()
        helm.pull(f"oci://{host}/bench/{chart}", client=sdk, version="1.x",
                  destination=destination, plain_http=True)
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
print(json.dumps({"walls": walls, "cpus": cpus}))
"""


def _summary(prefix: str, child: dict[str, Any]) -> dict[str, float]:
    walls, cpus = child["walls"], child["cpus"]
    return {
        f"{prefix}_cold_s": round(walls[0], 4),
        f"{prefix}_s_median": round(statistics.median(walls[1:]), 4),
        f"{prefix}_cpu_s_median": round(statistics.median(cpus[1:]), 4),
        f"{prefix}_peak_rss_mib": round(child["peak_rss_mib"], 1),
    }


def run(rounds: int, large_kib: int) -> dict[str, Any]:
    work = pathlib.Path(tempfile.mkdtemp(prefix="helm-oci-bench-"))
    # The children inherit these: Helm's cache and configuration stay in the work directory.
    os.environ["HELM_CACHE_HOME"] = str(work / "helm-cache")
    os.environ["HELM_CONFIG_HOME"] = str(work / "helm-config")
    target = registry_fixtures.start_registry(work / "registry")
    try:
        sizes = childrun.run_python(
            _PUSH, target.host, str(work / "charts"), str(large_kib), what="push"
        )
        result: dict[str, Any] = {
            "chart_bytes": {k: v for k, v in sizes.items() if k.endswith(".tgz")}
        }
        for chart in ("small", "large"):
            ours = childrun.run_python(
                _OURS, target.host, chart, str(rounds), str(work / f"store-{chart}"),
                what="our pull",
            )  # fmt: skip
            helm = childrun.run_python(
                _HELM, target.host, chart, str(rounds), str(work / f"helm-{chart}"),
                what="helm pull",
            )  # fmt: skip
            figures = {**_summary("ours", ours), **_summary("helm", helm)}
            figures["ratio_median"] = round(figures["ours_s_median"] / figures["helm_s_median"], 3)
            figures["ratio_cold"] = round(figures["ours_cold_s"] / figures["helm_cold_s"], 3)
            figures["cpu_ratio_median"] = round(
                figures["ours_cpu_s_median"] / figures["helm_cpu_s_median"], 3
            )
            result[chart] = figures
        result["rounds"] = rounds
        result["cpus"] = os.cpu_count()
        return result
    finally:
        commands.stop(target.process)
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--large-kib", type=int, default=4096)
    parser.add_argument("--output", type=pathlib.Path)
    arguments = parser.parse_args()
    result = run(arguments.rounds, arguments.large_kib)
    result["target_ratio"] = 1.5
    result["targets_met"] = all(result[c]["ratio_median"] <= 1.5 for c in ("small", "large"))
    text = json.dumps(result, indent=2)
    print(text)
    if arguments.output is not None:
        arguments.output.parent.mkdir(parents=True, exist_ok=True)
        arguments.output.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
