"""The OCI registry of ``headwater dev up``: CNCF distribution, plain HTTP on 127.0.0.1.

Debian's ``docker-registry`` (``make setup`` installs it), serving anonymous
plain HTTP on the ``registry`` port with its blobs under the state
directory's ``registry/`` (kept between runs, emptied by ``--reset``): where
``headwater artifact push`` publishes manifests for OCIRepositories and CI
would push the images ImageRepositories scan. Objects reach it as
``127.0.0.1:<port>/<repository>`` with ``insecure: true``. When the binary
is missing, ``up`` runs without a registry and says so.
"""

from __future__ import annotations

import pathlib
import secrets
import shutil

BINARIES = ("docker-registry", "registry")


def binary() -> str | None:
    """The registry executable on PATH (or Debian's path), None when not installed."""
    for name in BINARIES:
        found = shutil.which(name) or shutil.which(name, path="/usr/bin")
        if found:
            return found
    return None


def command(executable: str, root: pathlib.Path, port: int) -> list[str]:
    """``serve`` with a configuration written under ``root`` (storage in ``root/storage``)."""
    root.mkdir(parents=True, exist_ok=True)
    config = root / "config.yml"
    config.write_text(
        "version: 0.1\n"
        "log:\n  level: warn\n  accesslog:\n    disabled: true\n"
        f"storage:\n  filesystem:\n    rootdirectory: {root / 'storage'}\n"
        "  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n  secret: {secrets.token_hex(16)}\n"
    )
    return [executable, "serve", str(config)]
