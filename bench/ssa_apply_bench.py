"""Benchmark of server-side apply inside the devcluster process (not a test).

Measures ``Cluster.apply`` in-process (no HTTP, no YAML decoding) for the
~60-line Deployment of ``devcluster_bench`` re-applied by the same manager
with a changed annotation every time — the common case of GitOps
controllers — and again unchanged. Prints microseconds per apply (the best
of several rounds, as the machine is shared):

- ``changed``: the fast path (``reapply``) as the server runs it;
- ``changed_full``: the same with ``Cluster(fast_reapply=False)``, i.e. the
  full algorithm (with this tree's other speed-ups);
- ``unchanged``: the memo of an identical re-apply, given the request body's
  bytes as the HTTP handler gives them (``unchanged_without_body``: not);
- ``components_us``: each part of a changed apply (decoding managedFields,
  validation, the memo's fingerprint, the field manager, the time stamp,
  RecDiff) as called by the server;
- with ``--baseline REV`` (e.g. ``7f81631``, main before the fast path), the
  same figures for the code of that git revision, extracted to a temporary directory and run in a
  subprocess, alternating with this tree's runs, and the ratios old/new.

Usage: .venv/bin/python bench/ssa_apply_bench.py [--applies 2000] [--rounds 5]
    [--baseline REV]
"""

from __future__ import annotations

import argparse
import copy
import importlib
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from devcluster.registry import cluster as cluster_mod
    from devcluster.schemas import resources

REPO = pathlib.Path(__file__).resolve().parents[1]
ANNOTATION = "bench.headwater.dev/iteration"
# The devcluster modules the baseline modes import, as ``<sub-package>.<module>``.
BASELINE_MODULES = (
    "registry.cluster",
    "registry.defaults",
    "schemas.resources",
    "schemas.validation",
    "storage.storage",
    "structuredmerge.managedfields",
    "structuredmerge.typedvalues",
    "structuredmerge.typeinfo",
    "fieldmanager.fieldmanager",
)


def _alias_flat_devcluster() -> None:
    """Let a baseline from before the split answer to ``devcluster.<sub-package>.<module>``.

    Until the devcluster was split into sub-packages it was one flat package,
    ``headwater.devcluster``; the modules this benchmark imports kept their names,
    so aliasing them lets one code path measure both trees. A baseline that
    already has the split (no ``headwater.devcluster``) is left alone.
    """
    try:
        importlib.import_module("headwater.devcluster")
    except ModuleNotFoundError:
        return
    root = types.ModuleType("devcluster")
    root.__path__ = []
    sys.modules["devcluster"] = root
    for dotted in BASELINE_MODULES:
        package_name, name = dotted.split(".")
        package = sys.modules.get(f"devcluster.{package_name}")
        if package is None:
            package = types.ModuleType(f"devcluster.{package_name}")
            package.__path__ = []
            sys.modules[package.__name__] = package
            setattr(root, package_name, package)
        module = importlib.import_module(f"headwater.devcluster.{name}")
        sys.modules[f"devcluster.{dotted}"] = module
        setattr(package, name, module)


def _deployment() -> dict[str, Any]:
    import yaml

    text = (REPO / "bench" / "devcluster_bench.py").read_text()
    start = text.index('DEPLOYMENT = """\\\n') + len('DEPLOYMENT = """\\\n')
    template = text[start : text.index('"""', start)]
    body = yaml.safe_load(template.format(name="web", namespace="bench", iteration=0))
    assert isinstance(body, dict)
    return body


def _cluster(**options: Any) -> tuple[cluster_mod.Cluster, resources.Resource]:
    """An in-memory ``Cluster`` (built-in types) with namespace ``bench``, and its Deployments."""
    from devcluster.registry import cluster as cluster_mod
    from devcluster.storage import storage
    from devcluster.structuredmerge import typeinfo

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
    return cluster, deployments


