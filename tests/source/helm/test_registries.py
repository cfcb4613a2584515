"""``registries``: charts pushed by the Helm SDK, resolved and pulled from a real registry."""

from __future__ import annotations

import pathlib
import threading

import aiohttp
import pytest

from controllers.source.helm import charts, errors, registries
from shared.oci import client, credentials, digests, mediatypes, tls, tokens, transport
from shared.oci import errors as oci_errors
from tests.fixtures import chartrepos
from tests.fixtures import registry as registry_fixtures

registry = registry_fixtures.registry
secure_registry = registry_fixtures.secure_registry
VERSIONS = ("6.0.3", "6.1.0", "6.2.0-rc.1", "7.0.0+build.5")


@pytest.fixture(scope="module")
def pushed(
    registry: registry_fixtures.Registry, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, pathlib.Path]:
    """``podinfo`` in every version of ``VERSIONS``, pushed to ``oci://<registry>/charts``."""
    workdir = tmp_path_factory.mktemp("oci-charts")
    archives = {}
    for version in VERSIONS:
        archive = chartrepos.package(
            workdir / f"src-{version}", workdir / "out", "podinfo", version
        )
        registry_fixtures.push_chart(registry, archive, "charts")
        archives[version] = archive
    return archives


@pytest.mark.parametrize(
    ("url", "location"),
    [
        (
            "oci://ghcr.io/stefanprodan/charts",
            registries.Location("ghcr.io", "stefanprodan/charts"),
        ),
        ("oci://127.0.0.1:5000/", registries.Location("127.0.0.1:5000", "")),
        ("oci://127.0.0.1:5000/a/b/", registries.Location("127.0.0.1:5000", "a/b")),
    ],
)
def test_oci_urls_name_a_registry_location(url: str, location: registries.Location) -> None:
    assert registries.parse_url(url) == location
    assert location.url("podinfo", "1.0.0").endswith("/podinfo:1.0.0")


@pytest.mark.parametrize("url", ["https://charts.example", "oci://", "oci://host/x?q=1"])
def test_other_urls_are_invalid(url: str) -> None:
    with pytest.raises(errors.InvalidUrlError, match="invalid OCI registry URL"):
        registries.parse_url(url)


@pytest.mark.parametrize(
    ("version", "chosen"),
    [
        ("", "7.0.0+build.5"),
        ("*", "7.0.0+build.5"),
        ("6.x", "6.1.0"),
        (">=6.0.0 <6.1.0 || 6.1.x", "6.1.0"),
        (">=6.2.0-0 <7.0.0-0", "6.2.0-rc.1"),
        ("~6.0", "6.0.3"),
        ("7.0.0+build.5", "7.0.0+build.5"),
    ],
)
def test_pick_prefers_the_exact_tag_then_the_highest_in_range(version: str, chosen: str) -> None:
    tags = [registries.tag_of(v) for v in VERSIONS] + ["latest", "sha256-ab.sig"]
    assert registries.pick(tags, version) == chosen


def test_pick_says_when_nothing_matches() -> None:
    with pytest.raises(errors.BuildError) as refused:
        registries.pick(["6.0.3"], "9.x")
    assert refused.value.why == errors.CHART_PULL
    assert refused.value.message == (
        "chart pull error: failed to get chart version for remote reference: "
        "could not locate a version matching provided version string 9.x"
    )


def test_tags_hold_plus_as_underscore() -> None:
    assert registries.tag_of("1.0.0+abc.1") == "1.0.0_abc.1"
    assert registries.version_of("1.0.0_abc.1") == "1.0.0+abc.1"
    assert registries.is_exact("1.0.0+abc.1")
    assert not registries.is_exact("v1.0.0")
    assert not registries.is_exact("1.0")


async def test_an_exact_version_needs_no_request() -> None:
    # NB: nothing listens on port 9: any request would fail.
    connection = transport.Connection(host="127.0.0.1:9", plain_http=True, timeout=1)
    async with aiohttp.ClientSession() as session:
        oci = client.Client(session, connection, token_cache=tokens.TokenCache())
        location = registries.Location("127.0.0.1:9", "charts")
        assert await registries.resolve_version(oci, location, "podinfo", "6.0.3") == "6.0.3"


async def test_a_range_is_resolved_against_the_tags_helm_pushed(
    oci: client.Client, registry: registry_fixtures.Registry, pushed: dict[str, pathlib.Path]
) -> None:
    location = registries.parse_url(f"oci://{registry.host}/charts")
    assert await registries.resolve_version(oci, location, "podinfo", "6.x") == "6.1.0"
    assert await registries.resolve_version(oci, location, "podinfo", "") == "7.0.0+build.5"


async def test_a_missing_chart_is_a_pull_error_naming_it(
    oci: client.Client, registry: registry_fixtures.Registry, pushed: dict[str, pathlib.Path]
) -> None:
    location = registries.parse_url(f"oci://{registry.host}/charts")
    with pytest.raises(errors.BuildError) as refused:
        await registries.resolve_version(oci, location, "nothing", "*")
    assert refused.value.why == errors.CHART_PULL
    assert 'could not get tags for "nothing"' in refused.value.message


