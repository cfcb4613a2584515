"""The headwater command's Flux verbs, run as a subprocess against the devcluster.

The verbs that wait on a controller (create, reconcile, resume) run beside
real source- and kustomize-controller processes watching the test's
namespace; the others need only the cluster.
"""

from __future__ import annotations

import json
import os
import pathlib
import pty
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from headwater import demowebhooks
from tests.e2e import objects
from tests.e2e.test_kustomize_controller import (  # noqa: F401 - pytest fixtures
    controllers,
    kustomize_flags,
)
from tests.fixtures import commands, processes
from tests.fixtures import devcluster as devcluster_fixtures
from tests.fixtures.gitservers import GitServer, RepoBuilder
from tests.fixtures.polling import eventually_sync

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  color: {color}\n"
CHILD = """apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: child
spec:
  interval: 1h
  path: ./child
  prune: true
  targetNamespace: {namespace}
  sourceRef:
    kind: GitRepository
    name: repo
"""

Headwater = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def headwater(cluster: devcluster_fixtures.Devcluster) -> Headwater:
    """Run ``headwater ARGS…`` against the test cluster (``KUBECONFIG``), no terminal."""

    def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return demowebhooks.headwater_at(cluster.kubeconfig, *args, timeout=timeout)

    return run


def _unreachable_source(cluster: devcluster_fixtures.Devcluster, namespace: str, name: str) -> None:
    """A GitRepository no controller will fetch (none runs; its URL is a closed port)."""
    objects.apply(
        cluster,
        {
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "GitRepository",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"interval": "1h", "url": "http://127.0.0.1:1/x.git"},
        },
    )


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"exit {result.returncode}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def test_the_gitops_loop_through_the_cli(
    headwater: Headwater,
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    controllers: tuple[processes.Controller, processes.Controller],  # noqa: F811
    make_repo: Callable[..., RepoBuilder],
    http_server: GitServer,
    tmp_path: pathlib.Path,
) -> None:
    ns = ["-n", namespace]
    repo = make_repo("cli.git")
    first = repo.commit(
        "Add config and a child",
        {
            "deploy/config.yaml": CONFIGMAP.format(name="config", color="blue"),
            "deploy/child.yaml": CHILD.format(namespace=namespace),
            "child/other.yaml": CONFIGMAP.format(name="other", color="green"),
        },
    )

    def logs() -> str:
        return "\n".join(c.output() for c in controllers)

    created = headwater(
        "create", "source", "git", "repo", "--url", http_server.url("cli.git"),
        "--branch", "master", "--interval", "1h", *ns,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr + logs()
    assert f"✔ fetched revision master@sha1:{first}" in created.stderr
    created = headwater(
        "create", "kustomization", "app", "--source", "GitRepository/repo", "--path", "./deploy",
        "--prune", "--interval", "1h", "--target-namespace", namespace, *ns,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr + logs()
    assert f"✔ applied revision master@sha1:{first}" in created.stderr

    # get: Flux's columns, -o json|yaml, -A and the status selector.
    table = _ok(headwater("get", "sources", "git", *ns)).splitlines()
    assert table[0].split() == ["NAME", "REVISION", "SUSPENDED", "READY", "MESSAGE"]
    assert table[1].split()[:4] == ["repo", f"master@sha1:{first}", "False", "True"]
    as_json = json.loads(_ok(headwater("get", "kustomization", "app", *ns, "-o", "json")))
    assert as_json["status"]["lastAppliedRevision"] == f"master@sha1:{first}"
    as_yaml = list(yaml.safe_load_all(_ok(headwater("get", "ks", *ns, "-o", "yaml"))))
    assert [d["metadata"]["name"] for d in as_yaml] == ["app", "child"]
    everything = _ok(headwater("get", "all", "-A"))
    rows = [line.split()[:2] for line in everything.splitlines()]
    assert [namespace, "gitrepository/repo"] in rows
    assert [namespace, "kustomization/app"] in rows
    failing = headwater("get", "ks", "-A", "--status-selector", "ready=false")
    assert f"{namespace} " not in failing.stdout

    # reconcile --with-source waits for both new results.
    second = repo.commit("Turn config cyan", {"deploy/config.yaml": CONFIGMAP.format(
        name="config", color="cyan")})  # fmt: skip
    reconciled = headwater("reconcile", "ks", "app", "--with-source", *ns)
    assert reconciled.returncode == 0, reconciled.stderr + logs()
    assert f"✔ fetched revision master@sha1:{second}" in reconciled.stderr
    assert f"✔ applied revision master@sha1:{second}" in reconciled.stderr
    assert "◎ waiting for Kustomization reconciliation" in reconciled.stderr
    assert (objects.get(cluster, namespace, "configmap", "config") or {})["data"]["color"] == "cyan"

    # tree and trace on what was applied, through the child Kustomization.
    eventually_sync(
        lambda: objects.get(cluster, namespace, "configmap", "other"),
        within=60,
        message=f"the child did not apply:\n{logs()}",
    )
    tree = _ok(headwater("tree", "ks", "app", *ns)).splitlines()
    assert tree[0] == f"Kustomization/{namespace}/app"
    assert (
        f"├── ConfigMap/{namespace}/config" in tree or f"└── ConfigMap/{namespace}/config" in tree
    )
    child_line = next(
        i for i, line in enumerate(tree) if f"Kustomization/{namespace}/child" in line
    )
    assert tree[child_line + 1].endswith(f"└── ConfigMap/{namespace}/other")
    tree_json = json.loads(_ok(headwater("tree", "ks", "app", *ns, "-o", "json")))
    kinds = {c["resource"]["GroupKind"]["Kind"] for c in tree_json["resources"]}
    assert kinds == {"ConfigMap", "Kustomization"}
    trace = _ok(headwater("trace", "configmap/other", *ns))
    assert "Kustomization:  child" in trace
    assert trace == _ok(headwater("trace", "other", "--kind", "ConfigMap", "--api-version", "v1",
                                  *ns))  # fmt: skip
    assert f"Commit:         {second}" in trace
    cluster.kubectl("create", "configmap", "loose", "-n", namespace)
    loose = headwater("trace", "cm/loose", *ns)
    assert loose.returncode == 1
    assert loose.stderr.startswith("✗ ")
    assert len(loose.stderr.splitlines()) == 1

    events = _ok(headwater("events", "--for", "Kustomization/app", *ns))
    assert events.splitlines()[0].split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert "ReconciliationSucceeded" in events
    assert "GitRepository/repo" in events

    # build and diff a local copy of the path: no change is exit 0, a change exit 1.
    local = tmp_path / "local"
    local.mkdir()
    (local / "config.yaml").write_text(CONFIGMAP.format(name="config", color="cyan"))
    (local / "child.yaml").write_text(CHILD.format(namespace=namespace))
    built = list(
        yaml.safe_load_all(_ok(headwater("build", "ks", "app", "--path", str(local), *ns)))
    )
    config = next(o for o in built if o["kind"] == "ConfigMap")
    assert config["metadata"]["namespace"] == namespace
    assert config["metadata"]["labels"] == {
        "kustomize.toolkit.fluxcd.io/name": "app",
        "kustomize.toolkit.fluxcd.io/namespace": namespace,
    }
    same = headwater("diff", "ks", "app", "--path", str(local), *ns)
    assert same.returncode == 0, same.stdout + same.stderr
    assert "✔ no changes" in same.stderr
    (local / "config.yaml").write_text(CONFIGMAP.format(name="config", color="red"))
    (local / "child.yaml").unlink()
    changed = headwater("diff", "ks", "app", "--path", str(local), *ns)
    assert changed.returncode == 1, changed.stdout + changed.stderr
    assert f"► ConfigMap/{namespace}/config drifted" in changed.stderr
    assert "  data.color" in changed.stdout
    assert f"► Kustomization/{namespace}/child deleted" in changed.stderr
    assert (objects.get(cluster, namespace, "configmap", "config") or {})["data"]["color"] == "cyan"

    # suspend, a refused reconcile, resume (which waits).
    _ok(headwater("suspend", "ks", "app", *ns))
    assert (objects.get(cluster, namespace, "kustomization", "app") or {})["spec"]["suspend"]
    refused = headwater("reconcile", "ks", "app", *ns)
    assert refused.returncode == 1
    assert "suspended; run: headwater resume kustomization app" in refused.stderr
    resumed = headwater("resume", "ks", "app", *ns)
    assert resumed.returncode == 0, resumed.stderr + logs()
    assert "✔ Kustomization reconciliation completed" in resumed.stderr

    # export: what a user would commit; delete, silently.
    exported = list(yaml.safe_load_all(_ok(headwater("export", "ks", "app", *ns))))
    assert exported == [
        {
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "metadata": {"name": "app", "namespace": namespace},
            "spec": as_json["spec"] | {"suspend": False},
        }
    ]
    # logs: headwater dev's log files (no controller pod runs in the devcluster).
    (tmp_path / "state" / "logs").mkdir(parents=True)
    for controller in controllers:
        (tmp_path / "state" / "logs" / controller.log.name).symlink_to(controller.log)
    lines = _ok(headwater(
        "logs", "--state-dir", str(tmp_path / "state"), "--kind", "Kustomization", "--name",
        "child", *ns,
    )).splitlines()  # fmt: skip
    assert lines
    assert all("controllerKind=Kustomization" in line and " name=child" in line for line in lines)
    assert any("server-side apply completed" in line for line in lines)
    errors_only = _ok(headwater("logs", "--state-dir", str(tmp_path / "state"), "-A", "--level",
                                "error"))  # fmt: skip
    assert all(line.startswith("[error") for line in errors_only.splitlines())

    _ok(headwater("delete", "ks", "child", "--silent", *ns))
    eventually_sync(
        lambda: objects.get(cluster, namespace, "kustomization", "child") is None,
        within=60,
        message="child not deleted",
    )


def test_verbs_fail_in_one_line_with_an_exit_code(
    headwater: Headwater, cluster: devcluster_fixtures.Devcluster, namespace: str
) -> None:
    ns = ["-n", namespace]
    missing = headwater("get", "ks", "nothing", *ns)
    assert missing.returncode == 1
    assert missing.stderr.startswith("✗ ")
    assert "nothing" in missing.stderr

    # No controller runs here: a reconcile waits until --timeout, then says so.
    objects.apply(
        cluster,
        yaml.safe_load(_ok(headwater(
            "create", "source", "git", "idle", "--url", "http://127.0.0.1:1/x.git", *ns,
            "--export",
        ))),
    )  # fmt: skip
    timed_out = headwater("reconcile", "source", "git", "idle", *ns, "--timeout", "2s")
    assert timed_out.returncode == 1
    assert timed_out.stderr.splitlines()[-1].startswith("✗ timed out after 2s")
    assert "◎ waiting for GitRepository reconciliation" in timed_out.stderr
    assert "\033[" not in timed_out.stderr  # no colour and no spinner off a terminal

    # --force and --reset are HelmRelease flags, as in Flux.
    forced = headwater("reconcile", "source", "git", "idle", "--force", *ns)
    assert forced.returncode == 2
    assert "unrecognized arguments: --force" in forced.stderr

    _ok(headwater("suspend", "source", "git", "--all", *ns))
    suspended = json.loads(_ok(headwater("get", "sources", "git", *ns, "-o", "json")))
    assert suspended["spec"]["suspend"] is True
    _ok(headwater("resume", "source", "git", "--all", "--no-wait", *ns))
    assert not (objects.get(cluster, namespace, "gitrepository", "idle") or {})["spec"]["suspend"]

    unconfirmed = headwater("delete", "source", "git", "idle", *ns)
    assert unconfirmed.returncode == 1
    assert "add --silent" in unconfirmed.stderr
    assert objects.get(cluster, namespace, "gitrepository", "idle") is not None

    unreachable = headwater("get", "ks", "--kubeconfig", "/nonexistent/kubeconfig")
    assert unreachable.returncode == 1
    assert "check --kubeconfig, --context or KUBECONFIG" in unreachable.stderr
    assert len(unreachable.stderr.splitlines()) == 1


def test_check_and_stats(
    headwater: Headwater, cluster: devcluster_fixtures.Devcluster, namespace: str
) -> None:
    pre = headwater("check", "--pre")
    assert pre.returncode == 0, pre.stderr
    assert "✔ prerequisites checks passed" in pre.stderr
    bare = headwater("check", "-n", namespace)
    assert bare.returncode == 0, bare.stderr
    assert f"► no controller Deployments installed in {namespace} namespace" in bare.stderr
    cluster.kubectl(
        "create", "deployment", "source-controller", "-n", namespace, "--image=example/sc:1"
    )

    def passed() -> subprocess.CompletedProcess[str] | None:
        found = headwater("check", "-n", namespace)
        return found if found.returncode == 0 else None

    full = eventually_sync(
        passed,
        within=60,
        message="the controller Deployment never became ready",
    )
    assert "✔ source-controller: deployment ready" in full.stderr
    assert "✔ gitrepositories.source.toolkit.fluxcd.io/v1" in full.stderr
    assert "✔ all checks passed" in full.stderr

    stats = _ok(headwater("stats", "-A")).splitlines()
    assert stats[0].split() == ["RECONCILERS", "RUNNING", "FAILING", "SUSPENDED", "STORAGE"]
    assert {row.split()[0] for row in stats[1:]} >= {"GitRepository", "Kustomization"}


def test_create_export_makes_the_secret_and_objects_flux_would(headwater: Headwater) -> None:
    secret = yaml.safe_load(
        _ok(headwater("create", "secret", "git", "creds", "-u", "git", "-p", "s3cret", "--export"))
    )
    assert secret == {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "creds", "namespace": "flux-system"},
        "stringData": {"username": "git", "password": "s3cret"},  # no type, as Flux
    }
    ks: dict[str, Any] = yaml.safe_load(_ok(headwater(
        "create", "ks", "apps", "--source", "GitRepository/repo.infra", "--path", "./apps",
        "--depends-on", "infra/base", "--export",
    )))  # fmt: skip
    assert ks["spec"]["sourceRef"] == {
        "kind": "GitRepository",
        "name": "repo",
        "namespace": "infra",
    }
    assert ks["spec"]["dependsOn"] == [{"name": "base", "namespace": "infra"}]
    no_credentials = headwater("create", "secret", "git", "creds", "--export")
    assert no_credentials.returncode == 1
    assert no_credentials.stderr.startswith("✗ no credentials")


def test_get_watch_prints_a_line_per_change(
    cluster: devcluster_fixtures.Devcluster, namespace: str, tmp_path: pathlib.Path
) -> None:
    _unreachable_source(cluster, namespace, "watched")
    output = tmp_path / "watch.out"
    env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig)}
    with output.open("w") as sink:
        watcher = subprocess.Popen(
            [sys.executable, "-m", "headwater.cli.main", "get", "sources", "git", "-w",
             "-n", namespace],
            stdout=sink, stderr=subprocess.STDOUT, env=env, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    try:
        eventually_sync(
            lambda: len(output.read_text().splitlines()) == 2,
            within=30,
            message=f"no table: {output.read_text()}",
        )
        cluster.kubectl(
            "patch", "-n", namespace, "gitrepository", "watched", "--type=merge",
            "-p", '{"spec":{"suspend":true}}',
        )  # fmt: skip
        lines = eventually_sync(
            lambda: (found := output.read_text().splitlines())[2:] and found,
            within=30,
            message=f"the change was not printed: {output.read_text()}",
        )
    finally:
        commands.stop(watcher)
    assert lines[0].split() == ["NAME", "REVISION", "SUSPENDED", "READY", "MESSAGE"]
    assert lines[1].split()[:2] == ["watched", "False"]
    assert lines[2].split()[:2] == ["watched", "True"]


def test_progress_and_colour_only_on_a_terminal(
    cluster: devcluster_fixtures.Devcluster, namespace: str
) -> None:
    _unreachable_source(cluster, namespace, "tty")

    def on_a_terminal(**extra: str) -> str:
        """stderr of a reconcile that times out, written to a pseudo-terminal."""
        env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
        env |= {"KUBECONFIG": str(cluster.kubeconfig), **extra}
        controller, terminal = pty.openpty()
        process = subprocess.Popen(
            [sys.executable, "-m", "headwater.cli.main", "reconcile", "source", "git", "tty",
             "-n", namespace, "--timeout", "2s"],
            stdout=subprocess.DEVNULL, stderr=terminal, stdin=subprocess.DEVNULL, env=env,
        )  # fmt: skip
        os.close(terminal)
        chunks = []
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        os.close(controller)
        assert process.wait(timeout=60) == 1
        return b"".join(chunks).decode()

    coloured = on_a_terminal()
    assert "\r⠋ waiting for GitRepository reconciliation" in coloured  # the spinner
    assert "\033[31m✗\033[0m timed out after 2s" in coloured
    plain = on_a_terminal(NO_COLOR="1")
    assert "\033[31m" not in plain
    assert "✗ timed out after 2s" in plain
