"""From a tag pushed to a registry to the commit landing in Git (not a test; prints figures).

``python -m bench.image_loop_bench [--rounds 20] [--interval-rounds 0] [--output FILE]``

Everything runs as real processes on 127.0.0.1: a devcluster, a registry
(``tests.fixtures.registry``, Debian's docker-registry), a Git server
(``git http-backend``), notification-controller, image-reflector-controller
and image-automation-controller. One ImageRepository, ImagePolicy (semver)
and ImageUpdateAutomation, all with an interval of one minute, follow one
image into a Deployment marked with a setter.

Each round pushes a new, higher tag and starts the clock when the registry
has acknowledged the manifest; it stops when the branch's ref on the Git
server changes (the loose ref file, read every 10 ms).

1. **receiver** (``--rounds``): after the push the benchmark POSTs the
   ``generic`` Receiver that names the ImageRepository, as a CI job's step
   after ``docker push`` would; the Receiver requests a scan, the scan
   requeues the policy, the new ``latestRef`` requeues the automation,
   which clones, commits and pushes. Figures ``receiver_median_s``,
   ``receiver_p95_s``, ``receiver_max_s``.
2. **interval** (``--interval-rounds``, 0 by default: each round waits for
   the ImageRepository's next scan, up to ``--interval``): no webhook.
   Figures ``interval_median_s``, ``interval_max_s``. A round starts right
   after the previous one's scan, so it shows the worst case, about the
   interval; a push at a random moment waits half of it on average.

The issue's figure is "the time from a tag push to the commit landing with
intervals of 1 minute and a receiver trigger"; it has no numeric target.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import pathlib
import statistics
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

from tests.fixtures import commands, gitservers, processes
from tests.fixtures import devcluster as devcluster_fixtures
from tests.fixtures import registry as registry_fixtures
from tests.fixtures.polling import eventually_sync

NAMESPACE = "bench"
TOKEN = "bench-receiver-token"
CRDS = pathlib.Path(__file__).resolve().parents[1] / "crds"
IMAGE_API = "image.toolkit.fluxcd.io/v1"
DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      containers:
        - name: web
          image: IMAGE:1.0.0 # {"$imagepolicy": "bench:web"}
"""


@dataclasses.dataclass(frozen=True)
class Loop:
    """The running loop: where tags are pushed, where commits land, the Receiver's URL."""

    registry: registry_fixtures.Registry
    repo: gitservers.RepoBuilder
    webhook: str


@contextlib.contextmanager
def _loop(root: pathlib.Path, interval: str) -> Iterator[Loop]:
    """Start the processes, create the objects, wait until the policy elects 1.0.0."""
    with contextlib.ExitStack() as stack:
        cluster = stack.enter_context(devcluster_fixtures.start_devcluster(root / "cluster"))
        cluster.kubectl("apply", "--server-side", "-f", str(CRDS))
        cluster.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
        cluster.kubectl("create", "namespace", NAMESPACE)
        registry = registry_fixtures.start_registry(root / "registry")
        stack.callback(commands.stop, registry.process)
        repo = gitservers.RepoBuilder(root / "git", "apps.git")
        image = f"{registry.host}/{NAMESPACE}/web"
        registry_fixtures.push(registry, f"{NAMESPACE}/web", ["1.0.0"])
        repo.commit("initial", {"deploy/web.yaml": DEPLOYMENT.replace("IMAGE", image)})
        server = gitservers.start_githttpd(root / "git", log=root / "githttpd.log")
        stack.callback(commands.stop, server.process)
        receiver_addr = f"127.0.0.1:{devcluster_fixtures.free_port()}"
        events_addr = f"127.0.0.1:{devcluster_fixtures.free_port()}"
        for module, flags in (
            ("controllers.notification",
             ["--events-addr", events_addr, "--receiverAddr", receiver_addr]),
            ("controllers.image_reflector", ["--storage-path", str(root / "tags")]),
            ("controllers.image_automation", []),
        ):  # fmt: skip
            stack.enter_context(
                processes.start_watching(module, cluster.kubeconfig, NAMESPACE, root, *flags)
            )
        for manifest in _objects(image, server.url("apps.git"), interval):
            cluster.kubectl("apply", "--server-side", "-f", "-", input=json.dumps(manifest))

        def webhook_path() -> str | None:
            got = cluster.kubectl("get", "-n", NAMESPACE, "receiver", "web", "-o",
                                  "jsonpath={.status.webhookPath}")  # fmt: skip
            return got.stdout or None

        url = f"http://{receiver_addr}{eventually_sync(webhook_path, within=60)}"
        _wait_for_policy(cluster, "1.0.0")
        yield Loop(registry=registry, repo=repo, webhook=url)


