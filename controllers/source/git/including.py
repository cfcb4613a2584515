"""Copying included GitRepositories' artifacts into a checkout (``spec.include``).

Contract: ``apply`` extracts each included artifact (a tar.gz in local
storage) with ``shared.artifacts.extracting`` into a private temp directory,
then copies ``fromPath`` (default: the artifact root) to ``toPath`` (default:
the included repository's name) inside the checkout, merging with and
overwriting what is there. Paths from the spec are taken relative to their
root (a leading ``/`` is ignored, as Flux's SecureJoin does) and must stay
inside it, also after following symlinks: otherwise ``errors.IllegalPathError``
(NB: SecureJoin would silently clamp ``..`` to the root; refusing is clearer).
A missing ``fromPath`` or an unreadable artifact is ``errors.CopyError``.
Blocking work runs in a thread.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import pathlib
import posixpath
import shutil
import tempfile
from collections.abc import Sequence

from controllers.source.git import errors
from shared.api import meta, source
from shared.artifacts import errors as artifact_errors
from shared.artifacts import extracting


@dataclasses.dataclass(frozen=True)
class IncludedArtifact:
    """One ``spec.include`` entry with the included object's current artifact."""

    include: source.GitRepositoryInclude
    artifact: meta.Artifact
    archive: pathlib.Path
    """The artifact's file in local storage."""


def safe_join(root: pathlib.Path, path: str, *, what: str) -> pathlib.Path:
    """``root/path`` when it stays inside ``root`` (symlinks resolved), else IllegalPathError."""
    normalized = posixpath.normpath(path.replace("\\", "/").lstrip("/") or ".")
    if "\0" in path or normalized == ".." or normalized.startswith("../"):
        raise errors.IllegalPathError(f"{what} {path!r} leaves its root")
    joined = root / normalized if normalized not in ("", ".") else root
    real_root = os.path.realpath(root)
    real = os.path.realpath(joined)
    if real != real_root and not real.startswith(real_root + os.sep):
        raise errors.IllegalPathError(f"{what} {path!r} resolves outside its root")
    return joined


def _copy_one(dest: pathlib.Path, included: IncludedArtifact) -> None:
    include = included.include
    name = include.repository.name
    scratch = pathlib.Path(tempfile.mkdtemp(prefix="headwater-include-"))
    try:
        tree = scratch / "tree"
        try:
            extracting.extract(included.archive, tree)
        except artifact_errors.ArtifactError as exc:
            raise errors.CopyError(f"cannot read the artifact of included {name!r}: {exc}") from exc
        origin = safe_join(tree, include.from_path or "", what=f"include {name!r} fromPath")
        target = safe_join(dest, include.to_path or name, what=f"include {name!r} toPath")
        if not origin.exists():
            raise errors.CopyError(
                f"fromPath {include.from_path!r} does not exist in the artifact of {name!r}"
            )
        try:
            if origin.is_dir():
                shutil.copytree(origin, target, symlinks=True, dirs_exist_ok=True)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(origin, target, follow_symlinks=False)
        except OSError as exc:
            raise errors.CopyError(f"copying included {name!r} failed: {exc}") from exc
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _apply_sync(dest: pathlib.Path, includes: Sequence[IncludedArtifact]) -> None:
    for included in includes:
        _copy_one(dest, included)


async def apply(dest: pathlib.Path, includes: Sequence[IncludedArtifact]) -> None:
    """Copy every included artifact into the checkout at ``dest``, in spec order."""
    if includes:
        await asyncio.to_thread(_apply_sync, dest, includes)
