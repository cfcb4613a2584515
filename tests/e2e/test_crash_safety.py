"""kill -9 of kustomize-controller at random points of apply and prune orphans nothing.

The controller is killed many times while it creates or prunes ConfigMaps,
with commits that add and remove objects between kills (some pushed while it
is down). Throughout, two invariants hold:

- every object carrying the Kustomization's owner labels is listed in its
  ``status.inventory`` (right after each kill, not only after convergence):
  nothing exists that a later reconcile could not prune;
- no object of the Git revision being applied is ever deleted (a watch on
  the owner-labelled ConfigMaps records every deletion).

It ends with a revert pushed while the controller is down mid-apply: every
object it had created and that left Git is pruned. A first apply writes no
record ahead (the finalizer, added just before it, and the owner labels are
the record): killed mid-way, then reverted or deleted while the controller is
down, the restarted controller finds what it created by its labels and
prunes it. Kill points come from a
seeded random (the seed is printed; ``HEADWATER_CRASH_SEED`` replays one).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import pathlib
import random
import subprocess
import threading
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.e2e import objects
from tests.fixtures import devcluster as devcluster_fixtures
from tests.fixtures import processes
from tests.fixtures.gitservers import GitServer, RepoBuilder
from tests.fixtures.polling import eventually_sync

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

OWNER_LABEL = "kustomize.toolkit.fluxcd.io"
CYCLES = 4
"""Kills at random points (half during apply, half during prune), before the last two."""


def _configmaps(batch: str, size: int) -> str:
    return "".join(
        f"---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {batch}-{i}\n"
        f"data:\n  index: '{i}'\n"
        for i in range(size)
    )


class Watch:
    """``kubectl get -w`` on the owner-labelled ConfigMaps: every ADDED and DELETED name."""

    def __init__(self, cluster: devcluster_fixtures.Devcluster, namespace: str) -> None:
        selector = f"{OWNER_LABEL}/name=app,{OWNER_LABEL}/namespace={namespace}"
        self.process = subprocess.Popen(
            [
                str(devcluster_fixtures.KUBECTL), "--kubeconfig", str(cluster.kubeconfig),
                "--cache-dir", str(cluster.cache_dir), "get", "configmaps", "-n", namespace,
                "-l", selector, "-w", "--output-watch-events",
                "-o", 'jsonpath={.type} {.object.metadata.name}{"\\n"}',
            ],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.added: set[str] = set()
        self.deleted: set[str] = set()
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            type_, _, name = line.strip().partition(" ")
            with self._changed:
                if type_ == "ADDED":
                    self.added.add(name)

                elif type_ == "DELETED":
                    self.deleted.add(name)
                self._changed.notify_all()

    def reach(self, seen: set[str], names: set[str], count: int, *, what: str) -> None:
        """Wait until ``seen`` (``added`` or ``deleted``) holds ``count`` of ``names``."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(seen & names) >= count, timeout=60):
                raise AssertionError(f"timed out waiting for {what}")

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        devcluster_fixtures.stop_process(self.process)
        self._reader.join(timeout=10)


