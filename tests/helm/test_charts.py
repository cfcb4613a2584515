"""Chart acquisition: the HelmChart template, source readiness, OCI versions, loading."""

from __future__ import annotations

import collections.abc
import contextlib
import hashlib
import io
import pathlib
import tarfile
from typing import Any

import aiohttp
import helm_python
import pytest
import yaml
from aiohttp import test_utils, web

from controllers.helm import charts
from shared.api import helm, meta


def release(spec: dict[str, Any], *, namespace: str = "apps") -> helm.HelmRelease:
    return helm.HelmRelease.model_validate(
        {"metadata": {"name": "web", "namespace": namespace}, "spec": {"interval": "5m", **spec}}
    )


TEMPLATE = {
    "chart": {
        "metadata": {"labels": {"team": "a"}, "annotations": {"note": "x"}},
        "spec": {
            "chart": "podinfo",
            "version": "6.x",
            "sourceRef": {"kind": "HelmRepository", "name": "charts", "namespace": "flux"},
            "valuesFiles": ["values-prod.yaml"],
        },
    }
}


def test_template_manifest_follows_flux() -> None:
    obj = release(TEMPLATE)
    assert charts.source_of(obj) == charts.SourceRef("HelmChart", "flux", "apps-web")
    assert charts.template_manifest(obj) == {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "HelmChart",
        "metadata": {
            "name": "apps-web",
            "namespace": "flux",
            "labels": {
                "team": "a",
                "helm.toolkit.fluxcd.io/name": "web",
                "helm.toolkit.fluxcd.io/namespace": "apps",
            },
            "annotations": {"note": "x"},
        },
        "spec": {
            "chart": "podinfo",
            "version": "6.x",
            "sourceRef": {"kind": "HelmRepository", "name": "charts"},
            "interval": "5m",
            "reconcileStrategy": "ChartVersion",
            "valuesFiles": ["values-prod.yaml"],
        },
    }


def test_chart_ref_defaults_to_the_release_namespace() -> None:
    obj = release({"chartRef": {"kind": "OCIRepository", "name": "podinfo"}})
    assert charts.source_of(obj) == charts.SourceRef("OCIRepository", "apps", "podinfo")


def _source(generation: int, observed: int, *, artifact: bool, **conds: str) -> dict[str, Any]:
    status: dict[str, Any] = {
        "observedGeneration": observed,
        "conditions": [
            {"type": t, "status": s, "reason": "R", "message": f"{t} message"}
            for t, s in conds.items()
        ],
    }
    if artifact:
        status["artifact"] = {"revision": "1.0.0", "url": "http://x", "digest": "sha256:0"}
    return {"metadata": {"generation": generation}, "status": status}


REF = charts.SourceRef("HelmChart", "flux", "apps-web")


@pytest.mark.parametrize(
    ("found", "want"),
    [
        (_source(1, 1, artifact=True, Ready="True"), None),
        (
            _source(2, 1, artifact=True, Ready="True"),
            "HelmChart 'flux/apps-web' is not ready: "
            "latest generation of object has not been reconciled",
        ),
        (
            _source(2, 1, artifact=True, Ready="False"),
            "HelmChart 'flux/apps-web' is not ready: Ready message",
        ),
        (
            _source(1, 1, artifact=True, Stalled="True"),
            "HelmChart 'flux/apps-web' is not ready: Stalled message",
        ),
        (
            _source(1, 1, artifact=False),
            "HelmChart 'flux/apps-web' is not ready: does not have an artifact",
        ),
    ],
)
def test_not_ready(found: dict[str, Any], want: str | None) -> None:
    assert charts.not_ready(REF, found) == want


