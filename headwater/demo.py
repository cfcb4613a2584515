"""``python -m headwater.demo`` (``make demo``): the core GitOps loop, step by step.

Steps:

1. starts ``headwater dev up --reset`` in the state directory (a fresh
   cluster, no Git repositories) and waits until it reports ready;
2. pushes ``examples/webapp`` to the local Git server as a new repository;
3. creates a GitRepository (polling only every 10 minutes) and a
   Kustomization for it, waits until both are Ready at the pushed revision,
   prints them (kubectl's Flux printer columns) and the objects they applied;
4. with the ``headwater`` command, creates a generic webhook Receiver for the
   GitRepository, and an Alert with a Provider that posts the GitRepository's
   and Kustomization's events to a local sink (``demowebhooks.Sink``);
5. scales the Deployment behind Git's back and waits until it is restored;
6. pushes a commit that changes the ConfigMap and deletes the Service, calls
   the Receiver's webhook as a Git host would, and waits until both changes
   are live (the Service pruned) — seconds, not the 10-minute poll — and
   until the sink received the alert of the new revision;
7. pushes a tag to the local registry and lets an ImageRepository, an
   ImagePolicy and an ImageUpdateAutomation turn it into a commit, which
   ``headwater reconcile kustomization --with-source`` rolls out
   (``headwater.demoimages``);
8. stops ``headwater dev up`` and checks that every process exited.

Every step is verified by polling with a deadline; the exit status is 0 only
when all of them were. On a failure the tail of the controllers' logs is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

from headwater import demohelm, demoimages, demokit, demowebhooks, dev, devprocesses, stopping
from headwater.demokit import APP_NAMESPACE, EXAMPLE, FLUX_NAMESPACE, NAME, STEPS, Demo, DemoError


def flux_objects(git_url: str) -> str:
    return f"""\
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: {NAME}
  namespace: {FLUX_NAMESPACE}
spec:
  interval: 10m         # how often to poll; the webhook Receiver says "now"
  url: {git_url}
  ref:
    branch: main
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: {NAME}
  namespace: {FLUX_NAMESPACE}
spec:
  interval: 10s         # how often to re-apply (and so correct drift)
  sourceRef:
    kind: GitRepository
    name: {NAME}
  path: ./
  prune: true           # delete what leaves Git
  wait: true            # Ready only when every object is healthy
  timeout: 1m