@dataclasses.dataclass
class Crashes:
    """The test's cluster, Git repository and the kustomize-controller it kills."""

    cluster: devcluster_fixtures.Devcluster
    namespace: str
    repo: RepoBuilder
    tmp_path: pathlib.Path
    watch: Watch
    rng: random.Random
    seed: int
    stack: contextlib.ExitStack
    batches: dict[str, int] = dataclasses.field(default_factory=dict)
    """The batches (files ``deploy/<batch>.yaml``) in Git at the head, with their sizes."""
    serial: int = 0

    def names(self, batches: dict[str, int] | None = None) -> set[str]:
        return {
            f"{batch}-{i}" for batch, size in (batches or self.batches).items() for i in range(size)
        }

    def add(self, size: int) -> str:
        self.serial += 1
        batch = f"b{self.serial}"
        self.repo.write({f"deploy/{batch}.yaml": _configmaps(batch, size)})
        self.batches[batch] = size
        return batch

    def remove(self, batch: str) -> None:
        self.repo.remove(f"deploy/{batch}.yaml")
        del self.batches[batch]

    def drop(self, count: int) -> None:
        """Remove ``count`` objects from Git (whole batches or their tails), at random."""
        for batch in self.rng.sample(sorted(self.batches), len(self.batches)):
            size = self.batches[batch]
            keep = max(0, size - count)
            count -= size - keep
            if keep:
                self.repo.write({f"deploy/{batch}.yaml": _configmaps(batch, keep)})
                self.batches[batch] = keep
            else:
                self.remove(batch)
            if count <= 0:
                return

    def push(self, message: str) -> str:
        """Commit and have source-controller publish it (kustomize-controller may be down)."""
        commit = self.repo.commit(message)
        objects.request_reconcile(self.cluster, self.namespace, "gitrepository", "repo", commit)
        eventually_sync(
            lambda: (
                (
                    (self.get("gitrepository", "repo") or {}).get("status", {}).get("artifact", {})
                ).get("revision")
                == f"master@sha1:{commit}"
            ),
            within=60,
            message=f"source-controller did not publish {commit}",
        )
        return commit

    def get(self, kind: str, name: str) -> dict[str, Any] | None:
        return objects.get(self.cluster, self.namespace, kind, name)

    def start(self) -> processes.Controller:
        """A new kustomize-controller process, stopped (if still alive) when the test ends."""
        return self.stack.enter_context(
            processes.start_controller(
                "controllers.kustomize",
                ["--kubeconfig", str(self.cluster.kubeconfig), "--watch-all-namespaces=false"],
                log=self.tmp_path / "kustomize-controller.log",
                env={"RUNTIME_NAMESPACE": self.namespace},
            )
        )

    def labelled(self) -> set[str]:
        """Names of the ConfigMaps that carry the owner labels now."""
        listing = json.loads(
            self.cluster.kubectl(
                "get", "configmaps", "-n", self.namespace, "-o", "json",
                "-l", f"{OWNER_LABEL}/name=app,{OWNER_LABEL}/namespace={self.namespace}",
            ).stdout
        )  # fmt: skip
        return {item["metadata"]["name"] for item in listing["items"]}

    def inventory(self) -> set[str]:
        """Names of the ConfigMaps in the Kustomization's ``status.inventory``."""
        status = (self.get("kustomization", "app") or {}).get("status") or {}
        entries = (status.get("inventory") or {}).get("entries") or []
        return {
            entry["id"].split("_")[1]
            for entry in entries
            if entry["id"].startswith(f"{self.namespace}_") and entry["id"].endswith("_ConfigMap")
        }

    def check_recorded(self, context: str) -> None:
        """Every owner-labelled object is in the inventory (the crash invariant)."""
        orphans = self.labelled() - self.inventory()
        assert not orphans, (
            f"seed {self.seed}, {context}: {len(orphans)} objects carry our owner labels "
            f"but are not in the inventory: {sorted(orphans)[:10]}"
        )

    def check_nothing_in_git_deleted(self, context: str) -> None:
        # NB: batch names are never reused, so a deleted name that is in Git now
        # was deleted while it was in Git.
        wrongly = self.watch.deleted & self.names()
        assert not wrongly, f"seed {self.seed}, {context}: deleted while in Git: {sorted(wrongly)}"

    def converge(self, commit: str, context: str, controller: processes.Controller) -> None:
        """Wait until ``commit`` is applied, then check both invariants and the exact set."""

        def applied() -> bool:
            obj = self.get("kustomization", "app")
            ready = objects.condition(obj, "Ready")
            return bool(
                obj
                and ready
                and ready["status"] == "True"
                and obj["status"].get("lastAppliedRevision") == f"master@sha1:{commit}"
            )

        eventually_sync(
            applied,
            within=60,
            message=f"seed {self.seed}, {context}: not converged:\n{controller.output()[-3000:]}",
        )
        self.check_recorded(context)
        self.check_nothing_in_git_deleted(context)
        assert self.labelled() == self.names(), f"seed {self.seed}, {context}"
        assert self.watch.alive(), "the watch on owner-labelled objects ended early"


def _patches(controller: processes.Controller) -> int:
    """The PATCH requests the controller has sent to the API (its request metrics)."""
    with urllib.request.urlopen(f"http://{controller.metrics_addr}/metrics", timeout=10) as page:
        for line in page.read().decode().splitlines():
            if line.startswith('headwater_rest_client_requests_total{verb="patch"}'):
                return int(float(line.split()[-1]))
    return 0


def _kill(controller: processes.Controller) -> None:
    controller.process.kill()  # SIGKILL, by PID
    controller.process.wait(timeout=30)


