"""A chart from an OCI registry: source-controller's pull against ``helm pull`` (Helm SDK).

    .venv/bin/python -m bench.helm_oci_bench [--rounds 15] [--large-kib 4096] [--output FILE]

Starts Debian's ``docker-registry`` on 127.0.0.1 (``tests.fixtures.registry``,
plain HTTP), packages two charts and pushes them with the Helm SDK (so the
layout is Helm's own): ``small`` (20 templates, a few KiB, like most charts)
and ``large`` (the same plus ``--large-kib`` KiB of incompressible data).
Then, for each chart, a fresh child process (``bench.childrun``) pulls it
``--rounds`` times each way, the two ways alternating (and which goes first
too, so the machine's load falls on both alike), with the version given as
a range (``1.x``) so both sides list the tags:

- ours: what the HelmChart reconciler does for a new chart from an OCI
  HelmRepository once its Secrets are read — ``registries.resolve_version``
  (tag list), ``registries.pull_then`` (manifest + chart layer,
  digest-checked, inflated and written to a staged storage file in a worker
  thread as it arrives, then ``building.from_download``: the chart checked
  as Helm's loader would, from its tar headers and ``Chart.yaml``), and the
  commit of the ``.tgz`` in artifact storage under the object's lock (one
  rename; each round's file is removed afterwards, untimed, so every round
  stores a new file as a new version does);
- Helm: ``helm_python.pull("oci://…", version="1.x", destination=…)``, which
  resolves the range, pulls and writes ``<name>-<version>.tgz``.

The child times each call (imports and the Go runtime's start excluded);
``ours_store_s_median`` is the part of ours spent storing the artifact once
pulled (the lock and the rename: the bytes were written while they arrived).
Printed per chart: the first pull (``_cold``: new connections, empty token
cache) and the median of the others, in seconds and CPU seconds, and the
ratios ours / Helm (target <= 1.5; ``ratio_without_store_median`` leaves
our storage write out), plus the child's peak RSS (both sides together).
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

_BOTH = """
import asyncio, json, pathlib, sys, time
import aiohttp
import helm_python as helm
from controllers.source.helm import charts, registries
from controllers.source.helmchart import building
from shared.api import source
from shared.artifacts import storage
from shared.oci import client, tokens, transport
host, chart, rounds, root = sys.argv[1], sys.argv[2], int(sys.argv[3]), pathlib.Path(sys.argv[4])
obj = source.HelmChart.model_validate({
    "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmChart",
    "metadata": {"name": chart, "namespace": "bench", "generation": 1},
    "spec": {"chart": chart, "version": "1.x", "interval": "1m",
             "sourceRef": {"kind": "HelmRepository", "name": "registry"}}})
store = storage.Storage(root / "store", advertised_address="localhost")
key = storage.ObjectKey(kind="HelmChart", namespace="bench", name=chart)
limits = charts.Limits()
location = registries.parse_url(f"oci://{host}/bench")
async def ours(oci):
    start, cpu = time.perf_counter(), time.process_time()
    version = await registries.resolve_version(oci, location, chart, "1.x")
    staged = store.stage(key)
    def load(pulled):
        staged.digest = pulled.layer_digest
        return building.from_download(obj, pulled.data, name=chart, version=version,
            build_metadata="", limits=limits, tar=pulled.tar)
    build = await registries.pull_then(oci, location, chart, version, limits=limits,
        then=load, sink=staged.write)
    stored = time.perf_counter()
    async with store.lock(key):
        artifact = await store.commit(key, staged, filename=f"{chart}-{version}.tgz",
                                      revision=version)
    end, used = time.perf_counter(), time.process_time() - cpu
    assert build.data is not None and artifact.size == len(build.data)
    # A new version is a new file, as Helm's is in its fresh directory: renaming
    # over an existing one makes ext4 write it out at once (auto_da_alloc).
    store.local_path(artifact.path).unlink()
    return end - start, used, end - stored
def theirs(sdk, index):
    destination = root / "helm" / str(index)
    destination.mkdir(parents=True)
    start, cpu = time.perf_counter(), time.process_time()
    helm.pull(f"oci://{host}/bench/{chart}", client=sdk, version="1.x",
              destination=destination, plain_http=True)
    return time.perf_counter() - start, time.process_time() - cpu
async def main():
    figures = {"ours": {"walls": [], "cpus": [], "stores": []}, "helm": {"walls": [], "cpus": []}}
    async with aiohttp.ClientSession() as session:
        oci = client.Client(session, transport.Connection(host=host, plain_http=True),
                            token_cache=tokens.TokenCache())
        with helm.RegistryClient(plain_http=True, credentials_file=root / "registry.json") as sdk:
            for index in range(rounds):
                # Alternate who goes first, so the machine's load falls on both alike.
                order = ("ours", "helm") if index % 2 == 0 else ("helm", "ours")
                for side in order:
                    if side == "ours":
                        wall, cpu, stored = await ours(oci)
                        figures["ours"]["stores"].append(stored)
                    else:
                        wall, cpu = theirs(sdk, index)
                    figures[side]["walls"].append(wall)
                    figures[side]["cpus"].append(cpu)
    return figures
print(json.dumps(asyncio.run(main())))
"""


def _summary(prefix: str, child: dict[str, Any]) -> dict[str, float]:
    walls, cpus = child["walls"], child["cpus"]
    figures = {
        f"{prefix}_cold_s": round(walls[0], 4),
        f"{prefix}_s_median": round(statistics.median(walls[1:]), 4),
        f"{prefix}_cpu_s_median": round(statistics.median(cpus[1:]), 4),
    }
    if "stores" in child:
        pulls = [wall - stored for wall, stored in zip(walls, child["stores"], strict=True)]
        figures[f"{prefix}_store_s_median"] = round(statistics.median(child["stores"][1:]), 4)
        figures[f"{prefix}_without_store_s_median"] = round(statistics.median(pulls[1:]), 4)
    return figures


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
            both = childrun.run_python(
                _BOTH, target.host, chart, str(rounds), str(work / chart), what="pulls"
            )
            figures = {**_summary("ours", both["ours"]), **_summary("helm", both["helm"])}
            figures["peak_rss_mib_both"] = round(both["peak_rss_mib"], 1)
            figures["ratio_median"] = round(figures["ours_s_median"] / figures["helm_s_median"], 3)
            figures["ratio_cold"] = round(figures["ours_cold_s"] / figures["helm_cold_s"], 3)
            figures["ratio_without_store_median"] = round(
                figures["ours_without_store_s_median"] / figures["helm_s_median"], 3
            )
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
