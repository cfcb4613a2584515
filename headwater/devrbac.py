"""``headwater dev up --rbac``: the controllers run as their ServiceAccounts of ``deploy/``.

Contract: with the devcluster serving ``--authorization-mode RBAC``,
``install`` applies ``deploy/rbac.yaml`` (ServiceAccounts, ClusterRoles,
bindings) in the runtime namespace with the admin kubeconfig, then asks a
TokenRequest for each controller's ServiceAccount (named as the controller)
and writes a kubeconfig per controller holding that token. A controller
started with its kubeconfig can do exactly what ``deploy/`` grants it, so a
Role missing a verb shows up locally as the 403 it would be in a cluster.
Failures are ``devprocesses.StartupError`` with kubectl's output.
"""

from __future__ import annotations

import pathlib
import subprocess
from collections.abc import Callable

import yaml

from headwater import devprocesses

RBAC_MANIFEST = pathlib.Path(__file__).resolve().parents[1] / "deploy" / "rbac.yaml"
# A TokenRequest's longest lifetime is 2^32 s; a year outlives any dev session.
TOKEN_DURATION = "8760h"
Kubectl = Callable[..., subprocess.CompletedProcess[str]]


def _run(kubectl: Kubectl, *args: str, stdin: str | None = None) -> str:
    result = kubectl(*args, input=stdin, timeout=90)
    if result.returncode != 0:
        raise devprocesses.StartupError(
            f"kubectl {' '.join(args)} failed:\n{result.stdout}{result.stderr}"
        )
    return str(result.stdout)


def controller_kubeconfig(admin: pathlib.Path, target: pathlib.Path, *, token: str) -> None:
    """``admin``'s kubeconfig with its one user's credentials replaced by ``token``."""
    config = yaml.safe_load(admin.read_text())
    for user in config.get("users") or ():
        user["user"] = {"token": token}
    target.write_text(yaml.safe_dump(config, sort_keys=False))
    target.chmod(0o600)


def install(
    kubectl: Kubectl,
    *,
    admin: pathlib.Path,
    namespace: str,
    controllers: list[str],
    directory: pathlib.Path,
    manifest: pathlib.Path = RBAC_MANIFEST,
) -> dict[str, pathlib.Path]:
    """Apply ``manifest`` and write one kubeconfig per controller; returns their paths."""
    if not manifest.exists():
        raise devprocesses.StartupError(f"--rbac needs {manifest}, which is missing")
    _run(kubectl, "apply", "--server-side", "-n", namespace, "-f", str(manifest))
    written: dict[str, pathlib.Path] = {}
    for name in controllers:
        token = _run(
            kubectl, "create", "token", name, "-n", namespace, f"--duration={TOKEN_DURATION}"
        ).strip()
        path = directory / f"kubeconfig-{name}"
        controller_kubeconfig(admin, path, token=token)
        written[name] = path
    return written
