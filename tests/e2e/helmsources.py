"""Helpers of the HelmRepository and HelmChart end-to-end tests.

``start`` runs source-controller as a process for one namespace (the
``controller`` fixture: with no extra flags, for the test's namespace);
``helmrepository``/``helmchart`` build the objects; ``ready``, ``condition``
and ``handled`` are probes for ``eventually_sync``; ``download`` and
``chart_files`` read a stored chart back.
"""

from __future__ import annotations

import contextlib
import io
import pathlib
import tarfile
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.e2e import objects
from tests.fixtures import devcluster as devcluster_fixtures
from tests.fixtures import processes
from tests.fixtures.polling import eventually_sync


@contextlib.contextmanager
def start(
    cluster: devcluster_fixtures.Devcluster, namespace: str, tmp_path: pathlib.Path, *flags: str
) -> Iterator[processes.Controller]:
    """source-controller watching ``namespace`` with ``flags``, storing under ``tmp_path``."""
    with processes.start_source_controller(
        cluster.kubeconfig, namespace, tmp_path, devcluster_fixtures.free_port(), *flags
    ) as running:
        yield running


@pytest.fixture
def controller(
    cluster: devcluster_fixtures.Devcluster, namespace: str, tmp_path: pathlib.Path
) -> Iterator[processes.Controller]:
    with start(cluster, namespace, tmp_path) as running:
        yield running


def secret(cluster: devcluster_fixtures.Devcluster, namespace: str, name: str, **data: str) -> None:
    args = [f"--from-literal={k}={v}" for k, v in data.items() if not v.startswith("@")]
    args += [f"--from-file={k}={v[1:]}" for k, v in data.items() if v.startswith("@")]
    cluster.kubectl("create", "secret", "generic", name, "-n", namespace, *args)


def helmrepository(namespace: str, name: str, url: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "HelmRepository",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"interval": "1h", "url": url, **spec},
    }


def helmchart(
    namespace: str, name: str, chart: str, kind: str, source: str, **spec: Any
) -> dict[str, Any]:
    return {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "HelmChart",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "interval": "1h",
            "chart": chart,
            "sourceRef": {"kind": kind, "name": source},
            **spec,
        },
    }


def ready(
    cluster: devcluster_fixtures.Devcluster, namespace: str, kind: str, name: str,
    revision: str | None = None,
) -> Callable[[], dict[str, Any] | None]:  # fmt: skip
    def probe() -> dict[str, Any] | None:
        obj = objects.get(cluster, namespace, kind, name)
        ready = objects.condition(obj, "Ready")
        artifact = ((obj or {}).get("status") or {}).get("artifact") or {}
        if (
            ready
            and ready["status"] == "True"
            and (revision is None or artifact.get("revision") == revision)
        ):
            return obj
        return None

    return probe


def condition(
    cluster: devcluster_fixtures.Devcluster, namespace: str, kind: str, name: str,
    type_: str, reason: str,
) -> Callable[[], dict[str, Any] | None]:  # fmt: skip
    def probe() -> dict[str, Any] | None:
        found = objects.condition(objects.get(cluster, namespace, kind, name), type_)
        return found if found and found["status"] == "True" and found["reason"] == reason else None

    return probe


def handled(
    cluster: devcluster_fixtures.Devcluster, namespace: str, kind: str, name: str, token: str
) -> None:
    """Wait until the reconcile requested with ``token`` is done."""
    eventually_sync(
        lambda: (
            ((objects.get(cluster, namespace, kind, name) or {}).get("status") or {}).get(
                "lastHandledReconcileAt"
            )
            == token
        ),
        within=30,
    )


def download(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        return bytes(response.read())


def chart_files(archive: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}  # type: ignore[union-attr]
