"""``version``: the client's version and the controllers' found in the cluster.

As ``flux version``: ``headwater: v<version>`` first, then one line per
controller Deployment in the namespace that carries
``app.kubernetes.io/part-of: headwater``, ``<deployment>: <image tag>``, as
YAML (default) or JSON (``-o json``). Flux names each line after the image;
Headwater's controllers share one image, so the Deployment names them. An
image pinned by digest shows the digest, one with neither tag nor digest
``latest`` (what a registry serves). ``--client`` skips the cluster; no
controller found is an error (exit code 1), as in Flux. ``--apis`` adds the
Flux API versions this client implements (a Headwater addition).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import sys
from typing import Any

import yaml

from headwater.cli import manifests, session
from shared.api import registry
from shared.kube import client, resources

_DEPLOYMENTS = resources.Resource(
    group="apps", version="v1", kind="Deployment", plural="deployments", namespaced=True
)


def client_version() -> str:
    """``v`` and the installed package's version (``unknown`` outside an installation)."""
    try:
        return "v" + importlib.metadata.version("headwater")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def image_version(image: str) -> str:
    """The tag (or digest) of an image reference; ``latest`` when it names neither."""
    if "@" in image:
        return image.split("@", 1)[1]
    last = image.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else "latest"


def _apis() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for kind in registry.all_kinds():
        found.setdefault(kind.crd.api_version, []).append(kind.crd.kind)
    return dict(sorted(found.items()))


def _print(info: dict[str, Any], output: str) -> None:
    if output == "json":
        json.dump(info, sys.stdout, indent=2)
        print()
    else:
        sys.stdout.write(yaml.safe_dump(info, sort_keys=False, default_flow_style=False))


async def _controllers(api: client.Client, namespace: str) -> dict[str, str]:
    listing = await api.request(
        "GET",
        _DEPLOYMENTS.path(namespace=namespace),
        query={"labelSelector": f"{manifests.PART_OF_LABEL}={manifests.PART_OF}"},
    )
    found: dict[str, str] = {}
    for deployment in sorted(listing.get("items") or [], key=lambda d: d["metadata"]["name"]):
        for container in deployment["spec"]["template"]["spec"].get("containers") or []:
            found[deployment["metadata"]["name"]] = image_version(str(container.get("image", "")))
    if not found:
        raise session.CliError(
            f"no deployments found in {namespace} namespace; "
            "see: headwater install, or pass --client"
        )
    return found


def _info(args: argparse.Namespace) -> dict[str, Any]:
    info: dict[str, Any] = {"headwater": client_version()}
    if args.apis:
        info["apis"] = _apis()
    return info


async def _version(api: client.Client, args: argparse.Namespace) -> int:
    info = _info(args)
    info.update(await _controllers(api, args.namespace))
    _print(info, args.output)
    return 0


def _run(args: argparse.Namespace) -> int:
    if args.client:
        _print(_info(args), args.output)
        return 0
    return session.run(_version, args)


def register(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
) -> None:
    version = commands.add_parser(
        "version", parents=[common], help="print the client's and the controllers' versions"
    )
    version.add_argument("--client", action="store_true", help="only the client's version")
    version.add_argument(
        "-o", "--output", choices=("yaml", "json"), default="yaml", help="the output format"
    )
    version.add_argument(
        "--apis", action="store_true", help="also the Flux API versions the client implements"
    )
    version.set_defaults(run=_run)
