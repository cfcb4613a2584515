"""Where a directory's kustomization file is, by the names kustomize accepts, in its order."""

from __future__ import annotations

import pathlib

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")


def kustomization_file(directory: pathlib.Path) -> pathlib.Path | None:
    """The kustomization file of ``directory``, None when it has none."""
    for name in KUSTOMIZATION_FILES:
        candidate = directory / name
        if candidate.is_file():
            return candidate
    return None
