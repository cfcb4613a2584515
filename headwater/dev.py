"""``headwater dev up|down|status``: a complete local GitOps environment.

``up`` runs, as separate processes, the devcluster (the local Kubernetes API,
state in SQLite), a Git smart-HTTP server (``headwater.gitserver``, push
enabled), an OCI registry (``devregistry``: plain HTTP, no auth; left out
with a notice when ``docker-registry`` is not installed) and the controllers
(notification-controller, source-controller, kustomize-controller,
helm-controller, image-reflector-controller, image-automation-controller; the
others post their events to the first), waits for each to be ready with a
deadline, installs the CRDs and the
``flux-system`` namespace, and stays in the foreground until SIGINT/SIGTERM or
until a child dies; it then stops the children in reverse order. With
``--rbac`` the devcluster authorizes with RBAC and each controller runs with
a kubeconfig of its own, as its ServiceAccount of ``deploy/`` (``devrbac``).

Everything lives under the state directory (``.headwater/`` by default):

    kubeconfig     for kubectl and the controllers (the admin)
    kubeconfig-<controller>   with --rbac: that controller's ServiceAccount token
    run.json       the running supervisor and children: PIDs, addresses (only while up)
    ports.json     the ports in use, re-used next time so URLs stored in objects stay valid
    logs/          one log per process
    data/          devcluster state (SQLite)
    git/           bare repositories served by the Git server
    storage/       source-controller's artifacts
    tags/          image-reflector-controller's tag store
    registry/      the registry's config.yml and its images (storage/)
    kube-cache/    kubectl's discovery cache for this cluster

``down`` stops a running ``up`` by its recorded PID (and any child left
behind); ``status`` reports each process and whether it is ready.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import importlib.util
import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

from headwater import devprocesses, devrbac, devregistry
from shared.api import crdgen, registry
from shared.kube import kubectl as kubectl_binary

DEFAULT_STATE_DIR = ".headwater"
RUNTIME_NAMESPACE = "flux-system"
PORT_NAMES = (
    "api", "git", "registry", "storage", "events", "receiver",
    "source-metrics", "source-health", "kustomize-metrics", "kustomize-health",
    "helm-metrics", "helm-health",
    "notification-metrics", "notification-health",
    "image-reflector-metrics", "image-reflector-health",
    "image-automation-metrics", "image-automation-health",
    "registry",
)  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Layout:
    """Where ``headwater dev`` keeps its files (see the module docstring)."""

    root: pathlib.Path

    @property
    def kubeconfig(self) -> pathlib.Path:
        return self.root / "kubeconfig"

    @property
    def run_file(self) -> pathlib.Path:
        return self.root / "run.json"

    @property
    def ports_file(self) -> pathlib.Path:
        return self.root / "ports.json"

    @property
    def logs(self) -> pathlib.Path:
        return self.root / "logs"

    @property
    def data(self) -> pathlib.Path:
        return self.root / "data"

    @property
    def git(self) -> pathlib.Path:
        return self.root / "git"

    @property
    def storage(self) -> pathlib.Path:
        return self.root / "storage"

    @property
    def tags(self) -> pathlib.Path:
        return self.root / "tags"

    @property
    def registry(self) -> pathlib.Path:
        return self.root / "registry"

    @property
    def kube_cache(self) -> pathlib.Path:
        return self.root / "kube-cache"


def kubectl_path() -> str:
    """``shared.kube.kubectl.find()``, or exit with what to do when there is none."""
    found = kubectl_binary.find()
    if found is None:
        raise SystemExit("headwater dev: kubectl not found (run 'make setup')")
    return found


def kubectl(
    layout: Layout, *args: str, input: str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run kubectl against the dev cluster, with its own discovery cache."""
    command = [kubectl_path(), "--kubeconfig", str(layout.kubeconfig)]
    command += ["--cache-dir", str(layout.kube_cache), *args]
    return subprocess.run(
        command, input=input, capture_output=True, text=True, timeout=timeout, check=False
    )


