"""``headwater artifact push|pull|tag|list``: Flux's OCI artifacts, without another tool.

``push oci://host/repo:tag --path DIR|FILE --source URL --revision REV``
archives the directory (or the one file) as a tar+gzip layer of media type
``application/vnd.cncf.flux.content.v1.tar+gzip`` with the config
``application/vnd.cncf.flux.config.v1+json``, and annotates the manifest
with ``org.opencontainers.image.source``, ``.revision`` and ``.created`` —
what ``flux push artifact`` writes and an OCIRepository reads. ``pull``
extracts the Flux content layer (else the first layer) into ``--output``;
``tag`` points another tag at an artifact; ``list`` prints each tag with its
digest, source and revision.

Credentials come from ``--creds user:password``, else from Docker's
``config.json`` (``$DOCKER_CONFIG`` or ``~/.docker``); ``--insecure`` speaks
plain HTTP (a local registry). Every registry operation goes through
``shared.oci``; a failure prints one line and exits 1.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import pathlib
import shutil
import sys
import tempfile
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from shared.artifacts import archiving, extracting
from shared.artifacts import errors as artifact_errors
from shared.oci import (
    client,
    credentials,
    errors,
    manifests,
    mediatypes,
    references,
    tokens,
    transport,
)

_EMPTY_CONFIG = b"{}"


def register(commands: Any) -> None:
    """Add ``artifact push|pull|tag|list`` to the ``headwater`` command's subparsers."""
    artifact = commands.add_parser("artifact", help="push, pull, tag and list OCI artifacts")
    actions = artifact.add_subparsers(dest="action", required=True, metavar="ACTION")
    push_parser = actions.add_parser("push", help="push a directory or file as a Flux artifact")
    push_parser.add_argument("url", help="oci://host/repository:tag")
    push_parser.add_argument("--path", required=True, help="the directory or file to push")
    push_parser.add_argument("--source", required=True, help="where the content comes from")
    push_parser.add_argument("--revision", required=True, help="its revision (e.g. main@sha1:…)")
    push_parser.set_defaults(run=_runner(push))
    pull_parser = actions.add_parser("pull", help="extract an artifact into a directory")
    pull_parser.add_argument("url", help="oci://host/repository:tag or @digest")
    pull_parser.add_argument("--output", "-o", required=True, help="the directory to fill")
    pull_parser.set_defaults(run=_runner(pull))
    tag_parser = actions.add_parser("tag", help="point more tags at an artifact")
    tag_parser.add_argument("url", help="oci://host/repository:tag or @digest")
    tag_parser.add_argument("--tag", "-t", action="append", required=True, help="a new tag")
    tag_parser.set_defaults(run=_runner(tag))
    list_parser = actions.add_parser("list", help="list a repository's artifacts")
    list_parser.add_argument("url", help="oci://host/repository")
    list_parser.set_defaults(run=_runner(list_artifacts))
    for parser in (push_parser, pull_parser, tag_parser, list_parser):
        parser.add_argument("--creds", default="", help="user:password for the registry")
        parser.add_argument("--insecure", action="store_true", help="plain HTTP (no TLS)")


Action = Callable[[client.Client, references.Reference, argparse.Namespace], Awaitable[None]]


def _runner(action: Action) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            reference = references.parse(args.url)
            asyncio.run(_with_client(action, reference, args))
        except (errors.RegistryError, artifact_errors.ArtifactError, OSError) as exc:
            print(f"headwater artifact {args.action}: {exc}", file=sys.stderr)
            return 1
        return 0

    return run


async def _with_client(
    action: Action, reference: references.Reference, args: argparse.Namespace
) -> None:
    connection = transport.Connection(
        host=reference.api_host,
        credentials=_credentials(args.creds, reference.host),
        plain_http=args.insecure,
    )
    async with aiohttp.ClientSession() as session:
        oci = client.Client(session, connection, token_cache=tokens.TokenCache())
        await action(oci, reference, args)


def _credentials(creds: str, host: str) -> credentials.Credentials | None:
    if creds:
        username, _, password = creds.partition(":")
        return credentials.Credentials(username=username, password=password)
    config = pathlib.Path(os.environ.get("DOCKER_CONFIG", "~/.docker")).expanduser() / "config.json"
    if not config.is_file():
        return None
    return credentials.from_dockerconfigjson(config.read_bytes(), host)


