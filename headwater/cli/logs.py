"""``headwater logs``: the controllers' log lines about one kind, name or namespace.

In a cluster the lines come from the controller pods in
``--flux-namespace`` (through the API's ``pods/log``); with ``headwater
dev`` (no controller pod, and ``STATE_DIR/logs`` present) from its log
files. Both encodings are read: JSON lines (Flux's fields ``level``, ``ts``,
``msg``, ``controllerKind``, ``name``, ``namespace``) are printed as
``TS LEVEL Kind/name.namespace - msg``; console lines as they are.
``--level error`` keeps errors only; ``--level info`` hides debug lines.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pathlib
import re
from collections.abc import AsyncIterator, Iterable
from typing import Any

from headwater.cli import checking, session, terminal
from shared.kube import client

_CONSOLE_LEVEL = re.compile(r"\[\s*(\w+)\s*\]")
_CONSOLE_FIELD = re.compile(r"(?:^|\s)(\w+)=('[^']*'|\"[^\"]*\"|\S+)")
_RANK = {"trace": 0, "debug": 1, "info": 2, "warning": 3, "error": 4}


def parse(line: str) -> dict[str, Any]:
    """The fields of one log line (JSON or console); ``text`` is how to print it."""
    try:
        record = json.loads(line)
    except ValueError:
        record = None
    if isinstance(record, dict):
        kind = record.get("controllerKind", "")
        where = f"{kind}/{record.get('name', '')}.{record.get('namespace', '')}" if kind else "-"
        text = f"{record.get('ts', '')} {record.get('level', '')} {where} - {record.get('msg', '')}"
        if record.get("error"):
            text += f": {record['error']}"
        return {**record, "text": text}
    fields = {key: value.strip("'\"") for key, value in _CONSOLE_FIELD.findall(line)}
    level = _CONSOLE_LEVEL.search(line)
    return {**fields, "level": level[1].lower() if level else "info", "text": line}


def wanted(record: dict[str, Any], args: argparse.Namespace) -> bool:
    """Whether a parsed line passes the --kind, --name, -n/-A and --level filters."""
    if args.kind and str(record.get("controllerKind", "")).lower() != args.kind.lower():
        return False
    if args.name and record.get("name") != args.name:
        return False
    if not args.all_namespaces and record.get("namespace") != args.namespace:
        return False
    if args.level:
        return _RANK.get(str(record.get("level", "info")), 2) >= _RANK[args.level]
    return True


def _print(lines: Iterable[str], args: argparse.Namespace) -> None:
    for line in lines:
        record = parse(line)
        if wanted(record, args):
            print(record["text"], flush=True)


async def _follow_file(path: pathlib.Path) -> AsyncIterator[str]:
    with path.open(errors="replace") as stream:
        stream.seek(0, os.SEEK_END)
        while True:
            line = stream.readline()
            if line:
                yield line.rstrip("\n")
            else:
                await asyncio.sleep(0.5)


def _local(args: argparse.Namespace) -> int:
    files = sorted(pathlib.Path(args.state_dir, "logs").glob("*controller*.log"))
    if not files:
        terminal.failure(
            f"no controller logs in {args.state_dir}/logs; is `headwater dev up` running?"
        )
        return 1
    for path in files:
        lines = path.read_text(errors="replace").splitlines()
        _print(lines[-args.tail :] if args.tail >= 0 else lines, args)
    if args.follow:

        async def follow() -> None:
            async def one(path: pathlib.Path) -> None:
                async for line in _follow_file(path):
                    _print([line], args)

            await asyncio.gather(*(one(path) for path in files))

        try:
            asyncio.run(follow())
        except KeyboardInterrupt:
            return 130
    return 0


async def _pods(api: client.Client, args: argparse.Namespace) -> int:
    listing = await api.request("GET", f"/api/v1/namespaces/{args.flux_namespace}/pods")
    pods = [
        pod
        for pod in listing.get("items") or []
        if (pod["metadata"].get("labels") or {}).get("app") in checking.CONTROLLERS
    ]
    if not pods:
        raise NoPodsError(args.flux_namespace)
    query = {"container": "manager"}
    if args.tail >= 0:
        query["tailLines"] = str(args.tail)
    if args.follow:
        query["follow"] = "true"

    async def one(pod: dict[str, Any]) -> None:
        path = f"/api/v1/namespaces/{args.flux_namespace}/pods/{pod['metadata']['name']}/log"
        async for line in api.lines(path, query=query, accept="*/*"):
            _print([line], args)

    await asyncio.gather(*(one(pod) for pod in pods))
    return 0


class NoPodsError(Exception):
    """No controller pod runs in the namespace (the controllers may run locally)."""


def _run(args: argparse.Namespace) -> int:
    local = pathlib.Path(args.state_dir, "logs").is_dir()
    configured = args.kubeconfig or args.context or os.environ.get("KUBECONFIG")
    if local and not configured:
        return _local(args)
    if args.follow:
        args.timeout = None  # following ends with Ctrl-C, not a timeout
    try:
        return session.run(_pods, args)
    except NoPodsError:
        if local:
            return _local(args)
        terminal.failure(
            f"no controller pods in {args.flux_namespace} namespace; "
            "give --flux-namespace, or run `headwater dev up` for local logs"
        )
        return 1


def register(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
) -> None:
    logs = commands.add_parser("logs", parents=[common], help="print the controllers' logs")
    logs.add_argument("--kind", help="only lines about this kind (e.g. Kustomization)")
    logs.add_argument("--name", help="only lines about objects of this name")
    logs.add_argument("-A", "--all-namespaces", action="store_true", help="objects anywhere")
    logs.add_argument("--level", choices=("debug", "info", "error"), help="the lowest level shown")
    logs.add_argument("--tail", type=int, default=-1, help="the last N lines of each log")
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    logs.add_argument(
        "--flux-namespace", default=session.DEFAULT_NAMESPACE, help="where the controllers run"
    )
    logs.add_argument(
        "--state-dir", default=".headwater", help="headwater dev's directory (local logs)"
    )
    logs.set_defaults(run=_run)