def read_run(layout: Layout) -> dict[str, Any] | None:
    """The record of the running ``up``, or None when there is none."""
    try:
        data: dict[str, Any] = json.loads(layout.run_file.read_text())
    except (OSError, ValueError):
        return None
    return data


def running(layout: Layout) -> dict[str, Any] | None:
    """The run record when its supervisor is still alive."""
    record = read_run(layout)
    if record is None or not devprocesses.Identity.from_json(record["supervisor"]).alive():
        return None
    return record


def _write_json(path: pathlib.Path, data: dict[str, Any]) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(data, indent=2) + "\n")
    temporary.replace(path)  # atomic: readers never see half a file


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def allocate_ports(layout: Layout, *, fixed: dict[str, int]) -> dict[str, int]:
    """A port per name: ``fixed`` ones, else last run's when still free, else a free one."""
    try:
        previous = {k: int(v) for k, v in json.loads(layout.ports_file.read_text()).items()}
    except (OSError, ValueError):
        previous = {}
    ports: dict[str, int] = {}
    for name in PORT_NAMES:
        wanted = fixed.get(name) or previous.get(name)
        taken = set(ports.values())
        if wanted and wanted not in taken and (name in fixed or _port_free(wanted)):
            ports[name] = wanted
            continue
        port = _free_port()
        while port in taken:
            port = _free_port()
        ports[name] = port
    _write_json(layout.ports_file, {k: ports[k] for k in PORT_NAMES})
    return ports


@dataclasses.dataclass(frozen=True, kw_only=True)
class ControllerSpec:
    name: str
    module: str
    prefix: str  # of its port names
    extra: tuple[str, ...] = ()


def _installed(module: str) -> bool:
    return importlib.util.find_spec(f"{module}.__main__") is not None


def controller_specs(layout: Layout, ports: dict[str, int]) -> list[ControllerSpec]:
    """The controllers to run; one whose module is not installed is left out.

    The notification-controller comes first; while it runs, the others post
    their events to its intake (``--events-addr``).
    """
    storage = f"127.0.0.1:{ports['storage']}"
    events = f"127.0.0.1:{ports['events']}"
    notifying = _installed("controllers.notification")
    posting = ("--events-addr", f"http://{events}/") if notifying else ()
    specs = [
        ControllerSpec(
            name="notification-controller", module="controllers.notification",
            prefix="notification",
            extra=("--events-addr", events, "--receiverAddr", f"127.0.0.1:{ports['receiver']}"),
        ),
        ControllerSpec(
            name="source-controller", module="controllers.source", prefix="source",
            extra=("--storage-path", str(layout.storage), "--storage-addr", storage,
                   "--storage-adv-addr", storage, *posting),
        ),
        ControllerSpec(
            name="kustomize-controller", module="controllers.kustomize", prefix="kustomize",
            extra=posting,
        ),
        ControllerSpec(
            name="helm-controller", module="controllers.helm", prefix="helm", extra=posting,
        ),
        ControllerSpec(
            name="image-reflector-controller", module="controllers.image_reflector",
            prefix="image-reflector", extra=("--storage-path", str(layout.tags), *posting),
        ),
        ControllerSpec(
            name="image-automation-controller", module="controllers.image_automation",
            prefix="image-automation", extra=posting,
        ),
    ]  # fmt: skip
    return [s for s in specs if _installed(s.module)]


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[threading.Event]:
    """An event set by SIGINT/SIGTERM while the block runs; old handlers restored after."""
    stop = threading.Event()
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    for signum in previous:
        signal.signal(signum, lambda *_: stop.set())
    try:
        yield stop
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