def _need_tag(reference: references.Reference) -> str:
    if not reference.tag:
        raise errors.InvalidReferenceError(f"'{reference}' needs a tag (oci://host/repo:tag)")
    return reference.tag


async def push(
    oci: client.Client, reference: references.Reference, args: argparse.Namespace
) -> None:
    """Archive ``--path`` and push it under the reference's tag; print the digest."""
    tag_name = _need_tag(reference)
    path = pathlib.Path(args.path)
    with tempfile.TemporaryDirectory(prefix="headwater-push-") as workdir:
        layer_file = pathlib.Path(workdir, "layer.tar.gz")
        await asyncio.to_thread(_archive, path, pathlib.Path(workdir, "tree"), layer_file)
        config = await oci.push_blob(
            reference.repository, _EMPTY_CONFIG, media_type=mediatypes.FLUX_CONFIG
        )
        layer = await oci.push_blob(
            reference.repository, layer_file, media_type=mediatypes.FLUX_CONTENT
        )
    created = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    manifest = manifests.image_manifest(
        config=config,
        layers=[layer],
        annotations={
            mediatypes.CREATED_ANNOTATION: created,
            mediatypes.SOURCE_ANNOTATION: args.source,
            mediatypes.REVISION_ANNOTATION: args.revision,
        },
    )
    pushed = await oci.push_manifest(
        reference.repository, tag_name, manifest, media_type=mediatypes.OCI_MANIFEST
    )
    print(f"pushed {reference.host}/{reference.repository}:{tag_name}@{pushed.digest}")


def _archive(path: pathlib.Path, tree: pathlib.Path, target: pathlib.Path) -> None:
    """The tar+gzip of a directory, or of a directory holding just the file ``path``."""
    if not path.exists():
        raise FileNotFoundError(f"--path {path} does not exist")
    if path.is_file():
        tree.mkdir()
        shutil.copy2(path, tree / path.name)
        path = tree
    with open(target, "wb") as stream:
        archiving.write_archive(path, stream)


async def pull(
    oci: client.Client, reference: references.Reference, args: argparse.Namespace
) -> None:
    """Extract the artifact's Flux content layer (else its first) into ``--output``."""
    manifest = await oci.get_manifest(reference.repository, reference.identifier)
    if manifest.is_index:
        raise errors.InvalidContentError(f"'{reference}' is an image index, not an artifact")
    layers = manifest.layers
    layer = next((lay for lay in layers if lay.media_type == mediatypes.FLUX_CONTENT), None)
    if layer is None and not layers:
        raise errors.InvalidContentError(f"'{reference}' has no layers")
    layer = layer or layers[0]
    limits = extracting.Limits()
    with tempfile.TemporaryDirectory(prefix="headwater-pull-") as workdir:
        blob = pathlib.Path(workdir, "layer")
        await oci.fetch_blob(
            reference.repository, layer.digest, blob, max_size=limits.max_download_size
        )
        result = await asyncio.to_thread(extracting.extract, blob, args.output, limits=limits)
    source = manifest.annotations.get(mediatypes.SOURCE_ANNOTATION, "")
    revision = manifest.annotations.get(mediatypes.REVISION_ANNOTATION, "")
    print(
        f"extracted {result.files} files of {reference} ({manifest.digest}) to {args.output}"
        + (f" (source {source}, revision {revision})" if source or revision else "")
    )


async def tag(
    oci: client.Client, reference: references.Reference, args: argparse.Namespace
) -> None:
    """Point each ``--tag`` at the artifact the reference names."""
    for new_tag in args.tag:
        tagged = await oci.tag(reference.repository, reference.identifier, new_tag)
        print(f"tagged {reference.host}/{reference.repository}:{new_tag}@{tagged.digest}")


async def list_artifacts(
    oci: client.Client, reference: references.Reference, args: argparse.Namespace
) -> None:
    """One line per tag: the reference, its digest, source and revision annotations."""
    del args
    rows = [("ARTIFACT", "DIGEST", "SOURCE", "REVISION")]
    for tag_name in sorted(await oci.list_tags(reference.repository)):
        manifest = await oci.get_manifest(reference.repository, tag_name)
        annotations = manifest.annotations
        rows.append(
            (
                f"{reference.host}/{reference.repository}:{tag_name}",
                manifest.digest,
                annotations.get(mediatypes.SOURCE_ANNOTATION, ""),
                annotations.get(mediatypes.REVISION_ANNOTATION, ""),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
