"""Micro-benchmark of YAML request-body decoding (not a test): figures and ratios, printed.

Decodes the ~60-line Deployment of ``devcluster_bench`` as an
``application/apply-patch+yaml`` body, in one process, old and new code
interleaved (best of several rounds that each run both, so other load on
the machine affects both alike):

- ``decode_body`` with a new body every call (a changed apply: memo miss) and
  with the same body (an unchanged re-apply: memo hit), against the decoder
  before the fast path (JSON attempt, ``yaml.compose`` + convert, clone);
- the fast parser alone against ``yaml.compose`` with ``CSafeLoader`` + convert;
- the libyaml path with the memoized resolver against plain ``CSafeLoader``
  (what a body the fast parser declines costs).

Usage::

    .venv/bin/python -m bench.yaml_bench [--rounds 7] [--calls 400]
"""

from __future__ import annotations

import argparse
import itertools
import json
import timeit
from collections.abc import Callable
from typing import Any

import yaml

from bench import devcluster_bench
from devcluster.endpoints import requests
from devcluster.machinery import objects
from devcluster.serializers import blockyaml

CONTENT_TYPE = "application/apply-patch+yaml"


def _old_parse(raw: bytes) -> Any:
    node = yaml.compose(raw, Loader=yaml.CSafeLoader)
    assert node is not None
    return requests._convert(node, [])


def _old_decode(raw: bytes) -> Any:
    """decode_body's YAML branch before the fast path, without its memo."""
    try:
        return json.loads(raw)
    except ValueError:
        pass
    return objects.clone(_old_parse(raw))


def _old_hit(raw: bytes, memo: Any) -> Any:
    """The same for a memoized body: the JSON attempt, then a clone of the memo."""
    try:
        return json.loads(raw)
    except ValueError:
        pass
    return objects.clone(memo)


def _slow_path(raw: bytes) -> Any:
    node = yaml.compose(raw, Loader=requests._ResolvingLoader)
    assert node is not None
    return requests._convert(node, [])


def _best_pair(
    old: Callable[[], Any], new: Callable[[], Any], *, rounds: int, calls: int
) -> tuple[float, float]:
    """Microseconds per call of each, best of ``rounds`` rounds that run both in turn."""
    old_times, new_times = [], []
    for _ in range(rounds):
        old_times.append(timeit.timeit(old, number=calls))
        new_times.append(timeit.timeit(new, number=calls))
    return min(old_times) / calls * 1e6, min(new_times) / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=400)
    args = parser.parse_args()

    def body(iteration: int) -> bytes:
        text = devcluster_bench.DEPLOYMENT.format(
            name="bench-changed-0", namespace="bench", iteration=iteration
        )
        return text.encode()

    same = body(0)
    assert blockyaml.parse(same) is not None, "the bench Deployment must take the fast path"
    assert requests.decode_body(same, CONTENT_TYPE) == _old_decode(same)
    memo = _old_parse(same)
    # More distinct bodies than the memo holds, so every "changed" call misses.
    fresh = itertools.cycle([body(number) for number in range(1, 4001)])

    cases: list[tuple[str, Callable[[], Any], Callable[[], Any]]] = [
        (
            "decode_body, changed body (memo miss)",
            lambda: _old_decode(next(fresh)),
            lambda: requests.decode_body(next(fresh), CONTENT_TYPE),
        ),
        (
            "decode_body, same body (memo hit)",
            lambda: _old_hit(same, memo),
            lambda: requests.decode_body(same, CONTENT_TYPE),
        ),
        (
            "parse only: fast parser vs compose+convert",
            lambda: _old_parse(same),
            lambda: blockyaml.parse(same),
        ),
        (
            "libyaml path: memoized resolver vs CSafeLoader",
            lambda: _old_parse(same),
            lambda: _slow_path(same),
        ),
    ]
    print(f"{'case':<50} {'old µs':>9} {'new µs':>9} {'speedup':>8}")
    for name, old, new in cases:
        old_time, new_time = _best_pair(old, new, rounds=args.rounds, calls=args.calls)
        print(f"{name:<50} {old_time:9.1f} {new_time:9.1f} {old_time / new_time:7.2f}x")


if __name__ == "__main__":
    main()