class Supervisor:
    """Starts the children of one ``up``, records them in run.json, stops them."""

    def __init__(self, layout: Layout, *, ports: dict[str, int], stop: threading.Event) -> None:
        self.layout = layout
        self.ports = ports
        self.stop = stop
        self.children: list[devprocesses.Child] = []
        self.record: dict[str, Any] = {
            "supervisor": devprocesses.identity_of(os.getpid()).as_json(),
            "ready": False,
            "ports": ports,
            "kubeconfig": str(layout.kubeconfig.resolve()),
            "children": {},
        }
        _write_json(layout.run_file, self.record)

    def spawn(
        self,
        name: str,
        command: list[str],
        *,
        address: str,
        probe: str | None = None,
        env: dict[str, str] | None = None,
    ) -> devprocesses.Child:
        """Start a child; ``probe`` is the URL that answers 200 once it is ready
        (None for the devcluster, which is ready when its kubeconfig exists)."""
        child = devprocesses.spawn(
            name, command, log=self.layout.logs / f"{name}.log", cwd=pathlib.Path.cwd(), env=env
        )
        self.children.append(child)
        self.record["children"][name] = {
            **child.identity.as_json(), "address": address, "probe": probe, "log": str(child.log),
        }  # fmt: skip
        _write_json(self.layout.run_file, self.record)
        return child

    def mark_ready(self) -> None:
        self.record["ready"] = True
        _write_json(self.layout.run_file, self.record)

    def wait(self, child: devprocesses.Child, probe: Any, *, timeout: float) -> None:
        took = devprocesses.wait_ready(child, probe, timeout=timeout, stop=self.stop)
        print(
            f"  {child.name:<27} ready in {took:4.1f}s  pid {child.identity.pid:<7} "
            f"{self.record['children'][child.name]['address']}",
            flush=True,
        )

    def died(self) -> devprocesses.Child | None:
        return next((c for c in self.children if c.exited() is not None), None)

    def shutdown(self) -> None:
        for child in reversed(self.children):
            outcome = devprocesses.terminate(child.identity, grace=15, process=child.process)
            print(f"  {child.name:<27} {outcome}", flush=True)
        self.layout.run_file.unlink(missing_ok=True)


def _install_crds(layout: Layout) -> None:
    manifests = "".join(crdgen.render(crdgen.crd_for(kind)) for kind in registry.all_kinds())
    namespace = f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {RUNTIME_NAMESPACE}\n"
    steps = [
        (("apply", "--server-side", "--force-conflicts", "-f", "-"), manifests),
        (("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s"), None),
        (("apply", "--server-side", "-f", "-"), namespace),
    ]
    for args, stdin in steps:
        result = kubectl(layout, *args, input=stdin, timeout=90)
        if result.returncode != 0:
            raise devprocesses.StartupError(
                f"kubectl {' '.join(args)} failed:\n{result.stdout}{result.stderr}"
            )


def _start(
    supervisor: Supervisor, *, simulate_delay: float, timeout: float, rbac: bool = False
) -> None:
    layout, ports, python = supervisor.layout, supervisor.ports, sys.executable
    api = f"http://127.0.0.1:{ports['api']}"
    authorization = ["--authorization-mode", "RBAC"] if rbac else []
    cluster = supervisor.spawn(
        "devcluster",
        [python, "-m", "devcluster", "--host", "127.0.0.1", "--port", str(ports["api"]),
         "--kubeconfig", str(layout.kubeconfig), "--data-dir", str(layout.data),
         "--simulate-delay", str(simulate_delay), *authorization],
        address=api,
    )  # fmt: skip
    git_url = f"http://127.0.0.1:{ports['git']}/"
    git = supervisor.spawn(
        "gitserver",
        [python, "-m", "headwater.gitserver", "--root", str(layout.git),
         "--host", "127.0.0.1", "--port", str(ports["git"])],
        address=git_url, probe=git_url + "healthz",
    )  # fmt: skip
    oci = _spawn_registry(supervisor)
    supervisor.wait(cluster, layout.kubeconfig.exists, timeout=timeout)
    began = time.monotonic()
    _install_crds(layout)
    print(f"  {'CRDs':<27} installed in {time.monotonic() - began:4.1f}s", flush=True)
    for child in (git, oci):
        if child is not None:
            probe = supervisor.record["children"][child.name]["probe"]
            supervisor.wait(child, devprocesses.http_ok(probe), timeout=timeout)
    specs = controller_specs(layout, ports)
    kubeconfigs = {spec.name: layout.kubeconfig for spec in specs}
    if rbac:
        # Each controller as its ServiceAccount of deploy/, not as the admin.
        kubeconfigs = devrbac.install(
            functools.partial(kubectl, layout),
            admin=layout.kubeconfig,
            namespace=RUNTIME_NAMESPACE,
            controllers=[spec.name for spec in specs],
            directory=layout.root,
        )
    started = []
    for spec in specs:
        health = f"127.0.0.1:{ports[spec.prefix + '-health']}"
        command = [
            python, "-m", spec.module, "--kubeconfig", str(kubeconfigs[spec.name]), *spec.extra,
            "--metrics-addr", f"127.0.0.1:{ports[spec.prefix + '-metrics']}",
            "--health-addr", health, "--log-encoding", "console",
        ]  # fmt: skip
        child = supervisor.spawn(
            spec.name, command, address=f"http://{health}/readyz",
            probe=f"http://{health}/readyz", env={"RUNTIME_NAMESPACE": RUNTIME_NAMESPACE},
        )  # fmt: skip
        started.append((child, health))
    for child, health in started:
        supervisor.wait(child, devprocesses.http_ok(f"http://{health}/readyz"), timeout=timeout)