async def test_the_pulled_layer_is_the_chart_helm_pushed(
    oci: client.Client, registry: registry_fixtures.Registry, pushed: dict[str, pathlib.Path]
) -> None:
    location = registries.parse_url(f"oci://{registry.host}/charts")
    digest = await registries.digest_of(oci, location, "podinfo", "7.0.0+build.5")
    by_version = await registries.pull(
        oci, location, "podinfo", "7.0.0+build.5", limits=charts.Limits()
    )
    by_digest = await registries.pull(oci, location, "podinfo", digest, limits=charts.Limits())

    assert by_version.data == pushed["7.0.0+build.5"].read_bytes()
    assert by_version.digest == digest == by_digest.digest
    assert by_digest.data == by_version.data
    with pytest.raises(oci_errors.TooLargeError):
        await registries.pull(oci, location, "podinfo", "6.0.3", limits=charts.Limits(max_size=16))


async def test_the_work_after_a_pull_runs_in_the_thread_that_inflated_the_layer(
    oci: client.Client, registry: registry_fixtures.Registry, pushed: dict[str, pathlib.Path]
) -> None:
    location = registries.parse_url(f"oci://{registry.host}/charts")
    written: list[bytes] = []
    threads: list[int] = []

    def sink(chunk: bytes) -> None:
        threads.append(threading.get_ident())
        written.append(chunk)

    def then(pulled: registries.Pulled) -> tuple[registries.Pulled, dict[str, object]]:
        threads.append(threading.get_ident())
        return pulled, charts.check_archive(pulled.data, charts.Limits(), tar=pulled.tar)

    pulled, metadata = await registries.pull_then(
        oci, location, "podinfo", "6.1.0", limits=charts.Limits(), then=then, sink=sink
    )

    assert b"".join(written) == pulled.data == pushed["6.1.0"].read_bytes()
    assert pulled.layer_digest == digests.of(pulled.data)
    assert metadata["version"] == "6.1.0"
    assert threading.get_ident() not in threads  # all of it in worker threads
    assert threads[-1] == threads[-2]  # ``then`` with no hand-off after the last chunk


@pytest.mark.parametrize(
    ("name", "layer", "types", "refusal"),
    [
        (
            "broken", b"\x1f\x8bnot gzip" * 9000,
            (mediatypes.HELM_CONFIG, mediatypes.HELM_CHART_CONTENT),
            (errors.HelmError, "failed to read chart archive"),
        ),
        (
            "image", b"data", ("application/json", "text/plain"),
            (errors.BuildError, "not a Helm chart"),
        ),
    ],
    ids=["not-gzip", "an-image"],
)  # fmt: skip
async def test_a_layer_that_is_no_chart_is_refused_and_nothing_follows(
    oci: client.Client,
    registry: registry_fixtures.Registry,
    pushed: dict[str, pathlib.Path],
    name: str,
    layer: bytes,
    types: tuple[str, str],
    refusal: tuple[type[Exception], str],
) -> None:
    await registry_fixtures.push_one_layer(
        oci, f"charts/{name}", "1.0.0", layer, config_type=types[0], layer_type=types[1]
    )
    location = registries.parse_url(f"oci://{registry.host}/charts")
    followed: list[registries.Pulled] = []
    with pytest.raises(refusal[0], match=refusal[1]):
        await registries.pull_then(
            oci, location, name, "1.0.0", limits=charts.Limits(), then=followed.append
        )
    assert followed == []


async def test_a_chart_behind_basic_auth_and_tls(
    secure_registry: registry_fixtures.Registry, tmp_path: pathlib.Path
) -> None:
    archive = chartrepos.package(tmp_path / "src", tmp_path / "out", "private", "1.0.0")
    registry_fixtures.push_chart(secure_registry, archive, "charts")
    assert secure_registry.tls is not None
    context = tls.context(ca=secure_registry.tls.ca_cert.read_bytes())
    location = registries.parse_url(f"oci://{secure_registry.host}/charts")
    async with aiohttp.ClientSession() as session:
        for password, works in ((secure_registry.password, True), ("wrong", False)):
            connection = transport.Connection(
                host=secure_registry.host,
                ssl_context=context,
                credentials=credentials.Credentials(
                    username=secure_registry.username, password=password
                ),
            )
            oci = client.Client(session, connection, token_cache=tokens.TokenCache())
            if works:
                version = await registries.resolve_version(oci, location, "private", "1.x")
                pulled = await registries.pull(
                    oci, location, "private", version, limits=charts.Limits()
                )
                assert pulled.data == archive.read_bytes()
            else:
                with pytest.raises(oci_errors.UnauthorizedError):
                    await registries.resolve_version(oci, location, "private", "1.x")
