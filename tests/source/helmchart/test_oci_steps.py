"""The HelmChart reconciler's chart step with OCI HelmRepositories, one case per row.

Against a devcluster (HelmRepositories and Secrets, read through informers
and the API) and real registries (plain HTTP; TLS with htpasswd) holding
charts the Helm SDK pushed. The rows follow the cases Flux's
``helmchart_controller_test.go`` pins for OCI charts: the auth strategies
(docker config or basic credentials, a CA, none), a missing Secret, a
non-``oci://`` URL, the stored artifact used as the build cache, and the
cosign verification outcomes with their conditions.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import io
import itertools
import json
import tarfile
from collections.abc import AsyncIterator, Iterator
from typing import Any, Literal

import aiohttp
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from controllers.source.helm import indexes
from controllers.source.helmchart import reconciler as helmchart
from shared.api import crdgen, source, source_conditions
from shared.artifacts import digests as artifact_digests
from shared.artifacts import storage
from shared.kube import client, resources
from shared.oci import client as oci_client
from shared.oci import mediatypes, tokens, transport
from shared.runtime import conditions, events, informers, reconciling, results
from tests.fixtures import chartrepos, cosignatures
from tests.fixtures import devcluster as devcluster_fixtures
from tests.fixtures import registry as registry_fixtures
from tests.fixtures.polling import eventually

registry = registry_fixtures.registry
secure_registry = registry_fixtures.secure_registry
_names = itertools.count()
KINDS = (source.HelmRepository, source.GitRepository, source.Bucket)
SIGNER = ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[devcluster_fixtures.Devcluster]:
    with devcluster_fixtures.start_devcluster(tmp_path_factory.mktemp("steps")) as running:
        for kind in KINDS:
            running.kubectl(
                "apply", "--server-side", "-f", "-", input=json.dumps(crdgen.crd_for(kind))
            )
        running.kubectl("wait", "--for=condition=Established", "crd", "--all")
        yield running


@pytest.fixture(scope="module")
def charts_pushed(
    registry: registry_fixtures.Registry,
    secure_registry: registry_fixtures.Registry,
    tmp_path_factory: pytest.TempPathFactory,
) -> registry_fixtures.Registry:
    """``helmchart`` 0.1.0 in ``oci://<host>/testrepo`` of both registries (as Flux's tests),
    and in ``oci://<host>/signed`` and ``/bundled`` of the plain one, signed by ``SIGNER``
    (a cosign v2 signature tag; a cosign v3 bundle)."""
    workdir = tmp_path_factory.mktemp("charts")
    archive = chartrepos.package(workdir / "src", workdir / "out", "helmchart", "0.1.0")
    pushes = (
        (registry, "testrepo"), (secure_registry, "testrepo"),
        (registry, "signed"), (registry, "bundled"),
    )  # fmt: skip
    for target, path in pushes:
        registry_fixtures.push_chart(target, archive, path)
    asyncio.run(_sign(registry.host, "signed/helmchart", "0.1.0", bundle=False))
    asyncio.run(_sign(registry.host, "bundled/helmchart", "0.1.0", bundle=True))
    return registry


async def _sign(host: str, repository: str, tag: str, *, bundle: bool) -> None:
    """Sign ``repository:tag`` with ``SIGNER``: a cosign v3 bundle, or a v2 signature tag."""
    async with aiohttp.ClientSession() as session:
        oci = oci_client.Client(
            session,
            transport.Connection(host=host, plain_http=True),
            token_cache=tokens.TokenCache(),
        )
        digest = (await oci.head_manifest(repository, tag)).digest
    sign = cosignatures.sign_bundle if bundle else cosignatures.sign
    await sign(host, repository, digest, SIGNER, signs=digest)


@pytest.fixture
def namespace(cluster: devcluster_fixtures.Devcluster) -> str:
    name = f"oci{next(_names)}"
    cluster.kubectl("create", "namespace", name)
    return name


@dataclasses.dataclass
class Harness:
    """A HelmChart reconciler on the namespace's informers, and how to run its steps."""

    api: client.Client
    namespace: str
    reconciler: helmchart.HelmChartReconciler
    repositories: informers.Informer

    async def create(self, path: str, body: dict[str, Any]) -> None:
        url = f"/api/v1/namespaces/{self.namespace}/{path}"
        if path.startswith("helmrepositories"):
            url = f"/apis/{source.API_VERSION}/namespaces/{self.namespace}/{path}"
        await self.api.request("POST", url, body=body, verb="create")

    async def secret(self, name: str, **data: str) -> None:
        encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
        await self.create("secrets", {"metadata": {"name": name}, "data": encoded})

    async def repository(self, url: str, name: str = "registry", **spec: Any) -> None:
        body = {
            "apiVersion": source.API_VERSION,
            "kind": "HelmRepository",
            "metadata": {"name": name},
            "spec": {"interval": "1h", "url": url, "type": "oci", "timeout": "10s", **spec},
        }
        await self.create("helmrepositories", body)
        key = f"{self.namespace}/{name}"
        await eventually(lambda: self.repositories.get(key) is not None)

    def chart(
        self, source_name: str = "registry", generation: int = 1, **spec: Any
    ) -> source.HelmChart:
        return source.HelmChart.model_validate(
            {
                "apiVersion": source.API_VERSION,
                "kind": "HelmChart",
                "metadata": {"name": "chart", "namespace": self.namespace,
                             "generation": generation},
                "spec": {
                    "interval": "1h", "chart": "helmchart", "version": "0.1.x",
                    "sourceRef": {"kind": "HelmRepository", "name": source_name}, **spec,
                },
            }
        )  # fmt: skip

    async def run(
        self,
        obj: source.HelmChart,
        status: source.HelmChartStatus | None = None,
        steps: tuple[str, ...] = ("chart", "artifact"),
    ) -> tuple[Any, Exception | None]:
        """``steps`` in order until one fails; the run and the error."""
        tracker = reconciling.ProgressTracker(
            writer=reconciling.StatusWriter(api=self.api, path="/unused", written={}), delay=3600
        )
        run = self.reconciler.run_type(
            obj=obj, status=status or source.HelmChartStatus(), tracker=tracker
        )
        failure: Exception | None = None
        try:
            for step in self.reconciler.steps:
                if step.name in steps:
                    await step.run(run)
        except results.ReconcileError as error:
            failure = error
        finally:
            await tracker.stop()
        return run, failure