@pytest.fixture
def crashes(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    tmp_path: pathlib.Path,
    make_repo: Callable[..., RepoBuilder],
    http_server: GitServer,
) -> Iterator[Crashes]:
    """source-controller serving a repository, a watch, and a seeded random."""
    seed = int(os.environ.get("HEADWATER_CRASH_SEED") or random.SystemRandom().randrange(2**32))
    print(f"crash test seed: {seed} (replay with HEADWATER_CRASH_SEED={seed})")
    addr = f"127.0.0.1:{devcluster_fixtures.free_port()}"
    with processes.start_controller(
        "controllers.source",
        ["--kubeconfig", str(cluster.kubeconfig), "--watch-all-namespaces=false",
         "--storage-path", str(tmp_path / "storage"),
         "--storage-addr", addr, "--storage-adv-addr", addr],
        log=tmp_path / "source-controller.log",
        env={"RUNTIME_NAMESPACE": namespace},
    ):  # fmt: skip
        watch = Watch(cluster, namespace)
        try:
            with contextlib.ExitStack() as stack:
                yield Crashes(
                    cluster=cluster,
                    namespace=namespace,
                    repo=make_repo("crash.git"),
                    tmp_path=tmp_path,
                    watch=watch,
                    rng=random.Random(seed),
                    seed=seed,
                    stack=stack,
                )
        finally:
            watch.stop()


def _start(crashes: Crashes, http_server: GitServer, sizes: tuple[int, ...] = (50, 50)) -> str:
    """The first commit, the GitRepository and the Kustomization (controller not yet up)."""
    for size in sizes:
        crashes.add(size)
    commit = crashes.repo.commit("Initial objects")
    objects.apply(
        crashes.cluster,
        {
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "GitRepository",
            "metadata": {"name": "repo", "namespace": crashes.namespace},
            "spec": {"interval": "1h", "url": http_server.url("crash.git")},
        },
    )
    objects.apply(
        crashes.cluster,
        {
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "metadata": {"name": "app", "namespace": crashes.namespace},
            "spec": {
                "interval": "1h",
                "retryInterval": "2s",
                "prune": True,
                "path": "./deploy",
                "targetNamespace": crashes.namespace,
                "sourceRef": {"kind": "GitRepository", "name": "repo"},
            },
        },
    )
    return commit


def test_kill_during_apply_and_prune_orphans_nothing(
    crashes: Crashes, http_server: GitServer
) -> None:
    rng = crashes.rng
    head = _start(crashes, http_server)
    controller = crashes.start()
    crashes.converge(head, "initial apply", controller)
    mid_stage = 0
    # NB: stages alternate (from a random first one) so that each prune has
    # objects to remove.
    first = rng.randrange(2)
    stages = (["apply", "prune"] * CYCLES)[first : first + CYCLES]
    for cycle, stage in enumerate(stages):
        before = crashes.names()
        if stage == "apply":
            batch = crashes.add(rng.randint(100, 200))
            watched = crashes.names({batch: crashes.batches[batch]})
            happened = crashes.watch.added
        else:
            crashes.drop(min(len(before) - 10, rng.randint(60, 150)))
            if rng.random() < 0.5:
                crashes.add(rng.randint(5, 20))
            watched = before - crashes.names()
            happened = crashes.watch.deleted
        # NB: under load the watch trails the controller by tens of objects; a
        # threshold in the first quarter makes most kills land inside the stage.
        threshold = rng.randint(1, len(watched) // 4)
        context = f"cycle {cycle} ({stage}, kill after {threshold} of {len(watched)})"
        crashes.push(f"cycle {cycle}: {stage}")
        crashes.watch.reach(happened, watched, threshold, what=context)
        _kill(controller)
        present = len(crashes.labelled() & watched)
        print(f"{context}: {present} present after the kill")
        mid_stage += 0 < present < len(watched) if stage == "apply" else present > 0
        crashes.check_recorded(f"{context}, right after the kill")
        crashes.check_nothing_in_git_deleted(f"{context}, right after the kill")
        if rng.random() < 0.5:
            crashes.add(rng.randint(5, 20))
            if rng.random() < 0.5:
                crashes.drop(rng.randint(5, 20))
            head = crashes.push(f"cycle {cycle}: pushed while down")
        else:
            head = crashes.repo.rev()
        controller = crashes.start()
        crashes.converge(head, f"{context}, after the restart", controller)

    # A large apply killed midway, then a revert pushed while the controller is down.
    batch = _kill_large_apply(crashes, controller)
    created = crashes.names({batch: 200})
    mid_stage += len(crashes.labelled() & created) < len(created)
    crashes.remove(batch)
    head = crashes.push("Revert many new objects")
    controller = crashes.start()
    crashes.converge(head, "after the revert", controller)
    assert not crashes.labelled() & created, f"seed {crashes.seed}: orphans after the revert"

    # The same, then the Kustomization deleted while the controller is down:
    # its finalizer prunes what the killed run created as well.
    batch = _kill_large_apply(crashes, controller)
    created = crashes.names({batch: 200})
    mid_stage += len(crashes.labelled() & created) < len(created)
    _delete_while_down(crashes)
    kills = CYCLES + 2
    assert mid_stage > kills // 2, (
        f"seed {crashes.seed}: only {mid_stage} of {kills} kills landed mid-apply or mid-prune"
    )