def measure(*, applies: int, fast: bool | None) -> dict[str, float]:
    """µs per apply: changed and unchanged. ``fast`` None: the code has no such switch
    (nor ``WriteOptions.raw_body``)."""
    from devcluster.registry import cluster as cluster_mod

    options: dict[str, Any] = {} if fast is None else {"fast_reapply": fast}
    cluster, deployments = _cluster(**options)
    base = _deployment()
    bodies = []
    for iteration in range(applies + 1):
        body = copy.deepcopy(base)
        body["metadata"]["annotations"][ANNOTATION] = str(iteration)
        bodies.append(body)
    same = [copy.deepcopy(bodies[-1]) for _ in range(applies)]
    # The handler passes the request body's bytes along; a JSON text stands in for them.
    raw = [json.dumps(body).encode() for body in bodies]

    def run(items: list[dict[str, Any]], texts: Sequence[bytes | None]) -> float:
        options = [
            cluster_mod.WriteOptions(manager="bench", raw_body=text)
            if fast is not None and text is not None
            else cluster_mod.WriteOptions(manager="bench")
            for text in texts
        ]
        started = time.perf_counter()
        for body, option in zip(items, options, strict=True):
            cluster.apply(deployments, "bench", "web", body, option)
        return (time.perf_counter() - started) / len(items) * 1e6

    run(bodies[:1], raw[:1])
    figures = {"changed": run(bodies[1:], list(raw[1:]))}
    version = cluster.get(deployments, "bench", "web")["metadata"]["resourceVersion"]
    assert int(version) >= applies, "every changed apply must write"
    figures["unchanged"] = run(same, [raw[-1]] * applies)
    if fast is not None:
        figures["unchanged_without_body"] = run(same, [None] * applies)
        paths = cluster.apply_paths
        assert paths["fast" if fast else "full"] >= applies, paths
    return figures


def components(*, new: bool) -> dict[str, float]:
    """µs per call of each part of a changed apply, as this tree (``new``) or the
    baseline implements it (the same scenario: one annotation changed)."""
    import datetime
    import timeit

    from devcluster.fieldmanager import fieldmanager
    from devcluster.registry import cluster as cluster_mod
    from devcluster.registry import defaults
    from devcluster.schemas import validation
    from devcluster.structuredmerge import managedfields, typedvalues

    cluster, deployments = _cluster()
    previous = _deployment()
    cluster.apply(
        deployments,
        "bench",
        "web",
        copy.deepcopy(previous),
        cluster_mod.WriteOptions(manager="bench"),
    )
    stored = cluster.store.get((deployments.key, "bench", "web"))
    assert stored is not None
    config = copy.deepcopy(previous)
    config["metadata"]["annotations"][ANNOTATION] = "1"
    schema = cluster.object_type(deployments)
    now = datetime.datetime.now(datetime.UTC)
    paths = typedvalues.field_set(config, schema)
    resets = fieldmanager.reset_fields(
        api_version="apps/v1", kind="Deployment", subresource="", status_subresource=True
    )
    common: dict[str, Any] = {
        "manager": "bench",
        "schema": schema,
        "now": now,
        "status_subresource": True,
        "defaulter": defaults.defaulter(deployments.key),
    }
    calls: dict[str, Any]
    if new:
        from devcluster.fieldmanager import applycache, reapply

        cache = applycache.DecodedEntries()
        entries = cache.of(stored)
        applied = fieldmanager.apply_tracked(stored, previous, **common).applied
        changes = reapply.leaf_changes(previous, config)
        assert changes is not None
        leaves: list[tuple[str | int, ...]] = [("metadata", "annotations", ANNOTATION)]
        fast = reapply.reapply(
            stored, config, changes=changes, applied=applied, entries=entries, **common
        )
        assert fast is not None
        calls = {
            "decode_managed_fields": lambda: cache.of(stored),
            "validate": lambda: validation.leaves_valid(deployments, stored, leaves),
            "fingerprint": lambda: reapply.leaf_changes(previous, config),
            "field_manager": lambda: reapply.reapply(
                stored, config, changes=changes, applied=applied, entries=entries, **common
            ),
            "field_manager_full_path": lambda: fieldmanager.apply_tracked(
                stored, config, entries=entries, **common
            ),
            "timestamp": lambda: fieldmanager.timestamp(now),
            "without": lambda: fieldmanager.without(paths, resets),
        }
    else:
        fm: Any = fieldmanager
        calls = {
            "decode_managed_fields": lambda: managedfields.decode_lenient(stored),
            "validate": lambda: validation.check_builtin(
                deployments, stored, field_validation="Strict", warnings=[]
            ),
            "fingerprint": lambda: json.dumps(config, sort_keys=True, separators=(",", ":")),
            "field_manager": lambda: fieldmanager.apply(stored, config, **common),
            "timestamp": lambda: fm._timestamp(now),
            "without": lambda: fm._without(paths, resets),
        }
    return {
        name: min(timeit.repeat(call, number=200, repeat=5)) / 200 * 1e6
        for name, call in calls.items()
    }