@contextlib.asynccontextmanager
async def _harness(
    api: client.Client, namespace: str, store: storage.Storage
) -> AsyncIterator[Harness]:
    scope = informers.Scope(namespace=namespace)
    discovery = resources.Discovery(api)
    watched = {
        kind.crd.kind: informers.Informer(
            api=api,
            resource=await discovery.resolve(source.API_VERSION, kind.crd.kind),
            scope=scope,
        )
        for kind in KINDS
    }
    tasks = [asyncio.create_task(informer.run()) for informer in watched.values()]
    recorder = events.Recorder(api=api, controller="source-controller")
    try:
        for informer in watched.values():
            await asyncio.wait_for(informer.wait_synced(), timeout=30)
        async with aiohttp.ClientSession() as session:
            reconciler = helmchart.HelmChartReconciler(
                api=api,
                store=store,
                recorder=recorder,
                session=session,
                helm_repositories=watched["HelmRepository"],
                git_repositories=watched["GitRepository"],
                buckets=watched["Bucket"],
                cache=indexes.Cache(max_size=0, ttl=60),
            )
            yield Harness(api, namespace, reconciler, watched["HelmRepository"])
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await recorder.close()


@pytest.fixture
async def harness(
    api: client.Client,
    namespace: str,
    store: storage.Storage,
    charts_pushed: registry_fixtures.Registry,
) -> AsyncIterator[Harness]:
    """The harness with HelmRepository ``oci://<charts_pushed>/testrepo`` (plain HTTP)."""
    async with _harness(api, namespace, store) as harness:
        await harness.repository(f"oci://{charts_pushed.host}/testrepo", insecure=True)
        yield harness


def _status_with(
    type_: str,
    status: Literal["True", "False", "Unknown"],
    reason: str,
    base: source.HelmChartStatus | None = None,
) -> source.HelmChartStatus:
    """``base`` (or an empty status) of generation 1 with condition ``type_`` set."""
    copy = base.model_copy(deep=True) if base is not None else source.HelmChartStatus()
    copy.observed_generation = 1
    copy.conditions = conditions.set_condition(
        copy.conditions, type_=type_, status=status, reason=reason, message="", generation=1
    )
    return copy