def _spawn_registry(supervisor: Supervisor) -> devprocesses.Child | None:
    """The OCI registry, or None (with a notice) when docker-registry is not installed."""
    port = supervisor.ports["registry"]
    command = devregistry.command(supervisor.layout.registry, port)
    if command is None:
        print(f"  {'registry':<27} left out: {devregistry.BINARY} is not installed "
              "(run 'make setup' as root)", flush=True)  # fmt: skip
        return None
    return supervisor.spawn(
        "registry", command, address=f"127.0.0.1:{port}",
        probe=f"http://127.0.0.1:{port}/v2/",
    )  # fmt: skip


def up(args: argparse.Namespace) -> int:
    layout = Layout(pathlib.Path(args.state_dir))
    layout.root.mkdir(parents=True, exist_ok=True)
    record = running(layout)
    if record is not None:
        pid = record["supervisor"]["pid"]
        print(f"headwater dev is already running in {layout.root} (pid {pid}); "
              "stop it with 'headwater dev down'", file=sys.stderr)  # fmt: skip
        return 1
    if args.reset:
        for directory in (layout.data, layout.git, layout.storage, layout.tags, layout.registry):
            shutil.rmtree(directory, ignore_errors=True)
    shutil.rmtree(layout.kube_cache, ignore_errors=True)  # the server's CRDs may have changed
    layout.kubeconfig.unlink(missing_ok=True)  # so its reappearance means "serving"
    ports = allocate_ports(
        layout,
        fixed={"api": args.api_port, "git": args.git_port, "registry": args.registry_port},
    )
    print(f"headwater dev: starting in {layout.root}/ (logs in {layout.logs}/)", flush=True)
    with _stop_on_signals() as stop:
        supervisor = Supervisor(layout, ports=ports, stop=stop)
        status = 0
        try:
            _start(
                supervisor,
                simulate_delay=args.simulate_delay,
                timeout=args.timeout,
                rbac=args.rbac,
            )
            supervisor.mark_ready()
            _print_ready(layout, ports)
            while not stop.wait(0.5):
                dead = supervisor.died()
                if dead is not None:
                    print(
                        f"headwater dev: {dead.name} exited with status {dead.exited()}; "
                        f"last lines of {dead.log}:\n{dead.log_tail()}",
                        file=sys.stderr,
                    )
                    status = 1
                    break
        except devprocesses.StartupError as error:
            print(f"headwater dev: {error}", file=sys.stderr)
            status = 1
        except devprocesses.StopRequestedError:
            pass
        print("headwater dev: stopping", flush=True)
        supervisor.shutdown()
    return status


