"""The OCI registry of ``headwater dev``: Debian's ``docker-registry`` (CNCF distribution).

``command(directory, port)`` writes the registry's configuration under
``directory`` and returns the command line that serves it, or None when
the ``docker-registry`` binary is not installed (``make setup`` installs it;
``headwater dev up`` then runs without a registry and says so). The
registry listens on 127.0.0.1 only, over plain HTTP and without auth, as a
local development registry does; images are kept under
``directory/storage`` between runs. An ImageRepository scanning it sets
``spec.insecure: true`` (plain HTTP).
"""

from __future__ import annotations

import pathlib
import secrets
import shutil

BINARY = "docker-registry"
DEBIAN_PATH = pathlib.Path("/usr/bin/docker-registry")


def binary() -> str | None:
    """The ``docker-registry`` executable on PATH or in Debian's place, if installed."""
    found = shutil.which(BINARY)
    if found is not None:
        return found
    return str(DEBIAN_PATH) if DEBIAN_PATH.exists() else None


def config(directory: pathlib.Path, port: int) -> str:
    """distribution 2.x configuration: filesystem storage, 127.0.0.1:``port``, deletes on.

    ``http.secret`` is fresh each run: it only signs upload-session state,
    which does not outlive the process.
    """
    return "\n".join([
        "version: 0.1",
        "log:",
        "  level: info",
        "  accesslog:",
        "    disabled: true",
        "storage:",
        "  filesystem:",
        f"    rootdirectory: {directory / 'storage'}",
        "  delete:",
        "    enabled: true",
        "http:",
        f"  addr: 127.0.0.1:{port}",
        f"  secret: {secrets.token_hex(16)}",
        "",
    ])  # fmt: skip


def command(directory: pathlib.Path, port: int) -> list[str] | None:
    """Write ``directory/config.yml`` and return ``docker-registry serve`` on it (see above)."""
    executable = binary()
    if executable is None:
        return None
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "config.yml"
    path.write_text(config(directory, port))
    return [executable, "serve", str(path)]
