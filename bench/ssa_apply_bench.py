"""Benchmark of server-side apply inside the devcluster process (not a test).

Measures ``Cluster.apply`` in-process (no HTTP, no YAML decoding) for the
~60-line Deployment of ``devcluster_bench`` re-applied by the same manager
with a changed annotation every time — the common case of GitOps
controllers — and again unchanged. Prints microseconds per apply (the best
of several rounds, as the machine is shared):

- ``changed``: the fast path (``reapply``) as the server runs it;
- ``changed_full``: the same with ``Cluster(fast_reapply=False)``, i.e. the
  full algorithm (with this tree's other speed-ups);
- ``unchanged``: the memo of an identical re-apply;
- with ``--baseline REV`` (default: where this branch left ``main``), the
  same figures for the code of that git revision, extracted to a temporary directory and run in a
  subprocess, alternating with this tree's runs, and the ratios old/new.

Usage: .venv/bin/python bench/ssa_apply_bench.py [--applies 2000] [--rounds 5]
    [--baseline REV | --no-baseline]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time
from typing import Any

REPO = pathlib.Path(__file__).resolve().parents[1]
ANNOTATION = "bench.headwater.dev/iteration"


def _deployment() -> dict[str, Any]:
    import yaml

    text = (REPO / "bench" / "devcluster_bench.py").read_text()
    start = text.index('DEPLOYMENT = """\\\n') + len('DEPLOYMENT = """\\\n')
    template = text[start : text.index('"""', start)]
    body = yaml.safe_load(template.format(name="web", namespace="bench", iteration=0))
    assert isinstance(body, dict)
    return body


def measure(*, applies: int, fast: bool | None) -> dict[str, float]:
    """µs per apply: changed and unchanged. ``fast`` None: the code has no such switch."""
    from headwater.devcluster import cluster as cluster_mod
    from headwater.devcluster import storage, typeinfo

    options: dict[str, Any] = {} if fast is None else {"fast_reapply": fast}
    cluster = cluster_mod.Cluster(
        store=storage.MemoryStorage(), catalog=typeinfo.load_builtin(), **options
    )
    namespaces = cluster.registry.lookup("", "v1", "namespaces")
    deployments = cluster.registry.lookup("apps", "v1", "deployments")
    assert namespaces is not None
    assert deployments is not None
    cluster.create(
        namespaces, "", {"metadata": {"name": "bench"}}, cluster_mod.WriteOptions(manager="x")
    )
    base = _deployment()
    bodies = []
    for iteration in range(applies + 1):
        body = copy.deepcopy(base)
        body["metadata"]["annotations"][ANNOTATION] = str(iteration)
        bodies.append(body)
    same = [copy.deepcopy(bodies[-1]) for _ in range(applies)]

    def run(items: list[dict[str, Any]]) -> float:
        started = time.perf_counter()
        for body in items:
            cluster.apply(
                deployments, "bench", "web", body, cluster_mod.WriteOptions(manager="bench")
            )
        return (time.perf_counter() - started) / len(items) * 1e6

    run(bodies[:1])
    changed = run(bodies[1:])
    unchanged = run(same)
    version = cluster.get(deployments, "bench", "web")["metadata"]["resourceVersion"]
    assert int(version) >= applies, "every changed apply must write"
    return {"changed": changed, "unchanged": unchanged}


def _inner(arguments: argparse.Namespace) -> None:
    fast: bool | None = None if arguments.inner == "baseline" else arguments.inner == "fast"
    print(json.dumps(measure(applies=arguments.applies, fast=fast)))


def _run(tree: pathlib.Path, mode: str, applies: int) -> dict[str, float]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(tree), str(REPO)])
    output = subprocess.run(
        [sys.executable, __file__, "--inner", mode, "--applies", str(applies)],
        env=env,
        cwd=tree,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result: dict[str, float] = json.loads(output.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--applies", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--baseline", help="git revision to compare with")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--inner", choices=("fast", "full", "baseline"), help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.inner:
        _inner(arguments)
        return
    modes = ["fast", "full"] + ([] if arguments.no_baseline else ["baseline"])
    best: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="ssa-apply-bench-") as scratch:
        old_tree = pathlib.Path(scratch)
        if "baseline" in modes:
            if arguments.baseline is None:
                arguments.baseline = subprocess.run(
                    ["git", "merge-base", "HEAD", "main"],
                    cwd=REPO,
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout.strip()
            archive = subprocess.run(
                ["git", "archive", arguments.baseline, "headwater"],
                cwd=REPO,
                check=True,
                capture_output=True,
            ).stdout
            subprocess.run(["tar", "-x", "-C", str(old_tree)], input=archive, check=True)
        for _ in range(arguments.rounds):
            for mode in modes:
                tree = old_tree if mode == "baseline" else REPO
                figures = _run(tree, mode, arguments.applies)
                for name, value in figures.items():
                    seen = best.setdefault(mode, {})
                    seen[name] = min(value, seen.get(name, value))
    report: dict[str, Any] = {
        "us_per_apply": {
            "changed": round(best["fast"]["changed"], 1),
            "changed_full": round(best["full"]["changed"], 1),
            "unchanged": round(best["fast"]["unchanged"], 1),
        },
        "fast_vs_full": round(best["full"]["changed"] / best["fast"]["changed"], 2),
    }
    if "baseline" in best:
        report["baseline"] = arguments.baseline
        report["baseline_us_per_apply"] = {
            "changed": round(best["baseline"]["changed"], 1),
            "unchanged": round(best["baseline"]["unchanged"], 1),
        }
        report["speedup_vs_baseline"] = {
            "changed": round(best["baseline"]["changed"] / best["fast"]["changed"], 2),
            "changed_full": round(best["baseline"]["changed"] / best["full"]["changed"], 2),
            "unchanged": round(best["baseline"]["unchanged"] / best["fast"]["unchanged"], 2),
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
