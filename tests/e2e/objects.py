"""Cluster objects in end-to-end tests, written and read through the real kubectl.

Going through ``Devcluster.kubectl`` (not the project's own client) keeps the
end-to-end tests a client's-eye view, and lets them run unchanged against a
real cluster (``HEADWATER_TEST_KUBECONFIG``).
"""

from __future__ import annotations

import json
from typing import Any

from tests.fixtures import devcluster as devcluster_fixtures


def apply(cluster: devcluster_fixtures.Devcluster, manifest: dict[str, Any]) -> None:
    """Server-side apply ``manifest`` (as kubectl's field manager)."""
    cluster.kubectl("apply", "--server-side", "-f", "-", input=json.dumps(manifest))


def get(
    cluster: devcluster_fixtures.Devcluster, namespace: str, kind: str, name: str
) -> dict[str, Any] | None:
    """The object as JSON, or None when kubectl cannot get it (for example, it is gone)."""
    result = cluster.kubectl("get", "-n", namespace, kind, name, "-o", "json", check=False)
    if result.returncode != 0:
        return None
    found: dict[str, Any] = json.loads(result.stdout)
    return found


def condition(obj: dict[str, Any] | None, type_: str) -> dict[str, Any] | None:
    """The status condition of ``type_`` on ``obj``, if both exist."""
    for item in (obj or {}).get("status", {}).get("conditions", []):
        if item["type"] == type_:
            return dict(item)
    return None


def events(cluster: devcluster_fixtures.Devcluster, namespace: str) -> list[dict[str, Any]]:
    """Every core/v1 Event in ``namespace``."""
    listing = json.loads(cluster.kubectl("get", "-n", namespace, "events", "-o", "json").stdout)
    items: list[dict[str, Any]] = listing["items"]
    return items


def request_reconcile(
    cluster: devcluster_fixtures.Devcluster, namespace: str, kind: str, name: str, token: str
) -> None:
    """Ask for a reconcile now: set ``reconcile.fluxcd.io/requestedAt`` to ``token``."""
    cluster.kubectl(
        "annotate", "-n", namespace, kind, name, "--overwrite",
        f"reconcile.fluxcd.io/requestedAt={token}",
    )  # fmt: skip
