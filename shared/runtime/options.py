"""The command-line flags every controller shares, named as Flux names them.

A flag is declared once, as a field of a frozen dataclass made with ``flag``
(its help text, default and parser travel in the field's metadata):
``add_flags`` registers every such field on a parser, and ``parsed`` builds
the dataclass back from the parsed arguments. ``Options`` declares the common
flags; ``add_common_flags`` and ``from_args`` are its two uses, and the
result is what the manager and controllers receive (no global flag state).
A controller declares its own flags the same way, in a dataclass of its own.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import socket
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from shared.api import meta

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

_Declared = TypeVar("_Declared", bound="DataclassInstance")


def flag(
    help: str,
    *,
    default: Any = None,
    default_factory: Callable[[], Any] | None = None,
    env: str | None = None,
    parse: Callable[[str], Any] | None = None,
    choices: Sequence[str] | None = None,
) -> Any:
    """A dataclass field that is also a command-line flag (see the module docstring).

    The flag is ``--`` plus the field name with ``-`` for ``_``. ``env`` names
    an environment variable whose value, when set at parse time, replaces the
    default of the flag (not of the field). ``default_factory`` is called when
    the parser is built. ``parse`` defaults to the type of the default: a
    ``bool`` becomes a Go-style boolean flag, an ``int`` or ``float`` is
    converted, a ``tuple`` is a repeatable flag (one item per use), anything
    else stays a string.
    """
    spec = Flag(help=help, env=env, parse=parse, choices=tuple(choices) if choices else None)
    metadata = {_FLAG: spec}
    if default_factory is not None:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Flag:
    """What ``flag`` records on a field beyond its name and default."""

    help: str
    env: str | None
    parse: Callable[[str], Any] | None
    choices: tuple[str, ...] | None


_FLAG = "headwater.flag"


def duration(value: str) -> float:
    """Seconds from a Go-style duration flag value (``30s``, ``1m``, ``750ms``)."""
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


def artifact_max_size_flag(help: str, *, default: int) -> Any:
    """The ``artifact_max_size`` field (``--artifact-max-size``) of a controller's ``Flags``.

    One name for the source and its consumers; both pass the extraction limit
    consumers apply (``extracting.DEFAULT_MAX_TOTAL_SIZE``) as ``default``, so
    what the source accepts, a consumer with default flags accepts too.
    """
    return flag(
        f"{help} (bytes or a quantity such as 100Mi; default {default >> 20}Mi)",
        default=default,
        parse=parse_size,
    )


def jitter_percentage(value: str) -> int:
    """``--interval-jitter-percentage``: an integer from 0 to 99, as Flux accepts."""
    if not value.isdigit() or int(value) >= 100:
        raise argparse.ArgumentTypeError(
            f"invalid interval jitter percentage {value!r}: "
            "it must be a non-negative value and less than 100"
        )
    return int(value)


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


@dataclasses.dataclass(frozen=True, kw_only=True)
class Options:
    """The common settings of one controller process.

    ``runtime_namespace`` and ``instance`` are not flags: ``from_args`` reads
    them from the pod's environment (``RUNTIME_NAMESPACE``, ``POD_NAME``).
    """

    concurrent: int = flag("the number of concurrent reconciles", default=4)
    requeue_dependency: float = flag(
        "the interval at which failing dependencies are re-checked (e.g. 30s)",
        default=30.0,
        parse=duration,
    )
    kube_api_qps: float = flag("the maximum queries per second to the Kubernetes API", default=50.0)
    kube_api_burst: int = flag("the maximum burst of queries to the Kubernetes API", default=300)
    kubeconfig: str | None = flag(
        "path to a kubeconfig; in-cluster configuration when unset", env="KUBECONFIG"
    )
    enable_leader_election: bool = flag(
        "elect a leader through a Lease; only the leader reconciles", default=False
    )
    leader_election_namespace: str = flag(
        "namespace of the leader-election Lease (the runtime namespace by default)", default=""
    )
    leader_election_lease_duration: float = flag(
        "how long a lease is valid without renewal (default 35s)", default=35.0, parse=duration
    )
    leader_election_renew_deadline: float = flag(
        "how long the leader keeps trying to renew before giving up (default 30s)",
        default=30.0,
        parse=duration,
    )
    leader_election_retry_period: float = flag(
        "how often candidates retry acquiring or renewing (default 5s)", default=5.0, parse=duration
    )
    metrics_addr: str = flag(
        "the address the Prometheus metrics endpoint binds to", default=":8080"
    )
    health_addr: str = flag("the address the health and readiness probes bind to", default=":9440")
    events_addr: str = flag("the notification-controller address events are posted to", default="")
    watch_all_namespaces: bool = flag(
        "watch every namespace; when false only the runtime namespace", default=True
    )
    watch_label_selector: str = flag(
        "reconcile only objects matching this label selector", default=""
    )
    runtime_namespace: str = ""
    no_cross_namespace_refs: bool = flag(
        "refuse references to objects in other namespaces", default=False
    )
    default_service_account: str = flag(
        "impersonate this service account when an object names none", default=""
    )
    log_level: str = flag(
        "log verbosity", default="info", choices=("trace", "debug", "info", "error")
    )
    log_encoding: str = flag("log format", default="json", choices=("json", "console"))
    min_retry_delay: float = flag(
        "the first delay after a failed reconcile (default 750ms)", default=0.75, parse=duration
    )
    max_retry_delay: float = flag(
        "the longest delay between retries of a failing reconcile (default 15m)",
        default=900.0,
        parse=duration,
    )
    interval_jitter_percentage: int = flag(
        "percentage of jitter applied to the requeue interval of a successful reconcile: "
        "10 moves it by a random amount within +/-10%; 0 to 99 (default 5)",
        default=5,
        parse=jitter_percentage,
    )
    instance: str = ""


def add_flags(parser: argparse.ArgumentParser, declared: type[DataclassInstance]) -> None:
    """Register on ``parser`` a flag for every ``flag`` field of the dataclass ``declared``."""
    for field in dataclasses.fields(declared):
        spec = field.metadata.get(_FLAG)
        if spec is None:
            continue
        name = "--" + field.name.replace("_", "-")
        default = (
            field.default_factory()
            if field.default_factory is not dataclasses.MISSING
            else field.default
        )
        if spec.env is not None:
            default = os.environ.get(spec.env, default)
        if isinstance(default, bool) and spec.parse is None:
            add_bool_flag(parser, name, default=default, help=spec.help)
            continue
        parse: Callable[[str], Any] = spec.parse or (
            type(default) if isinstance(default, int | float) else str
        )
        extra: dict[str, Any] = {"choices": spec.choices} if spec.choices else {}
        if isinstance(default, tuple):
            # NB: a tuple field is a repeatable flag (Go's StringArray): each use adds one.
            extra["action"] = "append"
            default = None
        parser.add_argument(name, type=parse, default=default, help=spec.help, **extra)


def parsed(declared: type[_Declared], args: argparse.Namespace, **others: Any) -> _Declared:
    """An instance of ``declared`` from the parsed values of its ``flag`` fields (plus ``others``).

    Fields without a flag keep their default unless given in ``others``.
    """
    values = {
        field.name: _value(field, getattr(args, field.name))
        for field in dataclasses.fields(declared)
        if _FLAG in field.metadata
    }
    return declared(**values, **others)


def _value(field: dataclasses.Field[Any], parsed: Any) -> Any:
    """A repeatable flag's uses as a tuple (its field's default when never used)."""
    if isinstance(field.default, tuple):
        return field.default if parsed is None else tuple(parsed)
    return parsed


def add_common_flags(parser: argparse.ArgumentParser) -> None:
    """Register the flags shared by every controller on ``parser``."""
    add_flags(parser, Options)


def from_args(args: argparse.Namespace) -> Options:
    """The common ``Options`` from parsed arguments (and the pod's environment)."""
    return parsed(
        Options,
        args,
        runtime_namespace=os.environ.get("RUNTIME_NAMESPACE", ""),
        instance=os.environ.get("POD_NAME", socket.gethostname()),
    )


def split_addr(addr: str) -> tuple[str, int]:
    """``(host, port)`` of a Go-style listen address (``:8080`` means every interface)."""
    host, _, port = addr.rpartition(":")
    if not port.isdigit():
        raise ValueError(f"invalid listen address {addr!r}: want [host]:port")
    return host or "0.0.0.0", int(port)