"""


def push_example(demo: Demo) -> str:
    demo.header("Push the example repository to the local Git server")
    shutil.rmtree(demo.workdir, ignore_errors=True)
    shutil.copytree(EXAMPLE, demo.workdir)
    demo.git("init", "--quiet", "--initial-branch=main")
    demo.say(f"files from {EXAMPLE}: {', '.join(sorted(p.name for p in EXAMPLE.iterdir()))}")
    revision = demo.commit_and_push("Add webapp: namespace, Greeting CRD and object, app")
    remote = demo.git("ls-remote", demo.git_url, "refs/heads/main").split()
    if not remote or f"main@sha1:{remote[0]}" != revision:
        raise DemoError(f"the Git server does not have the pushed commit (ls-remote: {remote})")
    demo.ok(f"{demo.git_url} has main at {revision}")
    return revision


def create_flux_objects(demo: Demo, revision: str) -> None:
    demo.header("Create a GitRepository and a Kustomization, wait until they are Ready")
    manifest = flux_objects(demo.git_url)
    demo.show("kubectl apply --server-side -f - <<EOF", manifest + "EOF")
    demo.kubectl("apply", "--server-side", "-f", "-", input=manifest)
    demo.eventually(
        f"GitRepository {NAME} is Ready with an artifact of {revision[:21]}",
        demokit.ready_at(demo, "gitrepository", revision),
    )
    kustomization = demo.eventually(
        f"Kustomization {NAME} is Ready, applied {revision[:21]}",
        demokit.ready_at(demo, "kustomization", revision),
    )
    demo.kubectl_shown("get", "gitrepositories,kustomizations", "-A")
    entries = ((kustomization.get("status") or {}).get("inventory") or {}).get("entries") or []
    if len(entries) != 6:
        raise DemoError(f"expected 6 objects in the Kustomization's inventory, found {entries}")
    demo.ok("the inventory lists the 6 applied objects")
    demo.kubectl_shown("get", "-n", APP_NAMESPACE, "greetings,deployments,services,configmaps")
    applied = [
        ("greeting", "hello"), ("deployment", NAME), ("service", NAME),
        ("configmap", "webapp-config"),
    ]  # fmt: skip
    for resource, name in applied:
        if demo.get(resource, name, namespace=APP_NAMESPACE) is None:
            raise DemoError(f"{resource} {APP_NAMESPACE}/{name} was not applied")
    demo.ok("the namespace, the Greeting, the Deployment, the Service and the ConfigMap exist")


def receive_and_alert(demo: Demo, sink: demowebhooks.Sink, receiver_port: int) -> None:
    demo.header("Receive the Git host's webhooks; send alerts to a local sink")
    demo.kubectl_shown(
        "create", "secret", "generic", "webhook-token", "-n", FLUX_NAMESPACE,
        f"--from-literal=token={os.urandom(16).hex()}",
    )  # fmt: skip
    demokit.headwater_shown(
        demo, "create", "receiver", NAME, "--type", "generic",
        "--secret-ref", "webhook-token", "--resource", f"GitRepository/{NAME}",
    )  # fmt: skip
    receiver = demo.get("receiver", NAME, namespace=FLUX_NAMESPACE) or {}
    path = (receiver.get("status") or {}).get("webhookPath")
    if not path:
        raise DemoError(f"Receiver {NAME} is Ready without a webhook path: {receiver}")
    demo.webhook_url = f"http://127.0.0.1:{receiver_port}{path}"
    demo.ok(f"the Git host is to call {demo.webhook_url}")
    demokit.headwater_shown(
        demo, "create", "alert-provider", "sink", "--type", "generic", "--address", sink.url
    )
    demokit.headwater_shown(
        demo, "create", "alert", NAME, "--provider-ref", "sink",
        "--event-source", f"GitRepository/{NAME}", "--event-source", f"Kustomization/{NAME}",
    )  # fmt: skip
    demokit.headwater_shown(demo, "get", "alerts")
    demo.ok(
        f"Alert {NAME} sends the events of GitRepository and Kustomization {NAME} to {sink.url}"
    )


def correct_drift(demo: Demo) -> None:
    demo.header("Change an applied object behind Git's back: it is restored")
    demo.kubectl_shown("scale", "-n", APP_NAMESPACE, f"deployment/{NAME}", "--replicas=5")

    def replicas() -> int | None:
        deployment = demo.get("deployment", NAME, namespace=APP_NAMESPACE)
        return None if deployment is None else int(deployment["spec"].get("replicas", 1))

    if replicas() != 5:
        raise DemoError(f"kubectl scale did not take effect (replicas: {replicas()})")
    demo.ok("the live Deployment now runs 5 replicas; Git says 2")
    demo.say("the kustomize-controller re-applies Git's state at its next reconcile (10s interval)")
    demo.eventually(
        "the Deployment is back to 2 replicas, as in Git", lambda: True if replicas() == 2 else None
    )
    demo.kubectl_shown("get", "-n", APP_NAMESPACE, "deployment", NAME)


def change_in_git(demo: Demo, sink: demowebhooks.Sink) -> None:
    demo.header(
        "Push a commit that changes the ConfigMap and deletes the Service; call the webhook"
    )
    configmap = demo.workdir / "configmap.yaml"
    configmap.write_text(configmap.read_text().replace("LOG_LEVEL: info", "LOG_LEVEL: debug"))
    (demo.workdir / "service.yaml").unlink()
    kustomization = demo.workdir / "kustomization.yaml"
    kustomization.write_text(kustomization.read_text().replace("  - service.yaml\n", ""))
    demo.show("git diff --stat", demo.git("diff", "--stat"))
    revision = demo.commit_and_push("Debug logging for webapp; retire its Service")
    demo.say(f"$ curl -X POST {demo.webhook_url}   (what the Git host does on a push)")
    status = demowebhooks.call_webhook(demo.webhook_url)
    if status != 200:
        raise DemoError(f"the Receiver answered {status} to the webhook call")
    demo.eventually(
        f"GitRepository {NAME} fetched {revision[:21]} at once (its poll interval is 10m)",
        demokit.ready_at(demo, "gitrepository", revision),
    )
    demo.eventually(
        f"Kustomization {NAME} applied {revision[:21]}",
        demokit.ready_at(demo, "kustomization", revision),
    )

    def alerted() -> dict[str, Any] | None:
        for event in sink.events():
            involved = event.get("involvedObject") or {}
            if involved.get("kind") == "GitRepository" and revision in json.dumps(event):
                return event
        return None

    event = demo.eventually(f"the sink received the alert of {revision[:21]}", alerted)
    demo.say(f"alert: {event.get('severity')} {event.get('reason')}: {event.get('message')}")

    def log_level() -> str | None:
        obj = demo.get("configmap", "webapp-config", namespace=APP_NAMESPACE)
        return None if obj is None else str((obj.get("data") or {}).get("LOG_LEVEL"))

    if log_level() != "debug":
        raise DemoError(f"ConfigMap LOG_LEVEL is {log_level()!r}, Git says 'debug'")
    demo.ok("ConfigMap webapp-config has LOG_LEVEL=debug")
    if demo.get("service", NAME, namespace=APP_NAMESPACE) is not None:
        raise DemoError(f"Service {APP_NAMESPACE}/{NAME} still exists after it left Git")
    demo.ok(f"Service {APP_NAMESPACE}/{NAME} was pruned")
    demo.kubectl_shown("get", "gitrepositories,kustomizations", "-A")
    demo.kubectl_shown("get", "-n", APP_NAMESPACE, "deployments,services,configmaps")


def start_environment(layout: dev.Layout, *, timeout: float) -> subprocess.Popen[bytes]:
    """``headwater dev up --reset`` in its own session; returns once it reports ready."""
    if dev.running(layout) is not None:
        raise DemoError(
            f"'headwater dev up' is already running in {layout.root}; "
            f"stop it first with: headwater dev down --state-dir {layout.root}"
        )
    print(f"\n=== Step 1/{STEPS}: Start the local environment", flush=True)
    print(f"  $ headwater dev up --reset --state-dir {layout.root}", flush=True)
    layout.run_file.unlink(missing_ok=True)
    process = subprocess.Popen(
        [sys.executable, "-m", "headwater.cli.main", "dev", "up", "--reset",
         "--state-dir", str(layout.root)],
        start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + timeout
    while not (dev.read_run(layout) or {}).get("ready"):
        if process.poll() is not None:
            raise DemoError(f"headwater dev up exited with status {process.returncode}")
        if time.monotonic() > deadline:
            stop_environment(process)
            raise DemoError(f"headwater dev up was not ready within {timeout:.0f}s")
        time.sleep(0.2)
    return process


def stop_environment(process: subprocess.Popen[bytes], *, grace: float = 60) -> int | None:
    """SIGTERM ``headwater dev up`` and wait; SIGKILL it when it does not exit in ``grace``.

    Its exit status, or None when it had to be killed.
    """
    if stopping.stop(process, grace=grace) == "killed":
        return None
    return process.returncode


def shut_down(demo: Demo, process: subprocess.Popen[bytes]) -> None:
    demo.header("Shut down")
    record = dev.read_run(demo.layout) or {}
    children = {
        name: devprocesses.Identity.from_json(child)
        for name, child in (record.get("children") or {}).items()
    }
    code = stop_environment(process)
    if code != 0:
        raise DemoError(f"headwater dev up exited with status {code} when asked to stop")
    left = [name for name, identity in children.items() if identity.alive()]
    if left:
        raise DemoError(f"still running after shutdown: {', '.join(left)}")
    demo.ok(f"headwater dev up and its {len(children)} processes exited")


def _print_logs(layout: dev.Layout) -> None:
    for name in ("source-controller", "kustomize-controller", "helm-controller",
                 "notification-controller"):  # fmt: skip
        log = layout.logs / f"{name}.log"
        if log.exists():
            tail = log.read_text(errors="replace").splitlines()[-15:]
            print(f"\n--- last lines of {log}", file=sys.stderr)
            print("\n".join(tail), file=sys.stderr)


def run(layout: dev.Layout, *, step_timeout: float) -> int:
    began = time.monotonic()
    demo = Demo(layout, step_timeout=step_timeout)
    try:
        process = start_environment(layout, timeout=120)
    except DemoError as error:
        print(f"\nDEMO FAILED: {error}", file=sys.stderr)
        return 1
    try:
        ports = (dev.read_run(layout) or {})["ports"]
        demo.git_url = f"http://127.0.0.1:{ports['git']}/{NAME}.git"
        revision = push_example(demo)
        create_flux_objects(demo, revision)
        with demowebhooks.Sink() as sink:
            receive_and_alert(demo, sink, int(ports["receiver"]))
            correct_drift(demo)
            change_in_git(demo, sink)
        if "registry" not in (dev.read_run(layout) or {}).get("children", {}):
            raise DemoError("headwater dev up runs no registry: install docker-registry")
        demoimages.new_tag_becomes_a_commit(demo, int(ports["registry"]))
        demohelm.install_and_upgrade(demo)
        shut_down(demo, process)
    except (DemoError, KeyboardInterrupt, OSError, subprocess.SubprocessError) as error:
        print(f"\nDEMO FAILED in step {demo.step}: {error or 'interrupted'}", file=sys.stderr)
        _print_logs(layout)
        stop_environment(process)
        return 1
    print(f"\nAll {STEPS} steps verified in {time.monotonic() - began:.0f}s.", flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m headwater.demo", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--state-dir", default=dev.DEFAULT_STATE_DIR, help="for headwater dev up")
    parser.add_argument("--step-timeout", type=float, default=60.0, help="deadline of each wait")
    args = parser.parse_args(argv)
    return run(dev.Layout(pathlib.Path(args.state_dir)), step_timeout=args.step_timeout)


if __name__ == "__main__":
    sys.exit(main())
