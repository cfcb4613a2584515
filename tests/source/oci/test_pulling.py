"""``pulling``: refs resolved, layers selected and stored, against a real registry."""

from __future__ import annotations

import gzip
import io
import pathlib
import tarfile

import pytest

from controllers.source.ocirepository import pulling
from shared.api import source
from shared.artifacts import extracting, storage
from shared.oci import client, manifests, mediatypes, references
from tests.fixtures import registry as registry_fixtures

registry = registry_fixtures.registry


def _tar_gz(files: dict[str, bytes]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue())


async def _push(
    oci: client.Client, repository: str, tag: str, layers: list[tuple[str, bytes]]
) -> manifests.Descriptor:
    config = await oci.push_blob(repository, b"{}", media_type=mediatypes.FLUX_CONFIG)
    pushed = [await oci.push_blob(repository, data, media_type=kind) for kind, data in layers]
    data = manifests.image_manifest(
        config=config, layers=pushed, annotations={mediatypes.REVISION_ANNOTATION: tag}
    )
    return await oci.push_manifest(repository, tag, data, media_type=mediatypes.OCI_MANIFEST)


def _ref(registry: registry_fixtures.Registry, repository: str) -> references.Reference:
    return pulling.parse_url(f"oci://{registry.host}/{repository}")


def test_pick_semver_honours_the_filter_and_prereleases() -> None:
    tags = ["1.0.0", "1.2.0", "2.0.0-rc.1", "v1.3.0", "1.4.0-dev", "latest"]

    assert pulling.pick_semver(tags, ">=1.0.0", None, "u") == "v1.3.0"
    assert pulling.pick_semver(tags, ">=1.0.0", r"^\d", "u") == "1.2.0"
    assert pulling.pick_semver(tags, ">=2.0.0-0", None, "u") == "2.0.0-rc.1"
    with pytest.raises(pulling.PullError, match="no tag of 'u' matches semver '>=3'"):
        pulling.pick_semver(tags, ">=3", None, "u")
    with pytest.raises(pulling.PullError, match="semverFilter") as invalid:
        pulling.pick_semver(tags, "*", "(", "u")
    assert invalid.value.stalling


@pytest.mark.parametrize("url", ["oci://host/repo:v1", "oci://host/repo@sha256:" + "a" * 64])
def test_url_with_a_tag_or_digest_stalls(url: str) -> None:
    with pytest.raises(pulling.PullError, match="must not carry a tag or digest") as refused:
        pulling.parse_url(url)
    assert refused.value.stalling
    assert refused.value.reason == "URLInvalid"


async def test_refs_resolve_to_flux_revisions(
    oci: client.Client, registry: registry_fixtures.Registry
) -> None:
    layer = _tar_gz({"a.yaml": b"a: 1\n"})
    one = await _push(oci, "pull/refs", "1.0.0", [(mediatypes.FLUX_CONTENT, layer)])
    latest = await _push(oci, "pull/refs", "latest", [(mediatypes.FLUX_CONTENT, _tar_gz({}))])
    ref = _ref(registry, "pull/refs")

    by_tag = await pulling.resolve(oci, ref, None)
    by_semver = await pulling.resolve(oci, ref, source.OCIRepositoryRef(semver="1.x"))
    by_digest = await pulling.resolve(oci, ref, source.OCIRepositoryRef(digest=one.digest))

    assert by_tag.revision == f"latest@{latest.digest}"
    assert by_semver.revision == f"1.0.0@{one.digest}"
    assert by_digest.revision == one.digest


async def test_extract_applies_ignore_and_copy_keeps_the_layer(
    oci: client.Client, registry: registry_fixtures.Registry, store: storage.Storage,
    tmp_path: pathlib.Path,
) -> None:  # fmt: skip
    manifests_layer = _tar_gz({"deploy/app.yaml": b"kind: A\n", "deploy/notes.md": b"# n\n"})
    chart = b"not a tarball, copied as is"
    await _push(
        oci, "pull/layers", "v1",
        [(mediatypes.FLUX_CONTENT, manifests_layer), ("application/x-chart", chart)],
    )  # fmt: skip
    ref = _ref(registry, "pull/layers")
    resolved = await pulling.resolve(oci, ref, source.OCIRepositoryRef(tag="v1"))
    manifest = await pulling.manifest_of(oci, resolved)
    key = storage.ObjectKey(kind="OCIRepository", namespace="ns", name="layers")

    extracted, _ = await pulling.pull(
        oci, store=store, key=key, resolved=resolved, manifest=manifest,
        spec=source.OCIRepositorySpec(url=f"oci://{ref}", interval="1h", ignore="*.md"),
    )  # fmt: skip
    tree = tmp_path / "tree"
    extracting.extract(store.local_path(extracted.path), tree)
    assert [p.relative_to(tree).as_posix() for p in tree.rglob("*") if p.is_file()] == [
        "deploy/app.yaml"
    ]
    assert extracted.revision == resolved.revision
    assert extracted.metadata == {mediatypes.REVISION_ANNOTATION: "v1"}

    copied, _ = await pulling.pull(
        oci, store=store, key=key, resolved=resolved, manifest=manifest,
        spec=source.OCIRepositorySpec(
            url=f"oci://{ref}", interval="1h",
            layer_selector=source.OCILayerSelector(
                media_type="application/x-chart", operation="copy"
            ),
        ),
    )  # fmt: skip
    assert store.local_path(copied.path).read_bytes() == chart

    with pytest.raises(pulling.PullError, match="no layer with media type 'x/y'") as missing:
        pulling.select_layer(manifest, source.OCILayerSelector(media_type="x/y"))
    assert missing.value.reason == "OCIArtifactLayerOperationFailed"


async def test_an_index_yields_its_linux_amd64_image_and_a_bad_layer_fails(
    oci: client.Client, registry: registry_fixtures.Registry, store: storage.Storage
) -> None:
    arm = await _push(oci, "pull/index", "arm", [(mediatypes.OCI_LAYER_TAR_GZIP, b"garbage")])
    amd = await _push(oci, "pull/index", "amd", [(mediatypes.OCI_LAYER_TAR_GZIP, b"garbage")])
    index = manifests.image_index(
        [
            manifests.Descriptor(arm.media_type, arm.digest, arm.size,
                                 platform={"os": "linux", "architecture": "arm64"}),
            manifests.Descriptor(amd.media_type, amd.digest, amd.size,
                                 platform={"os": "linux", "architecture": "amd64"}),
        ]
    )  # fmt: skip
    await oci.push_manifest("pull/index", "multi", index, media_type=mediatypes.OCI_INDEX)
    ref = _ref(registry, "pull/index")
    resolved = await pulling.resolve(oci, ref, source.OCIRepositoryRef(tag="multi"))

    manifest = await pulling.manifest_of(oci, resolved)

    assert manifest.digest == amd.digest
    with pytest.raises(pulling.PullError, match="extracting layer") as broken:
        await pulling.pull(
            oci, store=store, key=storage.ObjectKey(kind="OCIRepository", namespace="n", name="i"),
            resolved=resolved, manifest=manifest,
            spec=source.OCIRepositorySpec(url=f"oci://{ref}", interval="1h"),
        )  # fmt: skip
    assert broken.value.reason == "OCIArtifactLayerOperationFailed"