def _delete_while_down(crashes: Crashes) -> None:
    """Delete the Kustomization (the controller is down), start one: all ours must go."""
    crashes.cluster.kubectl(
        "delete", "-n", crashes.namespace, "kustomization", "app", "--wait=false"
    )
    controller = crashes.start()
    eventually_sync(
        lambda: crashes.get("kustomization", "app") is None and not crashes.labelled(),
        within=60,
        message=f"seed {crashes.seed}: not all deleted with the Kustomization:\n"
        f"{controller.output()[-3000:]}",
    )


def _kill_large_apply(crashes: Crashes, controller: processes.Controller) -> str:
    """Push a batch of 200 new objects, kill the controller while it creates them; the batch."""
    batch = crashes.add(200)
    created = crashes.names({batch: 200})
    threshold = crashes.rng.randint(10, 60)
    crashes.push(f"many new objects ({batch})")
    crashes.watch.reach(
        crashes.watch.added, created, threshold, what=f"{threshold} of 200 objects created"
    )
    _kill(controller)
    crashes.check_recorded(f"{batch}: kill after {threshold} of 200")
    print(f"{batch}: kill after {threshold} of 200: {len(crashes.labelled() & created)} present")
    return batch


def test_the_record_costs_one_write_only_when_the_object_set_grows(
    crashes: Crashes, http_server: GitServer
) -> None:
    head = _start(crashes, http_server)
    controller = crashes.start()
    crashes.converge(head, "initial apply", controller)

    # Same revision, nothing drifted: the status echo of requestedAt is the only write.
    before = _patches(controller)
    objects.request_reconcile(crashes.cluster, crashes.namespace, "kustomization", "app", "again")
    eventually_sync(
        lambda: (
            (crashes.get("kustomization", "app") or {})["status"].get("lastHandledReconcileAt")
            == "again"
        ),
        within=60,
    )
    assert _patches(controller) - before == 1

    # One object changed, the set unchanged: its apply and the final status.
    before = _patches(controller)
    crashes.repo.write({"deploy/b1.yaml": _configmaps("b1", 50).replace("'0'", "'changed'", 1)})
    head = crashes.push("Change one object")
    crashes.converge(head, "one object changed", controller)
    assert _patches(controller) - before == 2

    # One object added: the write-ahead record, its apply and the final status.
    before = _patches(controller)
    crashes.add(1)
    head = crashes.push("Add one object")
    crashes.converge(head, "one object added", controller)
    assert _patches(controller) - before == 3


@pytest.mark.parametrize("while_down", ["revert", "delete"])
def test_a_first_apply_cut_short_leaves_nothing_behind(
    crashes: Crashes, http_server: GitServer, while_down: str
) -> None:
    _start(crashes, http_server, sizes=(200,))
    created = crashes.names()
    controller = crashes.start()
    threshold = crashes.rng.randint(10, 60)
    crashes.watch.reach(
        crashes.watch.added, created, threshold, what=f"{threshold} of 200 objects created"
    )
    _kill(controller)
    print(f"first apply: kill after {threshold} of 200: {len(crashes.labelled())} present")
    kustomization = crashes.get("kustomization", "app") or {}
    assert "finalizers.fluxcd.io" in kustomization["metadata"].get("finalizers", [])
    # NB: a progress note written during the apply may carry the inventory;
    # without one, the restarted controller must find the objects by label.
    recorded = (kustomization.get("status") or {}).get("inventory") is not None
    logged_before = controller.output().count("inventory recovered from owner labels")

    if while_down == "revert":
        crashes.remove("b1")
        crashes.add(5)
        head = crashes.push("Replace the first objects")
        controller = crashes.start()
        crashes.converge(head, "after the revert", controller)
    else:
        _delete_while_down(crashes)
    assert not crashes.labelled() & created, f"seed {crashes.seed}: orphans of the first apply"
    if while_down == "revert" and not recorded:
        recovered = controller.output().count("inventory recovered from owner labels")
        assert recovered - logged_before == 1
