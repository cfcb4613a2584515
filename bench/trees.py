"""Synthetic GitOps-like source trees for benchmarks.

``make_tree`` writes ``files`` small YAML manifests (0.3-3 KiB each, random
but seeded, so a tree is the same on every run) spread over
``apps/<team>/<service>/`` directories, plus a few files the default ignore
rules exclude, the way a real repository has them.
"""

from __future__ import annotations

import pathlib
import random

TEAMS = 20
SERVICES_PER_TEAM = 25


def make_tree(root: pathlib.Path, *, files: int = 5000, seed: int = 1) -> pathlib.Path:
    """Create the tree under ``root`` (which must not exist) and return ``root``."""
    rng = random.Random(seed)
    root.mkdir(parents=True)
    for index in range(files):
        directory = (
            root
            / "apps"
            / f"team{index % TEAMS:02d}"
            / f"svc{(index // TEAMS) % SERVICES_PER_TEAM:02d}"
        )
        directory.mkdir(parents=True, exist_ok=True)
        lines = [
            "apiVersion: v1",
            "kind: ConfigMap",
            "metadata:",
            f"  name: config-{index:05d}",
            "data:",
        ]
        lines += [f"  key{n}: value-{rng.randint(0, 10**6)}" for n in range(rng.randint(10, 120))]
        (directory / f"res{index:05d}.yaml").write_text("\n".join(lines) + "\n")
    (root / "kustomization.yaml").write_text("resources:\n  - apps\n")
    (root / ".github" / "workflows").mkdir(parents=True)
    (root / ".github" / "workflows" / "ci.yaml").write_text("on: push\n")
    (root / "docs").mkdir()
    (root / "docs" / "diagram.png").write_bytes(rng.randbytes(4096))
    return root