OCI = charts.SourceRef("OCIRepository", "apps", "podinfo")
DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("ref", "revision", "want"),
    [
        (REF, "6.0.0", ("6.0.0", None)),
        (OCI, f"6.0.0@{DIGEST}", ("6.0.0+abababababab", DIGEST)),
        (OCI, f"latest@{DIGEST}", ("6.0.0+abababababab", f"latest@{DIGEST}")),
        (OCI, DIGEST, ("6.0.0+abababababab", DIGEST)),
        (charts.SourceRef("ExternalArtifact", "a", "b"), "main", ("6.0.0", None)),
    ],
)
def test_versioned(ref: charts.SourceRef, revision: str, want: tuple[str, str | None]) -> None:
    assert charts.versioned("6.0.0", ref, revision) == want


@pytest.mark.parametrize("revision", [f"6.1.0@{DIGEST}", "latest@sha256:abc"])
def test_versioned_refuses_mismatch(revision: str) -> None:
    with pytest.raises(charts.ChartError):
        charts.versioned("6.0.0", OCI, revision)


@pytest.fixture
def packaged(tmp_path: pathlib.Path) -> bytes:
    source = tmp_path / "src" / "demo"
    (source / "templates").mkdir(parents=True)
    (source / "Chart.yaml").write_text(
        yaml.safe_dump({"apiVersion": "v2", "name": "demo", "version": "1.2.3"})
    )
    (source / "values.yaml").write_text("replicas: 1\n")
    (source / "templates" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n"
    )
    return pathlib.Path(helm_python.package(source, destination=tmp_path)).read_bytes()


@contextlib.asynccontextmanager
async def _serving(body: bytes) -> collections.abc.AsyncIterator[tuple[str, list[int]]]:
    calls: list[int] = []

    async def handler(request: web.Request) -> web.Response:
        calls.append(1)
        if request.path != "/chart.tgz":
            raise web.HTTPNotFound()
        return web.Response(body=body)

    app = web.Application()
    app.router.add_get("/{name}", handler)
    async with test_utils.TestServer(app, host="127.0.0.1") as server:
        yield f"http://127.0.0.1:{server.port}", calls


async def test_loader_downloads_once_and_loads(packaged: bytes) -> None:
    digest = "sha256:" + hashlib.sha256(packaged).hexdigest()
    async with _serving(packaged) as (base, calls), aiohttp.ClientSession() as session:
        loader = charts.Loader(session=session)
        artifact = meta.Artifact(
            path="x", url=f"{base}/chart.tgz", revision="1.2.3", digest=digest,
            last_update_time="2026-01-01T00:00:00Z",
        )  # fmt: skip
        for _ in range(2):
            chart = await loader.load(artifact)
            try:
                assert (chart.name, chart.version) == ("demo", "1.2.3")
            finally:
                chart.close()
        assert len(calls) == 1
        missing = artifact.model_copy(
            update={"url": f"{base}/gone.tgz", "digest": "sha256:" + "1" * 64}
        )
        with pytest.raises(charts.ChartError) as gone:
            await loader.load(missing)
        assert gone.value.missing
        tampered = artifact.model_copy(update={"digest": "sha256:" + "0" * 64})
        with pytest.raises(charts.ChartError, match="failed to download"):
            await loader.load(tampered)


async def test_loader_sets_the_versioned_chart_version(packaged: bytes) -> None:
    digest = "sha256:" + hashlib.sha256(packaged).hexdigest()
    async with _serving(packaged) as (base, _), aiohttp.ClientSession() as session:
        loader = charts.Loader(session=session)
        artifact = meta.Artifact(
            path="x", url=f"{base}/chart.tgz", revision="1.2.3", digest=digest,
            last_update_time="2026-01-01T00:00:00Z",
        )  # fmt: skip
        chart = await loader.load(artifact, version="1.2.3+abcdef012345")
        try:
            assert (chart.name, chart.version) == ("demo", "1.2.3+abcdef012345")
            assert chart.templates
        finally:
            chart.close()


def test_with_version_needs_a_chart_yaml() -> None:
    empty = io.BytesIO()
    with tarfile.open(fileobj=empty, mode="w:gz"):
        pass
    with pytest.raises(charts.ChartError, match=r"Chart\.yaml"):
        charts.with_version(empty.getvalue(), "1.0.0")
