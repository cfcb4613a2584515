"""What every cluster verb shares: kubeconfig flags, the API client, errors.

``common`` is the parent parser of every verb that talks to the cluster:
``--kubeconfig``, ``--context`` (read as kubectl reads them, with
``KUBECONFIG``), ``-n/--namespace`` (default ``flux-system``, as Flux) and
``--timeout``. ``run`` connects, runs the verb's coroutine and turns every
failure into one ``✗`` line on stderr and exit code 1 (``CliError`` may pick
another code); the verb's own result is its exit code.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
from collections.abc import Awaitable, Callable
from typing import Any

from headwater.cli import terminal
from shared.kube import client, errors

DEFAULT_NAMESPACE = "flux-system"


class CliError(Exception):
    """A failure a verb reports as one line (its message says what to do)."""

    def __init__(self, message: str, *, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def duration(text: str) -> float:
    """Seconds of a Go duration (``90s``, ``5m``, ``1h30m``) as Flux's flags take them."""
    units = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise argparse.ArgumentTypeError(f"invalid duration {text!r} (examples: 30s, 5m, 1h)")
    return sum(float(number) * units[unit] for number, unit in parts)


def go_duration(seconds: float) -> str:
    """``seconds`` as Go's ``time.Duration`` prints it (``1m0s``, ``1h30m0s``, ``500ms``).

    Flux's objects carry durations in that form (``flux create`` parses the
    flag and prints the ``metav1.Duration``), so exported YAML matches its.
    """
    if seconds == 0:
        return "0s"
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{secs:.9f}".rstrip("0").rstrip(".") + "s"
    if hours or minutes:
        text = f"{int(minutes)}m{text}"
    if hours:
        text = f"{int(hours)}h{text}"
    return text


def go_duration_flag(text: str) -> str:
    """An argparse type: a duration flag, kept in Go's form (see ``go_duration``)."""
    return go_duration(duration(text))


def common() -> argparse.ArgumentParser:
    """The flags every cluster verb takes (a parent parser)."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--kubeconfig", help="path to the kubeconfig file (default: $KUBECONFIG)")
    parser.add_argument("--context", help="the kubeconfig context to use")
    parser.add_argument(
        "-n",
        "--namespace",
        default=DEFAULT_NAMESPACE,
        help=f"the namespace scope (default {DEFAULT_NAMESPACE})",
    )
    parser.add_argument(
        "--timeout",
        type=duration,
        default=300.0,
        help="how long to wait for an operation, as a duration (default 5m)",
    )
    return parser


Verb = Callable[[client.Client, argparse.Namespace], Awaitable[int]]


def run(verb: Verb, args: argparse.Namespace) -> int:
    """Connect as the flags say, run ``verb`` under ``--timeout``, report failures."""

    path = args.kubeconfig or os.environ.get("KUBECONFIG", "").split(os.pathsep)[0]
    if path and not os.path.exists(path):
        terminal.failure(
            f"kubeconfig {path} not found; check --kubeconfig, --context or KUBECONFIG"
        )
        return 1

    async def main() -> int:
        async with client.connected(
            kubeconfig=args.kubeconfig, context=args.context, user_agent="headwater-cli"
        ) as api:
            return await asyncio.wait_for(verb(api, args), timeout=args.timeout)

    try:
        return asyncio.run(main())
    except CliError as failure:
        terminal.failure(str(failure))
        return failure.code
    except TimeoutError:
        terminal.failure(
            f"timed out after {args.timeout:g}s; raise --timeout or check the controllers' logs"
        )
        return 1
    except errors.UnreachableError as error:
        terminal.failure(f"{error}; check --kubeconfig, --context or KUBECONFIG")
        return 1
    except errors.KubeError as error:
        terminal.failure(str(error))
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0  # the reader (``| head``) stopped reading


def condition(obj: dict[str, Any], kind: str) -> dict[str, Any] | None:
    """The status condition of type ``kind``, or None."""
    for cond in (obj.get("status") or {}).get("conditions") or ():
        if cond.get("type") == kind:
            return dict(cond)
    return None
