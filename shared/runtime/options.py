"""The command-line flags every controller shares, named as Flux names them.

``add_common_flags`` registers them on a controller's parser; ``Options``
is the parsed, typed result that the manager and controllers receive (no
global flag state). Controllers add their own flags next to these.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import socket

from shared.api import meta
from shared.artifacts import extracting


@dataclasses.dataclass(frozen=True, kw_only=True)
class Options:
    """The common settings of one controller process."""

    concurrent: int = 4
    requeue_dependency: float = 30.0
    kube_api_qps: float = 50.0
    kube_api_burst: int = 300
    kubeconfig: str | None = None
    enable_leader_election: bool = False
    leader_election_namespace: str = ""
    leader_election_lease_duration: float = 35.0
    leader_election_renew_deadline: float = 30.0
    leader_election_retry_period: float = 5.0
    metrics_addr: str = ":8080"
    health_addr: str = ":9440"
    events_addr: str = ""
    watch_all_namespaces: bool = True
    watch_label_selector: str = ""
    runtime_namespace: str = ""
    no_cross_namespace_refs: bool = False
    default_service_account: str = ""
    log_level: str = "info"
    log_encoding: str = "json"
    min_retry_delay: float = 0.75
    max_retry_delay: float = 900.0
    instance: str = ""


def _duration(value: str) -> float:
    try:
        return meta.parse_duration(value).total_seconds()
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from error


_SIZE_SUFFIXES = {
    "": 1,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
}


def parse_size(value: str) -> int:
    """A positive byte count: an integer or a Kubernetes quantity (``100Mi``, ``1G``)."""
    number = value.rstrip("kMGTi")
    suffix = value[len(number) :]
    if suffix not in _SIZE_SUFFIXES or not number.isdigit() or int(number) == 0:
        raise argparse.ArgumentTypeError(
            f"invalid size {value!r}: want a positive number of bytes, "
            "or one with Ki, Mi, Gi, Ti, k, M, G or T"
        )
    return int(number) * _SIZE_SUFFIXES[suffix]


def add_artifact_max_size_flag(parser: argparse.ArgumentParser, *, help: str) -> None:
    """``--artifact-max-size``: one name and one default for the source and its consumers.

    The default is the extraction limit consumers apply (100Mi), so what the
    source accepts, a consumer with default flags accepts too.
    """
    parser.add_argument(
        "--artifact-max-size",
        type=parse_size,
        default=extracting.DEFAULT_MAX_TOTAL_SIZE,
        help=f"{help} (bytes or a quantity such as 100Mi; default 100Mi)",
    )


def parse_bool(value: str) -> bool:
    """A Go-style boolean flag value (true/false/1/0/yes/no)."""
    lowered = value.lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean {value!r}")


def add_bool_flag(parser: argparse.ArgumentParser, flag: str, *, default: bool, help: str) -> None:
    """Register a Go-style boolean flag: ``--flag`` alone means true, ``--flag=false`` works."""
    parser.add_argument(flag, type=parse_bool, nargs="?", const=True, default=default, help=help)


def add_common_flags(parser: argparse.ArgumentParser) -> None:
    """Register the flags shared by every controller on ``parser``."""
    defaults = Options()
    add = parser.add_argument
    add(
        "--concurrent",
        type=int,
        default=defaults.concurrent,
        help="the number of concurrent reconciles",
    )
    add(
        "--requeue-dependency",
        type=_duration,
        default=defaults.requeue_dependency,
        help="the interval at which failing dependencies are re-checked (e.g. 30s)",
    )
    add(
        "--kube-api-qps",
        type=float,
        default=defaults.kube_api_qps,
        help="the maximum queries per second to the Kubernetes API",
    )
    add(
        "--kube-api-burst",
        type=int,
        default=defaults.kube_api_burst,
        help="the maximum burst of queries to the Kubernetes API",
    )
    add(
        "--kubeconfig",
        default=os.environ.get("KUBECONFIG"),
        help="path to a kubeconfig; in-cluster configuration when unset",
    )
    add_bool_flag(
        parser,
        "--enable-leader-election",
        default=defaults.enable_leader_election,
        help="elect a leader through a Lease; only the leader reconciles",
    )
    add(
        "--leader-election-namespace",
        default=defaults.leader_election_namespace,
        help="namespace of the leader-election Lease (the runtime namespace by default)",
    )
    add(
        "--leader-election-lease-duration",
        type=_duration,
        default=defaults.leader_election_lease_duration,
        help="how long a lease is valid without renewal (default 35s)",
    )
    add(
        "--leader-election-renew-deadline",
        type=_duration,
        default=defaults.leader_election_renew_deadline,
        help="how long the leader keeps trying to renew before giving up (default 30s)",
    )
    add(
        "--leader-election-retry-period",
        type=_duration,
        default=defaults.leader_election_retry_period,
        help="how often candidates retry acquiring or renewing (default 5s)",
    )
    add(
        "--metrics-addr",
        default=defaults.metrics_addr,
        help="the address the Prometheus metrics endpoint binds to",
    )
    add(
        "--health-addr",
        default=defaults.health_addr,
        help="the address the health and readiness probes bind to",
    )
    add(
        "--events-addr",
        default=defaults.events_addr,
        help="the notification-controller address events are posted to",
    )
    add_bool_flag(
        parser,
        "--watch-all-namespaces",
        default=defaults.watch_all_namespaces,
        help="watch every namespace; when false only the runtime namespace",
    )
    add(
        "--watch-label-selector",
        default=defaults.watch_label_selector,
        help="reconcile only objects matching this label selector",
    )
    add_bool_flag(
        parser,
        "--no-cross-namespace-refs",
        default=defaults.no_cross_namespace_refs,
        help="refuse references to objects in other namespaces",
    )
    add(
        "--default-service-account",
        default=defaults.default_service_account,
        help="impersonate this service account when an object names none",
    )
    add(
        "--log-level",
        default=defaults.log_level,
        choices=("trace", "debug", "info", "error"),
        help="log verbosity",
    )
    add(
        "--log-encoding",
        default=defaults.log_encoding,
        choices=("json", "console"),
        help="log format",
    )
    add(
        "--min-retry-delay",
        type=_duration,
        default=defaults.min_retry_delay,
        help="the first delay after a failed reconcile (default 750ms)",
    )
    add(
        "--max-retry-delay",
        type=_duration,
        default=defaults.max_retry_delay,
        help="the longest delay between retries of a failing reconcile (default 15m)",
    )


def from_args(args: argparse.Namespace) -> Options:
    """The common ``Options`` from parsed arguments (and the pod's environment)."""
    # NB: every common flag's dest is the name of an Options field.
    parsed = {
        field.name: getattr(args, field.name)
        for field in dataclasses.fields(Options)
        if hasattr(args, field.name)
    }
    return Options(
        **parsed,
        runtime_namespace=os.environ.get("RUNTIME_NAMESPACE", ""),
        instance=os.environ.get("POD_NAME", socket.gethostname()),
    )


def split_addr(addr: str) -> tuple[str, int]:
    """``(host, port)`` of a Go-style listen address (``:8080`` means every interface)."""
    host, _, port = addr.rpartition(":")
    if not port.isdigit():
        raise ValueError(f"invalid listen address {addr!r}: want [host]:port")
    return host or "0.0.0.0", int(port)