def _objects(image: str, url: str, interval: str) -> list[dict[str, Any]]:
    meta = {"namespace": NAMESPACE}
    return [
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "token", **meta},
         "stringData": {"token": TOKEN}},
        {"apiVersion": "notification.toolkit.fluxcd.io/v1", "kind": "Receiver",
         "metadata": {"name": "web", **meta},
         "spec": {"type": "generic", "secretRef": {"name": "token"},
                  "resources": [{"apiVersion": IMAGE_API, "kind": "ImageRepository",
                                 "name": "web"}]}},
        {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
         "metadata": {"name": "apps", **meta},
         "spec": {"url": url, "interval": interval, "ref": {"branch": "master"}}},
        {"apiVersion": IMAGE_API, "kind": "ImageRepository", "metadata": {"name": "web", **meta},
         "spec": {"image": image, "interval": interval, "insecure": True}},
        {"apiVersion": IMAGE_API, "kind": "ImagePolicy", "metadata": {"name": "web", **meta},
         "spec": {"imageRepositoryRef": {"name": "web"},
                  "policy": {"semver": {"range": ">=1.0.0"}}}},
        {"apiVersion": IMAGE_API, "kind": "ImageUpdateAutomation",
         "metadata": {"name": "apps", **meta},
         "spec": {"interval": interval,
                  "sourceRef": {"kind": "GitRepository", "name": "apps"},
                  "git": {"commit": {"author": {"name": "bench", "email": "bench@example.com"}}},
                  "update": {"strategy": "Setters", "path": "./deploy"}}},
    ]  # fmt: skip


def _wait_for_policy(cluster: devcluster_fixtures.Devcluster, tag: str) -> None:
    def elected() -> bool:
        got = cluster.kubectl("get", "-n", NAMESPACE, "imagepolicy", "web", "-o",
                              "jsonpath={.status.latestRef.tag}")  # fmt: skip
        return got.stdout == tag

    eventually_sync(elected, within=120, message=f"the policy elects {tag}")


def _head(repo: gitservers.RepoBuilder) -> str:
    # NB: git receive-pack updates the loose ref file by an atomic rename, and
    # nothing packs refs here: reading it is exact and costs no process.
    return (repo.path / "refs" / "heads" / "master").read_text().strip()


def _round(loop: Loop, tag: str, *, webhook: bool, within: float) -> float:
    """Seconds from the registry acknowledging ``tag`` to the branch moving."""
    registry, repo = loop.registry, loop.repo
    before = _head(repo)
    registry_fixtures.push(registry, f"{NAMESPACE}/web", [tag])
    start = time.perf_counter()
    if webhook:
        request = urllib.request.Request(loop.webhook, data=b"{}", method="POST",
                                         headers={"Content-Type": "application/json"})  # fmt: skip
        with urllib.request.urlopen(request, timeout=10) as answer:
            answer.read()
    eventually_sync(lambda: _head(repo) != before, within=within, interval=0.01,
                    message=f"the commit of {tag}")  # fmt: skip
    took = time.perf_counter() - start
    content = repo.git("show", "master:deploy/web.yaml")
    if f":{tag} #" not in content:
        raise RuntimeError(f"the commit does not set {tag}:\n{content}")
    return took


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--interval-rounds", type=int, default=0)
    parser.add_argument("--interval", default="1m", help="of every object (Flux duration)")
    parser.add_argument("--output", help="also write the figures as JSON to this file")
    args = parser.parse_args()
    figures: dict[str, Any] = {"interval": args.interval}
    with (
        tempfile.TemporaryDirectory(prefix="image-loop-bench-") as tmp,
        _loop(pathlib.Path(tmp), args.interval) as loop,
    ):
        tags = (f"1.0.{i}" for i in range(1, 10_000))
        receiver = [_round(loop, next(tags), webhook=True, within=60) for _ in range(args.rounds)]
        if receiver:
            figures |= {
                "receiver_rounds": len(receiver),
                "receiver_median_s": statistics.median(receiver),
                "receiver_p95_s": _p95(receiver),
                "receiver_max_s": max(receiver),
            }
        interval = [
            _round(loop, next(tags), webhook=False, within=600) for _ in range(args.interval_rounds)
        ]
        if interval:
            figures |= {
                "interval_rounds": len(interval),
                "interval_median_s": statistics.median(interval),
                "interval_max_s": max(interval),
            }
    for name, value in figures.items():
        print(f"{name:24} {value:.3f}" if isinstance(value, float) else f"{name:24} {value}")
    if args.output:
        pathlib.Path(args.output).write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