def _inner(arguments: argparse.Namespace) -> None:
    if arguments.inner.endswith("baseline"):
        _alias_flat_devcluster()
    if arguments.inner.startswith("components"):
        print(json.dumps(components(new=arguments.inner == "components")))
        return
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


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--applies", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--baseline", help="git revision to compare with")
    parser.add_argument(
        "--inner",
        choices=("fast", "full", "baseline", "components", "components-baseline"),
        help=argparse.SUPPRESS,
    )
    arguments = parser.parse_args()
    if arguments.inner:
        _inner(arguments)
        return
    modes = ["fast", "full", "components"]
    if arguments.baseline is not None:
        modes += ["baseline", "components-baseline"]
    best: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="ssa-apply-bench-") as scratch:
        old_tree = pathlib.Path(scratch)
        if arguments.baseline is not None:
            # NB: before the split the devcluster lived under headwater/.
            trees = subprocess.run(
                ["git", "ls-tree", "--name-only", arguments.baseline, "headwater", "devcluster"],
                cwd=REPO,
                check=True,
                capture_output=True,
                text=True,
            ).stdout.split()
            archive = subprocess.run(
                ["git", "archive", arguments.baseline, *trees],
                cwd=REPO,
                check=True,
                capture_output=True,
            ).stdout
            subprocess.run(["tar", "-x", "-C", str(old_tree)], input=archive, check=True)
        for _ in range(arguments.rounds):
            for mode in modes:
                tree = old_tree if mode.endswith("baseline") else REPO
                figures = _run(tree, mode, arguments.applies)
                for name, value in figures.items():
                    seen = best.setdefault(mode, {})
                    seen[name] = min(value, seen.get(name, value))
    report: dict[str, Any] = {
        "us_per_apply": {
            "changed": round(best["fast"]["changed"], 1),
            "changed_full": round(best["full"]["changed"], 1),
            "unchanged": round(best["fast"]["unchanged"], 1),
            "unchanged_without_body": round(best["fast"]["unchanged_without_body"], 1),
        },
        "components_us": {name: round(value, 2) for name, value in best["components"].items()},
        "fast_vs_full": round(best["full"]["changed"] / best["fast"]["changed"], 2),
    }
    if "baseline" in best:
        report["baseline"] = arguments.baseline
        report["baseline_us_per_apply"] = {
            "changed": round(best["baseline"]["changed"], 1),
            "unchanged": round(best["baseline"]["unchanged"], 1),
        }
        report["components_us"] = {
            name: {
                "baseline": _rounded(best["components-baseline"].get(name)),
                "new": round(value, 2),
            }
            for name, value in best["components"].items()
        }
        report["speedup_vs_baseline"] = {
            "changed": round(best["baseline"]["changed"] / best["fast"]["changed"], 2),
            "changed_full": round(best["baseline"]["changed"] / best["full"]["changed"], 2),
            "unchanged": round(best["baseline"]["unchanged"] / best["fast"]["unchanged"], 2),
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
