"""image-reflector-controller: scanning a repository of many tags, and electing one.

``python -m bench.image_reflector_bench [--tags 1000] [--policy-tags 10000] [--rounds 5]
[--output FILE]``

1. **scan** — a real registry (``tests.fixtures.registry``, Debian's
   docker-registry on 127.0.0.1) holding ``--tags`` tags of one image; a
   fresh child process runs what the ImageRepository scan step does after
   its Secrets are read: list every tag through ``shared.oci``, apply the
   default exclusion list, compute ``latestTags`` and the revision, write
   the tag record. Figures: median wall seconds over ``--rounds`` scans
   (the first one pays the connection) and the child's peak RSS.
2. **policy** — in-process, ``--policy-tags`` tags: the median time of one
   ``Policy.latest`` for semver, alphabetical, numerical and a named-group
   filter with extract (RE2); ``_warm`` with the policy's memo of the
   previous election (the tags but the last: a scan found one new tag).

Targets (the issue's): scan of 10,000 tags <= 2 s and < 100 MiB; policy
evaluation over 10,000 tags <= 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import pathlib
import statistics
import sys
import tempfile
import time
from typing import Any

import aiohttp

from bench import childrun
from controllers.image_reflector import policies
from shared.api import image
from shared.oci import client, manifests, mediatypes, tokens, transport
from tests.fixtures import commands
from tests.fixtures import registry as registry_fixtures

REPOSITORY = "bench/app"

_SCAN = """
import asyncio, json, statistics, sys, time
import aiohttp
from controllers.image_reflector import imagerepository, tagstore
from shared.api import image
from shared.oci import client, tokens, transport

async def main(host, repository, root, rounds):
    store = tagstore.TagStore(root)
    times = []
    async with aiohttp.ClientSession() as session:
        connection = transport.Connection(host=host, plain_http=True)
        oci = client.Client(session, connection, token_cache=tokens.TokenCache())
        for _ in range(rounds):
            start = time.perf_counter()
            tags = await oci.list_tags(repository)
            kept = imagerepository.excluded(
                tags, imagerepository.exclusions(list(image.DEFAULT_EXCLUSION_LIST)))
            imagerepository.latest_tags(kept)
            imagerepository.revision(kept)
            store.write("bench", "app", tagstore.Record(tags=kept))
            times.append(time.perf_counter() - start)
    print(json.dumps({"tags": len(kept), "scan_s": statistics.median(times),
                      "first_scan_s": times[0]}))

asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
"""


async def _fill(host: str, count: int) -> None:
    """Push one image under ``count`` semver tags (the blobs once, a manifest PUT per tag)."""
    async with aiohttp.ClientSession() as session:
        connection = transport.Connection(host=host, plain_http=True)
        oci = client.Client(session, connection, token_cache=tokens.TokenCache())
        config = await oci.push_blob(REPOSITORY, b"{}", media_type=mediatypes.OCI_EMPTY_CONFIG)
        layer = await oci.push_blob(REPOSITORY, b"x", media_type=mediatypes.OCI_LAYER_TAR_GZIP)
        data = manifests.image_manifest(config=config, layers=[layer])
        semaphore = asyncio.Semaphore(16)

        async def one(i: int) -> None:
            async with semaphore:
                tag = f"1.{i // 100}.{i % 100}"
                await oci.push_manifest(REPOSITORY, tag, data, media_type=mediatypes.OCI_MANIFEST)

        await asyncio.gather(*(one(i) for i in range(count)))


def _median_ms(
    policy: policies.Policy, tags: list[str], rounds: int, *, warm: bool = False
) -> float:
    """Median ms of one election: cold (no memo), or warm (the memo of the tag list
    without its last tag, as after a scan that found one new tag)."""
    times = []
    for _ in range(rounds):
        memo = policies.PolicyMemo()
        if warm:
            policy.latest(tags[:-1], memo)
        start = time.perf_counter()
        policy.latest(tags, memo)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def _policy_figures(count: int, rounds: int) -> dict[str, float]:
    semver_tags = [f"{i // 1000 + 1}.{(i // 100) % 10}.{i % 100}" for i in range(count)]
    stamps = [str(1_600_000_000 + i * 7) for i in range(count)]
    builds = [f"main-{i:07x}-{1_600_000_000 + i}" for i in range(count)]

    def compiled(policy: dict[str, Any], **filter_tags: str) -> policies.Policy:
        body: dict[str, Any] = {"imageRepositoryRef": {"name": "r"}, "policy": policy}
        if filter_tags:
            body["filterTags"] = filter_tags
        return policies.compile_policy(image.ImagePolicySpec.model_validate(body))

    semver = compiled({"semver": {"range": ">=1.0.0 <9.0.0"}})
    extract = compiled({"numerical": {}}, pattern=r"^main-[a-f0-9]+-(?P<ts>\d+)$", extract="$ts")
    return {
        "semver_ms": _median_ms(semver, semver_tags, rounds),
        "semver_warm_ms": _median_ms(semver, semver_tags, rounds, warm=True),
        "alphabetical_ms": _median_ms(compiled({"alphabetical": {"order": "asc"}}), stamps,
                                      rounds),
        "numerical_ms": _median_ms(compiled({"numerical": {"order": "asc"}}), stamps, rounds),
        "filter_extract_numerical_ms": _median_ms(extract, builds, rounds),
        "filter_extract_numerical_warm_ms": _median_ms(extract, builds, rounds, warm=True),
    }  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tags", type=int, default=1000)
    parser.add_argument("--policy-tags", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--output", help="also write the figures as JSON to this file")
    args = parser.parse_args()
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="image-reflector-bench-") as tmp:
        root = pathlib.Path(tmp)
        started = registry_fixtures.start_registry(root / "registry")
        try:
            fill_start = time.perf_counter()
            asyncio.run(_fill(started.host, args.tags))
            figures["push_s"] = time.perf_counter() - fill_start
            scan = childrun.run_python(
                _SCAN, started.host, REPOSITORY, str(root / "store"), str(args.rounds),
                what="scan",
            )  # fmt: skip
        finally:
            commands.stop(started.process)
    figures.update({f"scan_{k}": v for k, v in scan.items()})
    figures.update({f"policy_{args.policy_tags}_{k}": v for k, v in
                    _policy_figures(args.policy_tags, args.rounds).items()})  # fmt: skip
    for name, value in figures.items():
        print(f"{name:46} {value:.3f}" if isinstance(value, float) else f"{name:46} {value}")
    if args.output:
        pathlib.Path(args.output).write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