def _conditions(run: Any) -> dict[str, tuple[str, str]]:
    return {c.type: (c.status, c.reason) for c in run.status.conditions or []}


def _message(run: Any, type_: str) -> str:
    found = conditions.get(run.status.conditions, type_)
    assert found is not None, type_
    return found.message


DOCKER = "docker"
BASIC = "basic"
NONE = "none"


@pytest.mark.parametrize(
    ("credentials", "ca", "insecure", "outcome"),
    [
        (NONE, False, True, None),  # HTTP without basic auth
        (DOCKER, True, False, None),  # HTTPS with docker config credentials and a CA
        (BASIC, True, False, None),  # HTTPS with username/password and a CA
        (NONE, True, False, source_conditions.AUTHENTICATION_FAILED_REASON),
        (BASIC, False, False, source_conditions.AUTHENTICATION_FAILED_REASON),  # unknown CA
    ],
    ids=["http-anonymous", "https-docker-config", "https-basic", "no-credentials", "no-ca"],
)
async def test_auth_strategies(
    api: client.Client,
    namespace: str,
    store: storage.Storage,
    charts_pushed: registry_fixtures.Registry,
    secure_registry: registry_fixtures.Registry,
    credentials: str,
    ca: bool,
    insecure: bool,
    outcome: str | None,
) -> None:
    target = charts_pushed if insecure else secure_registry
    async with _harness(api, namespace, store) as harness:
        spec: dict[str, Any] = {"insecure": insecure}
        user, password = secure_registry.username, secure_registry.password
        if credentials == DOCKER:
            auth = base64.b64encode(f"{user}:{password}".encode()).decode()
            config = json.dumps({"auths": {target.host: {"auth": auth}}})
            await harness.secret("auth", **{".dockerconfigjson": config})
        elif credentials == BASIC:
            await harness.secret("auth", username=user, password=password)
        if credentials != NONE:
            spec["secretRef"] = {"name": "auth"}
        if ca:
            assert secure_registry.tls is not None
            await harness.secret("ca", **{"ca.crt": secure_registry.tls.ca_cert.read_text()})
            spec["certSecretRef"] = {"name": "ca"}
        await harness.repository(f"oci://{target.host}/testrepo", **spec)

        run, failure = await harness.run(harness.chart())

    if outcome is None:
        assert failure is None
        assert run.status.artifact.revision == "0.1.0"
        assert _conditions(run) == {
            source_conditions.ARTIFACT_IN_STORAGE_CONDITION: (
                "True", source_conditions.CHART_PULL_SUCCEEDED_REASON,
            ),
            "Reconciling": ("True", "Progressing"),
        }  # fmt: skip
        assert _message(run, "Reconciling") == (
            "building artifact: pulled 'helmchart' chart with version '0.1.0'"
        )
    else:
        assert failure is not None
        assert _conditions(run) == {source_conditions.FETCH_FAILED_CONDITION: ("True", outcome)}
        assert _message(run, source_conditions.FETCH_FAILED_CONDITION).startswith(
            "failed to authenticate with the Helm repository"
        )


async def test_a_missing_secret_a_url_that_is_not_oci_and_a_cloud_provider(
    api: client.Client,
    namespace: str,
    store: storage.Storage,
    charts_pushed: registry_fixtures.Registry,
) -> None:
    async with _harness(api, namespace, store) as harness:
        await harness.repository(
            f"oci://{charts_pushed.host}/testrepo", insecure=True, secretRef={"name": "invalid"}
        )
        await harness.repository("https://unsupported", name="https")
        await harness.repository(f"oci://{charts_pushed.host}/testrepo", name="ecr", provider="aws")
        missing, retried = await harness.run(harness.chart())
        unsupported, stalled = await harness.run(harness.chart("https"))
        cloud, cloud_stalled = await harness.run(harness.chart("ecr"))

    assert isinstance(retried, results.ReconcileError)
    assert not isinstance(retried, results.StallingError)
    assert _conditions(missing) == {
        source_conditions.FETCH_FAILED_CONDITION: (
            "True", source_conditions.AUTHENTICATION_FAILED_REASON,
        )
    }  # fmt: skip
    assert f"'{namespace}/invalid'" in _message(missing, source_conditions.FETCH_FAILED_CONDITION)
    assert isinstance(stalled, results.StallingError)
    assert _conditions(unsupported) == {
        source_conditions.FETCH_FAILED_CONDITION: ("True", "Failed")
    }
    assert _message(unsupported, source_conditions.FETCH_FAILED_CONDITION) == (
        "failed to construct Helm client: invalid OCI registry URL: https://unsupported"
    )
    assert isinstance(cloud_stalled, results.StallingError)
    assert _conditions(cloud) == {
        source_conditions.FETCH_FAILED_CONDITION: (
            "True", source_conditions.INVALID_PROVIDER_CONFIGURATION_REASON,
        )
    }  # fmt: skip


