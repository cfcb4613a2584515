"""Regenerate the fixtures: ``python -m tests.devcluster.serializers.protobodies.capture``.

Starts a devcluster and, in front of it, a recording proxy on 127.0.0.1 that
saves every protobuf request body before forwarding it unchanged; then runs
each command of ``COMMANDS`` (``kubectl create …``, ``kubectl autoscale
…`` or ``kubectl auth …``) with the real kubectl through the proxy (saving
``<name>.pb``) and again with ``--dry-run=client -o json`` (saving
``<name>.json``). A command whose create is refused is still captured: the
body is what kubectl sent, whatever the server answered.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import pathlib
import subprocess
import tempfile
from typing import Any

import aiohttp
from aiohttp import web

from tests.fixtures import devcluster as fixtures

HERE = pathlib.Path(__file__).resolve().parent
NAMESPACE = "default"


@dataclasses.dataclass(frozen=True)
class Command:
    """One capture: ``args`` after ``kubectl <verb>``; ``client_json`` when it has a dry run."""

    name: str
    args: tuple[str, ...]
    client_json: bool = True
    verb: str = "create"


# Objects the captured commands refer to, created first from JSON (not captured).
SETUP: tuple[dict[str, object], ...] = (
    {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "robot"}},
    {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "nightly"},
        "spec": {
            "schedule": "0 3 * * *",
            "jobTemplate": {
                "spec": {
                    "template": {
                        "spec": {
                            "containers": [
                                {"name": "backup", "image": "busybox:1.36", "args": ["true"]}
                            ],
                            "restartPolicy": "OnFailure",
                        }
                    }
                }
            },
        },
    },
    {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
            },
        },
    },
)

COMMANDS: tuple[Command, ...] = (
    Command(
        "clusterrole",
        ("clusterrole", "reader", "--verb=get,list", "--resource=pods,deployments.apps",
         "--resource-name=web"),
    ),
    Command(
        "clusterrole-nonresource",
        ("clusterrole", "logs", "--verb=get", "--non-resource-url=/logs/*",
         "--non-resource-url=/healthz"),
    ),
    Command(
        "clusterrole-aggregation",
        ("clusterrole", "aggregate", "--aggregation-rule=rbac.example.com/aggregate-to=true"),
    ),
    Command(
        "clusterrolebinding",
        ("clusterrolebinding", "readers", "--clusterrole=reader", "--user=alice",
         "--group=devs", "--serviceaccount=default:robot"),
    ),
    Command(
        "cronjob",
        ("cronjob", "hourly", "--image=busybox:1.36", "--schedule=*/5 * * * *",
         "--restart=OnFailure", "--", "sh", "-c", "echo hi"),
    ),
    Command("job-from-cronjob", ("job", "manual", "--from=cronjob/nightly")),
    Command(
        "ingress",
        ("ingress", "web", "--class=nginx", "--rule=foo.com/bar=svc1:8080,tls=foo-cert",
         "--rule=bar.com/*=svc2:http", "--default-backend=fallback:80",
         "--annotation=example.com/owner=team"),
    ),
    Command(
        "poddisruptionbudget-min",
        ("poddisruptionbudget", "web-min", "--selector=app=web", "--min-available=50%"),
    ),
    Command(
        "poddisruptionbudget-max",
        ("poddisruptionbudget", "web-max", "--selector=app=web,tier in (a,b)",
         "--max-unavailable=1"),
    ),
    Command(
        "priorityclass",
        ("priorityclass", "high", "--value=1000", "--description=for the important ones",
         "--preemption-policy=Never"),
    ),
    Command("priorityclass-default", ("priorityclass", "base", "--value=0", "--global-default")),
    Command(
        "quota",
        ("quota", "compute", "--hard=cpu=1500m,memory=1Gi,pods=4,services.loadbalancers=0"),
    ),
    Command(
        "quota-scopes", ("quota", "best", "--hard=pods=2", "--scopes=BestEffort,NotTerminating")
    ),
    Command(
        "role",
        ("role", "reader", "--verb=get,list,watch", "--resource=pods,configmaps,pods/log"),
    ),
    Command(
        "role-resource-names",
        ("role", "one-secret", "--verb=get", "--resource=secrets", "--resource-name=one",
         "--resource-name=two"),
    ),
    Command(
        "rolebinding",
        ("rolebinding", "readers", "--role=reader", "--user=alice", "--group=devs",
         "--serviceaccount=default:robot"),
    ),
    Command("rolebinding-clusterrole", ("rolebinding", "viewers", "--clusterrole=view",
                                        "--user=bob")),
    Command("token", ("token", "robot"), client_json=False),
    Command(
        "token-bound",
        ("token", "robot", "--duration=20m", "--audience=api", "--audience=vault",
         "--bound-object-kind=Secret", "--bound-object-name=robot-key",
         "--bound-object-uid=0b6e8f2c-1111-4222-8333-444455556666"),
        client_json=False,
    ),
    Command(
        "hpa-cpu-percent",
        ("deployment/web", "--min=1", "--max=3", "--cpu-percent=80"),
        verb="autoscale",
    ),
    Command(
        "hpa-quantities",
        ("deployment/web", "--name=web-q", "--max=5", "--cpu=500m", "--memory=70%"),
        verb="autoscale",
    ),
    Command("can-i", ("can-i", "create", "deployments"), client_json=False, verb="auth"),
    Command(
        "can-i-subresource",
        ("can-i", "get", "pods/web", "--subresource=log"),
        client_json=False,
        verb="auth",
    ),
    Command(
        "can-i-all-namespaces",
        ("can-i", "list", "secrets", "--all-namespaces"),
        client_json=False,
        verb="auth",
    ),
    Command("can-i-nonresource", ("can-i", "get", "/logs"), client_json=False, verb="auth"),
    Command("can-i-list", ("can-i", "--list"), client_json=False, verb="auth"),
    Command("whoami", ("whoami",), client_json=False, verb="auth"),
)  # fmt: skip


async def _record(request: web.Request, *, upstream: str, sink: list[bytes]) -> web.Response:
    body = await request.read()
    if body and "protobuf" in request.headers.get("Content-Type", ""):
        sink.append(body)
    skip = {"host", "content-length", "transfer-encoding"}
    headers = {k: v for k, v in request.headers.items() if k.lower() not in skip}
    async with (
        aiohttp.ClientSession(auto_decompress=False) as session,
        session.request(
            request.method, upstream + request.path_qs, data=body, headers=headers
        ) as answer,
    ):
        data = await answer.read()
        hop = {"content-length", "transfer-encoding", "connection"}
        kept = {k: v for k, v in answer.headers.items() if k.lower() not in hop}
        return web.Response(status=answer.status, body=data, headers=kept)


async def _kubectl(
    kubeconfig: pathlib.Path, cache: pathlib.Path, *args: str, stdin: bytes | None = None
) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        str(fixtures.KUBECTL), "--kubeconfig", str(kubeconfig), "--cache-dir", str(cache),
        "-n", NAMESPACE, *args,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={**os.environ, "KUBECACHEDIR": str(cache)},
    )  # fmt: skip
    out, err = await process.communicate(stdin)
    # NB: stdout alone: kubectl prints deprecation warnings (--cpu-percent) on stderr.
    return int(process.returncode or 0), out.decode(), err.decode()


async def capture(
    directory: pathlib.Path, *, base_url: str, kubeconfig: pathlib.Path, proxied: pathlib.Path
) -> dict[str, tuple[bytes, Any]]:
    """Run ``COMMANDS`` through a recording proxy: name → (body, client JSON or None).

    ``proxied`` is written as a copy of ``kubeconfig`` that points at the proxy.
    """
    sink: list[bytes] = []
    captured: dict[str, tuple[bytes, Any]] = {}

    async def handle(request: web.Request) -> web.Response:
        return await _record(request, upstream=base_url, sink=sink)

    app = web.Application(client_max_size=16 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = fixtures.free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        text = await asyncio.to_thread(kubeconfig.read_text)
        await asyncio.to_thread(
            proxied.write_text, text.replace(base_url, f"http://127.0.0.1:{port}")
        )
        cache = directory / "cache"
        for obj in SETUP:
            code, _, err = await _kubectl(
                kubeconfig, cache, "create", "-f", "-", stdin=json.dumps(obj).encode()
            )
            if code:
                raise RuntimeError(f"setup failed: {err}")
        for command in COMMANDS:
            printed: Any = None
            if command.client_json:
                # NB: the flags go right after the subcommand: anything after a
                # "--" in the arguments is the container's command.
                subcommand, *rest = command.args
                code, text, err = await _kubectl(
                    kubeconfig, cache, command.verb, subcommand, "--dry-run=client", "-o", "json",
                    *rest,
                )  # fmt: skip
                if code:
                    raise RuntimeError(f"{command.name}: client dry run failed: {err}")
                printed = json.loads(text)
            sink.clear()
            code, text, err = await _kubectl(proxied, cache, command.verb, *command.args)
            print(f"{command.name}: exit {code}: {(text + err).strip()}")
            if len(sink) != 1:
                raise RuntimeError(f"{command.name}: {len(sink)} protobuf bodies, expected 1")
            captured[command.name] = (sink[0], printed)
    finally:
        await runner.cleanup()
    return captured


def main() -> None:
    with (
        tempfile.TemporaryDirectory(prefix="headwater-capture-") as temp,
        fixtures.start_devcluster(pathlib.Path(temp)) as cluster,
    ):
        directory = pathlib.Path(temp)
        captured = asyncio.run(
            capture(
                directory,
                base_url=cluster.base_url,
                kubeconfig=cluster.kubeconfig,
                proxied=directory / "kubeconfig-proxy",
            )
        )
    for name, (body, printed) in captured.items():
        (HERE / f"{name}.pb").write_bytes(body)
        if printed is not None:
            (HERE / f"{name}.json").write_text(json.dumps(printed, indent=2) + "\n")


if __name__ == "__main__":
    main()
