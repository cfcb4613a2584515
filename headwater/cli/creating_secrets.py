"""``create secret git|helm|oci|tls``: the Secrets Flux's sources read, as Flux writes them.

- ``git``: ``username``/``password``, ``bearerToken`` (not with the first
  two), or an SSH ``identity`` (and ``identity.pub`` beside the key file),
  plus ``ca.crt``; no ``type`` (the API server makes it Opaque), as Flux.
- ``helm``: a client certificate makes a ``kubernetes.io/tls`` Secret
  (``tls.crt``, ``tls.key``, and ``ca.crt``); else a username and password a
  ``kubernetes.io/basic-auth`` one (and ``ca.crt``); else a CA alone an
  Opaque one with ``ca.crt``. ``create source helm`` makes ``helm-<name>``
  the same way.
- ``oci``: a ``kubernetes.io/dockerconfigjson`` Secret for one registry,
  its JSON indented as Flux prints it.
- ``tls``: ``tls.crt``/``tls.key`` (``kubernetes.io/tls``) and ``ca.crt``.
"""

from __future__ import annotations

import argparse
import base64
import json
import pathlib
from typing import Any

from headwater.cli import creatingkit, session

TLS = "kubernetes.io/tls"
BASIC_AUTH = "kubernetes.io/basic-auth"
DOCKER_CONFIG = "kubernetes.io/dockerconfigjson"


def _read(path: str | None) -> str:
    return pathlib.Path(path).read_text() if path else ""


def git(args: argparse.Namespace) -> dict[str, Any]:
    """The Secret ``flux create secret git`` makes: basic auth, a token or an SSH key."""
    data: dict[str, str] = {}
    if args.username or args.password:
        if not (args.username and args.password):
            raise session.CliError("--username and --password go together; give both")
        if args.bearer_token:
            raise session.CliError("user credentials and bearer token cannot be used together")
        data.update(username=args.username, password=args.password)
    if args.bearer_token:
        data["bearerToken"] = args.bearer_token
    if args.private_key_file:
        data["identity"] = _read(args.private_key_file)
        public = pathlib.Path(args.private_key_file + ".pub")
        if public.exists():
            data["identity.pub"] = public.read_text()
    if args.ca_crt_file:
        data["ca.crt"] = _read(args.ca_crt_file)
    if not data:
        raise session.CliError(
            "no credentials: give --username and --password, --bearer-token or --private-key-file"
        )
    return creatingkit.secret(args, args.name, data)


def helm(
    args: argparse.Namespace,
    name: str,
    *,
    username: str | None,
    password: str | None,
    ca_file: str | None,
    cert_file: str | None,
    key_file: str | None,
) -> dict[str, Any]:
    """A Helm repository's Secret ``name`` as Flux makes it (see the module docstring)."""
    ca = {"ca.crt": _read(ca_file)} if ca_file else {}
    if cert_file or key_file:
        pair = {"tls.crt": _read(cert_file), "tls.key": _read(key_file)}
        return creatingkit.secret(args, name, {**ca, **pair}, type_=TLS)
    if username or password:
        basic = {"username": username or "", "password": password or ""}
        return creatingkit.secret(args, name, {**basic, **ca}, type_=BASIC_AUTH)
    return creatingkit.secret(args, name, ca)


def _helm(args: argparse.Namespace) -> dict[str, Any]:
    return helm(
        args,
        args.name,
        username=args.username,
        password=args.password,
        ca_file=args.ca_crt_file,
        cert_file=args.tls_crt_file,
        key_file=args.tls_key_file,
    )


def oci(args: argparse.Namespace) -> dict[str, Any]:
    """The image pull Secret ``flux create secret oci`` makes for ``--url``."""
    if not args.url:
        raise session.CliError("--url is required")
    if not (args.username and args.password):
        raise session.CliError("--username and --password are required")
    registry = args.url.removeprefix("oci://").split("/", 1)[0]
    auth = base64.b64encode(f"{args.username}:{args.password}".encode()).decode()
    entry = {"username": args.username, "password": args.password, "auth": auth}
    config = json.dumps({"auths": {registry: entry}}, indent=2)
    return creatingkit.secret(args, args.name, {".dockerconfigjson": config}, type_=DOCKER_CONFIG)


def tls(args: argparse.Namespace) -> dict[str, Any]:
    """The Secret ``flux create secret tls`` makes: a key pair and a CA."""
    if bool(args.tls_crt_file) != bool(args.tls_key_file):
        raise session.CliError("--tls-crt-file and --tls-key-file go together; give both")
    if not (args.tls_crt_file or args.ca_crt_file):
        raise session.CliError("give --tls-crt-file and --tls-key-file, or --ca-crt-file")
    data = {"ca.crt": _read(args.ca_crt_file)} if args.ca_crt_file else {}
    if args.tls_crt_file:
        data.update({"tls.crt": _read(args.tls_crt_file), "tls.key": _read(args.tls_key_file)})
        return creatingkit.secret(args, args.name, data, type_=TLS)
    return creatingkit.secret(args, args.name, data)


def _tls_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tls-crt-file", help="the TLS client certificate file (PEM)")
    parser.add_argument("--tls-key-file", help="the TLS client key file (PEM)")
    parser.add_argument("--ca-crt-file", help="a CA certificate file (PEM)")


def register(
    secret: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
) -> None:
    git_parser = secret.add_parser("git", parents=[common], help="Git credentials")
    creatingkit.common_flags(git_parser, git)
    git_parser.add_argument("--url", help="the Git repository URL (for the record)")
    git_parser.add_argument("-u", "--username", help="the basic-auth username")
    git_parser.add_argument("-p", "--password", help="the basic-auth password")
    git_parser.add_argument("--bearer-token", help="a bearer token")
    git_parser.add_argument("--private-key-file", help="an SSH private key file")
    git_parser.add_argument("--ca-crt-file", help="a CA certificate file (PEM)")

    helm_parser = secret.add_parser("helm", parents=[common], help="Helm repository credentials")
    creatingkit.common_flags(helm_parser, _helm)
    helm_parser.add_argument("-u", "--username", help="the basic-auth username")
    helm_parser.add_argument("-p", "--password", help="the basic-auth password")
    _tls_flags(helm_parser)

    oci_parser = secret.add_parser("oci", parents=[common], help="OCI registry credentials")
    creatingkit.common_flags(oci_parser, oci)
    oci_parser.add_argument("--url", help="the registry, e.g. ghcr.io/stefanprodan/charts")
    oci_parser.add_argument("-u", "--username", help="the registry username")
    oci_parser.add_argument("-p", "--password", help="the registry password")

    tls_parser = secret.add_parser("tls", parents=[common], help="TLS certificates")
    creatingkit.common_flags(tls_parser, tls)
    _tls_flags(tls_parser)