async def test_the_stored_artifact_is_the_build_cache_until_the_generation_changes(
    store: storage.Storage, harness: Harness
) -> None:
    first, _ = await harness.run(harness.chart())
    assert first.status.artifact is not None
    # The layer went to storage as it arrived: one file, renamed, no temporary left.
    stored = store.local_path(first.status.artifact.path)
    assert sorted(p.name for p in stored.parent.iterdir()) == [
        ".lock", stored.name, "latest.tar.gz",
    ]  # fmt: skip
    assert first.status.artifact.digest == artifact_digests.file_digest(stored)
    first.status.observed_generation = 1
    cached, _ = await harness.run(harness.chart(), first.status.model_copy(deep=True))
    forced, _ = await harness.run(
        harness.chart(generation=2), first.status.model_copy(deep=True), steps=("chart",)
    )

    assert first.build.data is not None
    assert cached.build.data is None
    assert cached.status.artifact == first.status.artifact
    assert forced.build.data == first.build.data
    # NB: ArtifactOutdated belongs to the artifact step (it marks it before storing and
    # clears it after), so the chart step alone leaves it unset.
    assert _conditions(forced) == {
        source_conditions.ARTIFACT_IN_STORAGE_CONDITION: (
            "True", source_conditions.CHART_PULL_SUCCEEDED_REASON,
        ),
        "Reconciling": ("True", "Progressing"),
    }  # fmt: skip


async def test_a_layer_that_is_no_chart_fails_and_leaves_no_file(
    api: client.Client,
    namespace: str,
    store: storage.Storage,
    charts_pushed: registry_fixtures.Registry,
) -> None:
    # A gzip tar with no Chart.yaml, pushed as a chart layer (Helm would not push it).
    files = io.BytesIO()
    with tarfile.open(fileobj=files, mode="w:gz") as tar:
        info = tarfile.TarInfo("helmchart/values.yaml")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"{}\n"))
    connection = transport.Connection(host=charts_pushed.host, plain_http=True)
    async with aiohttp.ClientSession() as session:
        oci = oci_client.Client(session, connection, token_cache=tokens.TokenCache())
        await registry_fixtures.push_one_layer(
            oci,
            "nochart/helmchart",
            "0.1.0",
            files.getvalue(),
            config_type=mediatypes.HELM_CONFIG,
            layer_type=mediatypes.HELM_CHART_CONTENT,
        )
    async with _harness(api, namespace, store) as harness:
        await harness.repository(f"oci://{charts_pushed.host}/nochart", insecure=True)
        run, failure = await harness.run(harness.chart())

    assert failure is not None
    assert _conditions(run)[source_conditions.FETCH_FAILED_CONDITION][0] == "True"
    assert _message(run, source_conditions.FETCH_FAILED_CONDITION) == "Chart.yaml file is missing"
    directory = store.root / "helmchart" / namespace / "chart"
    assert not directory.exists() or not any(directory.glob(".tmp-*"))


KEYED = {"provider": "cosign", "secretRef": {"name": "cosign-key"}}


