"""image-reflector-controller: ``python -m controllers.image_reflector``.

Scans ImageRepositories into the tag store under ``--storage-path`` and
elects the latest tag of each ImagePolicy from it. An ImagePolicy is
reconciled again as soon as its ImageRepository records a new scan result.
Takes the common controller flags too (see ``shared.runtime.options``).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import functools
import os
import sys
from collections.abc import Sequence
from typing import Any

import aiohttp

from controllers.image_reflector import access, imagepolicy, imagerepository, tagstore
from shared.api import image
from shared.oci import tokens
from shared.runtime import informers, logging, manager, options, scratch

CONTROLLER_NAME = "image-reflector-controller"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Flags:
    """image-reflector-controller's own flags (the common ones are ``options.Options``)."""

    storage_path: str = options.flag(
        "the local directory the tag database is kept in", default="/data", env="STORAGE_PATH"
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=CONTROLLER_NAME, description=__doc__.splitlines()[0])
    options.add_common_flags(parser)
    options.add_flags(parser, Flags)
    return parser.parse_args(argv)


async def run(args: argparse.Namespace) -> int:
    opts = options.from_args(args)
    flags = options.parsed(Flags, args)
    store = tagstore.TagStore(flags.storage_path)
    async with aiohttp.ClientSession() as session:
        return await manager.run_process(
            opts,
            name=CONTROLLER_NAME,
            setup=functools.partial(
                _setup, store=store, session=session, token_cache=tokens.TokenCache()
            ),
        )


async def _setup(
    mgr: manager.Manager,
    *,
    store: tagstore.TagStore,
    session: aiohttp.ClientSession,
    token_cache: tokens.TokenCache,
) -> None:
    registries = access.Registries(api=mgr.api, session=session, token_cache=token_cache)
    await mgr.add_controller(
        imagerepository.ImageRepositoryReconciler(registries=registries, store=store)
    )
    repositories = await mgr.informer(
        image.API_VERSION, "ImageRepository", scope=mgr.default_scope()
    )
    policy_informer = await mgr.informer(
        image.API_VERSION, "ImagePolicy", scope=mgr.default_scope()
    )
    policy_informer.add_index(imagepolicy.IMAGE_REPOSITORY_INDEX, imagepolicy.repository_key)
    policies = await mgr.add_controller(
        imagepolicy.ImagePolicyReconciler(
            registries=registries, store=store, repositories=repositories, recorder=mgr.recorder
        )
    )
    policies.watch(
        repositories,
        lambda obj: [
            informers.key_of(o)
            for o in policy_informer.by_index(
                imagepolicy.IMAGE_REPOSITORY_INDEX, informers.key_of(obj)
            )
        ],
        when=_scan_changed,
    )


def _scan_changed(_: str, new: dict[str, Any], old: dict[str, Any] | None) -> bool:
    def scanned(obj: dict[str, Any] | None) -> Any:
        return ((obj or {}).get("status") or {}).get("lastScanResult")

    return bool(scanned(new) != scanned(old))


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.configure(level=args.log_level, encoding=args.log_encoding)
    scratch.claim(CONTROLLER_NAME)
    os.makedirs(args.storage_path, exist_ok=True)
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
