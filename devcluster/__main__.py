"""``python -m devcluster``: run the local Kubernetes-compatible API server.

Writes the kubeconfig once it accepts requests, then starts the controller
manager child process (unless ``--no-controllers``); on SIGTERM/SIGINT stops
that child and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import pathlib
import signal

from devcluster.auth import authorizing
from devcluster.machinery import logs
from devcluster.server import server


def parse_args(argv: list[str] | None = None) -> server.Settings:
    parser = argparse.ArgumentParser(prog="python -m devcluster", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=6443)
    parser.add_argument("--kubeconfig", type=pathlib.Path, required=True)
    parser.add_argument(
        "--data-dir", type=pathlib.Path, default=None, help="SQLite state (default: in memory)"
    )
    parser.add_argument("--tls", action="store_true", help="serve HTTPS with a bearer token")
    parser.add_argument(
        "--token", default=None, help="bearer token to require (default: random with --tls)"
    )
    parser.add_argument(
        "--simulate-delay",
        type=float,
        default=0.3,
        help="seconds until simulated workloads are ready",
    )
    parser.add_argument(
        "--no-controllers",
        action="store_true",
        help="do not start the controller manager (simulated kubelet, garbage collector)",
    )
    parser.add_argument(
        "--watch-history",
        type=int,
        default=20000,
        help="change events kept for watches (older ones get 410)",
    )
    parser.add_argument(
        "--authorization-mode",
        choices=authorizing.MODES,
        default="AlwaysAllow",
        help="AlwaysAllow (every request as the admin) or RBAC (Roles and bindings decide)",
    )
    args = parser.parse_args(argv)
    return server.Settings(
        host=args.host,
        port=args.port,
        kubeconfig=args.kubeconfig,
        data_dir=args.data_dir,
        tls=args.tls,
        simulate_delay=args.simulate_delay,
        token=args.token,
        controllers=not args.no_controllers,
        watch_history=args.watch_history,
        authorization_mode=args.authorization_mode,
    )


async def _main(settings: server.Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await server.run(settings, stop=stop)


def main(argv: list[str] | None = None) -> None:
    logs.configure()
    asyncio.run(_main(parse_args(argv)))


if __name__ == "__main__":
    main()