@pytest.mark.parametrize(
    ("path", "verify", "want", "stalls"),
    [
        (
            "testrepo", KEYED,
            {"BuildFailed": ("True", "ChartVerificationError"),
             "SourceVerified": ("False", "VerificationError")},
            False,
        ),
        (
            "signed", KEYED,
            {"SourceVerified": ("True", "Succeeded"),
             "ArtifactInStorage": ("True", "ChartPullSucceeded"),
             "Reconciling": ("True", "Progressing")},
            False,
        ),
        (
            "bundled", KEYED,
            {"SourceVerified": ("True", "Succeeded"),
             "ArtifactInStorage": ("True", "ChartPullSucceeded"),
             "Reconciling": ("True", "Progressing")},
            False,
        ),
        (
            "signed", {"provider": "cosign"},
            {"SourceVerified": ("False", "VerificationError")},
            True,
        ),
        (
            "signed", {"provider": "notation", "secretRef": {"name": "cosign-key"}},
            {"SourceVerified": ("False", "VerificationError")},
            True,
        ),
    ],
    ids=["unsigned", "signed", "bundled", "keyless", "notation"],
)  # fmt: skip
async def test_cosign_verification(
    api: client.Client,
    namespace: str,
    store: storage.Storage,
    charts_pushed: registry_fixtures.Registry,
    path: str,
    verify: dict[str, Any],
    want: dict[str, tuple[str, str]],
    stalls: bool,
) -> None:
    url = f"oci://{charts_pushed.host}/{path}"
    async with _harness(api, namespace, store) as harness:
        await harness.secret(
            "cosign-key", **{"cosign.pub": cosignatures.public_pem(SIGNER).decode()}
        )
        await harness.repository(url, insecure=True)
        run, failure = await harness.run(harness.chart(version="0.1.0", verify=verify))

    assert _conditions(run) == want
    assert isinstance(failure, results.StallingError) == stalls
    if "BuildFailed" in want:
        assert _message(run, "BuildFailed").startswith(
            f"chart verification error: failed to verify {url}/helmchart:0.1.0: "
            "no cosign signature found"
        )
        assert _message(run, "SourceVerified") == _message(run, "BuildFailed")
    elif failure is None:
        assert _message(run, "SourceVerified") == "verified signature of version 0.1.0"


async def test_a_verification_condition_goes_when_verify_leaves_the_spec(harness: Harness) -> None:
    before = _status_with("SourceVerified", "False", "VerifyFailed")
    run, failure = await harness.run(harness.chart(), before, steps=("chart",))
    assert failure is None
    assert "SourceVerified" not in _conditions(run)


async def test_a_verification_failure_replaces_an_earlier_fetch_failure(
    api: client.Client,
    namespace: str,
    store: storage.Storage,
    charts_pushed: registry_fixtures.Registry,
) -> None:
    before = _status_with("FetchFailed", "True", "ChartPullError")
    async with _harness(api, namespace, store) as harness:
        await harness.secret(
            "cosign-key", **{"cosign.pub": cosignatures.public_pem(SIGNER).decode()}
        )
        await harness.repository(f"oci://{charts_pushed.host}/testrepo", insecure=True)
        run, failure = await harness.run(harness.chart(verify=KEYED), before)
    assert failure is not None
    assert _conditions(run) == {
        "BuildFailed": ("True", "ChartVerificationError"),
        "SourceVerified": ("False", "VerificationError"),
    }


async def _announced(api: client.Client, namespace: str) -> int:
    """How many ``ChartPullSucceeded`` events were recorded in ``namespace`` (repeats counted)."""
    listed = await api.request("GET", f"/api/v1/namespaces/{namespace}/events", verb="list")
    return sum(
        int(event.get("count") or 1)
        for event in listed["items"]
        if event["reason"] == source_conditions.CHART_PULL_SUCCEEDED_REASON
    )


async def test_a_new_chart_and_a_recovery_are_announced_and_nothing_else(
    api: client.Client, namespace: str, harness: Harness
) -> None:
    first, _ = await harness.run(harness.chart())
    assert await _announced(api, namespace) == 1

    unchanged, _ = await harness.run(
        harness.chart(), _status_with("Ready", "True", "Succeeded", first.status)
    )
    assert unchanged.build.data is None
    assert await _announced(api, namespace) == 1

    recovered, _ = await harness.run(
        harness.chart(), _status_with("Ready", "False", "Failed", first.status)
    )
    assert recovered.build.data is None
    assert await _announced(api, namespace) == 2
