"""Helm repository index: fetch + parse + version choice of a large index, and the unchanged case.

    .venv/bin/python -m bench.helm_index_bench [--entries 20000] [--output FILE]

Serves a generated ``index.yaml`` (``--entries`` chart versions over 400
charts, about 10 MB for 20,000) from the tests' chart repository server on
127.0.0.1, and in a fresh child process (``bench.childrun``):

- ``fetch_parse_select_s``: ``clients.fetch_index`` + ``indexes.parse`` (in a
  thread, as the reconcilers do) + ``Index.get`` of one chart with a range —
  target <= 2 s;
- ``peak_rss_growth_mib``: the child's peak RSS (``VmHWM``, read by the child
  itself: ``wait4``'s figure also counts the parent's pages at the fork)
  minus its RSS after imports — target < 150 MiB;
- the unchanged case: a second fetch with the ETag — ``unchanged_requests``
  (target 1, answered 304) and ``unchanged_parses`` (target 0);
- the parser choice, on the first ``--ruamel-entries`` versions (a full parse
  of the whole index takes too long to repeat): the lazy index with one chart
  read, a full libyaml (``CSafeLoader``) parse, ruamel's pure-Python safe loader.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import tempfile
import time

import yaml

from bench import childrun
from tests.fixtures import chartrepos

_CHILD = """
import asyncio, json, sys, time
import aiohttp
from controllers.source.helm import clients, indexes
url, max_size = sys.argv[1], int(sys.argv[2])
def status_mib(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0
async def main():
    base = status_mib("VmRSS")
    options = clients.options_for(url)
    parses = 0
    async with aiohttp.ClientSession() as session:
        start = time.perf_counter()
        fetched = await clients.fetch_index(session, options, etag=None, max_size=max_size)
        index = await asyncio.to_thread(indexes.parse, fetched.body)
        parses += 1
        chosen = index.get("chart-7", ">=1.0.0 <40.0.0")
        seconds = time.perf_counter() - start
        start = time.perf_counter()
        again = await clients.fetch_index(session, options, etag=fetched.etag, max_size=max_size)
        if not again.not_modified:
            index = await asyncio.to_thread(indexes.parse, again.body)
            parses += 1
        unchanged_seconds = time.perf_counter() - start
    return {"fetch_parse_select_s": round(seconds, 3),
            "unchanged_s": round(unchanged_seconds, 4), "chosen": chosen["version"],
            "lazy": index.blocks is not None, "base_rss_mib": base,
            "peak_mib": status_mib("VmHWM"), "parses": parses,
            "unchanged_not_modified": again.not_modified}
print(json.dumps(asyncio.run(main())))
"""


def _index(entries: int) -> dict[str, object]:
    charts: dict[str, list[dict[str, object]]] = {}
    for i in range(entries):
        name = f"chart-{i % 400}"
        version = f"{i // 400 // 10}.{i // 400 % 10}.{i % 7}"
        charts.setdefault(name, []).append(
            {
                "apiVersion": "v2",
                "name": name,
                "version": version,
                "appVersion": version,
                "description": f"A generated chart number {i} used to measure index parsing",
                "created": "2026-01-01T00:00:00.000000000Z",
                "digest": f"{i:064x}",
                "home": "https://example.org/charts",
                "keywords": ["bench", "helm", name],
                "maintainers": [{"name": "Bench", "email": "bench@example.org"}],
                "sources": [f"https://example.org/src/{name}"],
                "annotations": {"category": "Benchmark", "licenses": "Apache-2.0"},
                "urls": [f"https://example.org/charts/{name}-{version}.tgz"],
            }
        )
    return {"apiVersion": "v1", "entries": charts, "generated": "2026-01-01T00:00:00Z"}


def _parsers(document: dict[str, object], entries: int) -> dict[str, float]:
    """Seconds to read the first ``entries`` versions: lazily, with libyaml, with ruamel."""
    import ruamel.yaml  # NB: only for this comparison

    from controllers.source.helm import indexes

    all_entries = document["entries"]
    assert isinstance(all_entries, dict)
    subset: dict[str, object] = {}
    taken = 0
    for name, versions in all_entries.items():
        if taken >= entries:
            break
        subset[name] = versions
        taken += len(versions)
    body = yaml.safe_dump({"apiVersion": "v1", "entries": subset}).encode()
    start = time.perf_counter()
    indexes.parse(body).get("chart-1", "*")
    lazy = time.perf_counter() - start
    start = time.perf_counter()
    yaml.load(body, Loader=yaml.CSafeLoader)
    libyaml = time.perf_counter() - start
    start = time.perf_counter()
    ruamel.yaml.YAML(typ="safe", pure=True).load(body)
    ruamel_pure = time.perf_counter() - start
    return {
        "parser_entries": taken,
        "lazy_one_chart_s": round(lazy, 4),
        "libyaml_full_s": round(libyaml, 3),
        "ruamel_safe_pure_s": round(ruamel_pure, 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=20_000)
    parser.add_argument("--ruamel-entries", type=int, default=2_000)
    parser.add_argument("--output")
    args = parser.parse_args()
    document = _index(args.entries)
    body = yaml.safe_dump(document).encode()
    with tempfile.TemporaryDirectory(prefix="helm-bench-") as work:
        root = pathlib.Path(work) / "repo"
        root.mkdir()
        (root / "index.yaml").write_bytes(body)
        with chartrepos.serving(root) as repo:
            child = childrun.run_python(
                _CHILD, repo.url, str(100 << 20), what="index fetch and parse"
            )
            index_requests = repo.index_requests()
            unchanged_status = repo.requests[-1][2]
    result = {
        "entries": args.entries,
        "index_bytes": len(body),
        "fetch_parse_select_s": child["fetch_parse_select_s"],
        "read_lazily": child["lazy"],
        "peak_rss_growth_mib": round(child["peak_mib"] - child["base_rss_mib"], 1),
        "unchanged_requests": index_requests - 1,
        "unchanged_status": unchanged_status,
        "unchanged_parses": child["parses"] - 1,
        "unchanged_s": child["unchanged_s"],
        "chosen": child["chosen"],
        **_parsers(document, args.ruamel_entries),
    }
    targets = {
        "fetch_parse_select_s": "<= 2",
        "peak_rss_growth_mib": "< 150",
        "unchanged_requests": "== 1",
        "unchanged_parses": "== 0",
    }
    for key, value in result.items():
        print(f"{key:24} {value}" + (f"   (target {targets[key]})" if key in targets else ""))
    if args.output:
        pathlib.Path(args.output).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