def _print_ready(layout: Layout, ports: dict[str, int]) -> None:
    print(
        "headwater dev: ready. Try:\n"
        f"  export KUBECONFIG={layout.kubeconfig.resolve()}\n"
        "  kubectl get gitrepositories,kustomizations -A\n"
        f"  git push http://127.0.0.1:{ports['git']}/<name>.git main   "
        "(repositories are created on first push)\n"
        f"  push images to 127.0.0.1:{ports['registry']}/<name>:<tag>   "
        "(plain HTTP: ImageRepositories set insecure: true)\n"
        f"  headwater artifact push oci://127.0.0.1:{ports['registry']}/<name>:<tag> --insecure …\n"
        "Stop with Ctrl-C or 'headwater dev down'.",
        flush=True,
    )


def down(args: argparse.Namespace) -> int:
    layout = Layout(pathlib.Path(args.state_dir))
    record = read_run(layout)
    if record is None:
        print(f"headwater dev is not running in {layout.root}")
        return 0
    supervisor = devprocesses.Identity.from_json(record["supervisor"])
    # The supervisor stops its children itself (each within 15s) when it gets SIGTERM.
    outcome = devprocesses.terminate(supervisor, grace=60)
    print(f"  {'headwater dev up':<27} {outcome}")
    for name, child in record["children"].items():
        identity = devprocesses.Identity.from_json(child)
        if identity.alive():  # left behind by a supervisor that was killed
            print(f"  {name:<27} {devprocesses.terminate(identity, grace=15)}")
    layout.run_file.unlink(missing_ok=True)
    return 0


def status(args: argparse.Namespace) -> int:
    layout = Layout(pathlib.Path(args.state_dir))
    record = running(layout)
    if record is None:
        print(f"headwater dev is not running in {layout.root}")
        return 1
    print(f"headwater dev (pid {record['supervisor']['pid']}) in {layout.root}: "
          f"{'ready' if record['ready'] else 'starting'}")  # fmt: skip
    print(f"{'NAME':<27} {'PID':<8} {'STATE':<9} ADDRESS")
    healthy = record["ready"]
    for name, child in record["children"].items():
        alive = devprocesses.Identity.from_json(child).alive()
        address, url = child["address"], child.get("probe")
        probe = layout.kubeconfig.exists if url is None else devprocesses.http_ok(url)
        state = "ready" if alive and probe() else ("running" if alive else "exited")
        healthy = healthy and state == "ready"
        print(f"{name:<27} {child['pid']:<8} {state:<9} {address}")
    print(f"KUBECONFIG={record['kubeconfig']}")
    return 0 if healthy else 1


def register(commands: Any) -> None:
    """Add ``dev up|down|status`` to the ``headwater`` command's subparsers."""
    dev = commands.add_parser("dev", help="run a local GitOps environment")
    actions = dev.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, run, text in (
        ("up", up, "start devcluster, Git server and controllers; run until interrupted"),
        ("down", down, "stop a running 'headwater dev up'"),
        ("status", status, "show the processes of a running 'headwater dev up'"),
    ):
        action = actions.add_parser(name, help=text)
        action.add_argument(
            "--state-dir", default=DEFAULT_STATE_DIR, help="where state, logs and PIDs are kept"
        )
        action.set_defaults(run=run)
        if name == "up":
            action.add_argument(
                "--reset",
                action="store_true",
                help="start from an empty cluster and no Git repositories",
            )
            action.add_argument("--api-port", type=int, default=0, help="devcluster port")
            action.add_argument("--git-port", type=int, default=0, help="Git server port")
            action.add_argument("--registry-port", type=int, default=0,
                                help="OCI registry port")  # fmt: skip
            action.add_argument("--timeout", type=float, default=60.0,
                                help="seconds each process may take to become ready")  # fmt: skip
            action.add_argument("--simulate-delay", type=float, default=0.5,
                                help="seconds until simulated workloads become ready")  # fmt: skip
            action.add_argument("--rbac", action="store_true",
                                help="authorize with RBAC; controllers run as their "
                                     "ServiceAccounts of deploy/")  # fmt: skip
