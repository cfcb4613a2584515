"""Charts as tar + YAML: Helm's refusals, values merging, version metadata, packaging."""

from __future__ import annotations

import gzip
import io
import pathlib
import tarfile

import helm_python as helm
import pytest
import yaml

from controllers.source.helm import charts, errors
from tests.fixtures import chartrepos


def _archive(files: dict[str, bytes], top: str = "demo") -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for path, data in files.items():
            info = tarfile.TarInfo(f"{top}/{path}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _chart_yaml(**fields: object) -> bytes:
    return yaml.safe_dump(
        {"apiVersion": "v2", "name": "demo", "version": "1.0.0", **fields}
    ).encode()


@pytest.mark.parametrize(
    "files",
    [
        {"values.yaml": b"{}"},
        {"Chart.yaml": _chart_yaml(name="")},
        {"Chart.yaml": _chart_yaml(name="a/b")},
        {"Chart.yaml": _chart_yaml(version="")},
        {"Chart.yaml": _chart_yaml(version="one")},
        {"Chart.yaml": _chart_yaml(type="plugin")},
    ],
    ids=["no-chart-yaml", "no-name", "bad-name", "no-version", "bad-version", "bad-type"],
)
def test_what_helm_refuses_is_refused_with_helms_message(files: dict[str, bytes]) -> None:
    archive = _archive(files)
    with pytest.raises(helm.HelmError) as helm_refused:
        helm.Chart.load_archive(archive)
    for read in (charts.from_archive, charts.check_archive):
        with pytest.raises(errors.HelmError) as refused:
            read(archive, charts.Limits())
        assert refused.value.message == str(helm_refused.value)


def test_checking_an_archive_refuses_what_reading_it_refuses() -> None:
    big = _archive({"Chart.yaml": _chart_yaml(), "big.txt": b"x" * 2000})
    outside = _archive({"Chart.yaml": _chart_yaml(), "../evil.yaml": b"x"})
    whole = gzip.decompress(_archive({"Chart.yaml": _chart_yaml(), "data": b"y" * 4000}))
    cut = gzip.compress(whole[:2048])  # a complete gzip stream of a tar cut in a file
    cases = [
        (big, charts.Limits(max_file_size=1000), "exceeds the maximum chart file size of 1000"),
        (big, charts.Limits(max_size=1500, max_file_size=5000), "maximum chart size of 1500"),
        (outside, charts.Limits(), "content outside the base directory"),
        (cut, charts.Limits(), "unexpected end of data"),
    ]
    for archive, limits, message in cases:
        for read in (charts.from_archive, charts.check_archive):
            with pytest.raises(errors.HelmError, match=message):
                read(archive, limits)


def test_checking_an_archive_reads_only_its_metadata(tmp_path: pathlib.Path) -> None:
    archive = chartrepos.package(tmp_path / "src", tmp_path / "out", "demo", "1.2.3")
    metadata = charts.check_archive(archive.read_bytes(), charts.Limits())
    assert (metadata["name"], metadata["version"], metadata["apiVersion"]) == (
        "demo",
        "1.2.3",
        "v2",
    )


def test_an_api_version_helm_3_does_not_know_is_refused() -> None:
    # NB: Helm 4's loader (the SDK) accepts v3; Flux builds with Helm 3, which does not.
    with pytest.raises(errors.HelmError) as refused:
        charts.from_archive(_archive({"Chart.yaml": _chart_yaml(apiVersion="v3")}), charts.Limits())
    assert refused.value.message == (
        'apiVersion \'v3\' is not valid. The value must be either "v1" or "v2"'
    )


def test_a_chart_the_helm_sdk_packaged_reads_back(tmp_path: pathlib.Path) -> None:
    source = tmp_path / "demo"
    (source / "templates").mkdir(parents=True)
    (source / "Chart.yaml").write_bytes(_chart_yaml(version="6.0.3"))
    (source / "values.yaml").write_text("replicas: 1\n")
    (source / "templates" / "cm.yaml").write_text("kind: ConfigMap\n")
    archive = pathlib.Path(helm.package(source, destination=tmp_path))

    chart = charts.from_archive(archive.read_bytes(), charts.Limits())

    assert (chart.name, chart.version) == ("demo", "6.0.3")
    assert set(chart.files) >= {"Chart.yaml", "values.yaml", "templates/cm.yaml"}


def test_values_files_merge_deeply_in_order_and_the_sdk_loads_the_package(
    tmp_path: pathlib.Path,
) -> None:
    chart = charts.from_archive(
        _archive(
            {
                "Chart.yaml": _chart_yaml(version="6.0.3"),
                "values.yaml": b"image: {repo: a, tag: '1'}\nreplicas: 1\n",
                "values-prod.yaml": b"image: {tag: '2'}\nreplicas: 3\n",
            }
        ),
        charts.Limits(),
    )

    chart.merge_values(["values.yaml", "values-prod.yaml"], ignore_missing=False)
    chart.set_version_metadata("4")
    packaged = tmp_path / "demo.tgz"
    packaged.write_bytes(chart.package())

    loaded = helm.Chart.load(packaged)
    assert loaded.version == "6.0.3+4"
    assert loaded.values == {"image": {"repo": "a", "tag": "2"}, "replicas": 3}
    assert chart.values_files == ["values.yaml", "values-prod.yaml"]


def test_a_missing_values_file_fails_unless_ignored() -> None:
    archive = _archive({"Chart.yaml": _chart_yaml(), "values.yaml": b"a: 1\n"})
    chart = charts.from_archive(archive, charts.Limits())
    with pytest.raises(errors.BuildError) as failed:
        chart.merge_values(["values.yaml", "nope.yaml"], ignore_missing=False)
    assert (
        failed.value.message == "values files merge error: no values file found at path 'nope.yaml'"
    )
    assert failed.value.why.reason == "ValuesFilesError"

    chart.merge_values(["values.yaml", "nope.yaml"], ignore_missing=True)
    assert chart.values_files == ["values.yaml"]


def test_size_limits_refuse_large_charts_and_files() -> None:
    archive = _archive({"Chart.yaml": _chart_yaml(), "big.txt": b"x" * 2000})
    with pytest.raises(errors.HelmError, match="exceeds the maximum chart file size of 1000"):
        charts.from_archive(archive, charts.Limits(max_file_size=1000))
    with pytest.raises(errors.HelmError, match="exceeds the maximum chart size of 1500"):
        charts.from_archive(archive, charts.Limits(max_size=1500, max_file_size=5000))


def test_an_archive_that_inflates_past_the_bound_is_refused_before_it_is_read() -> None:
    # 64 KiB of gzip inflating to 64 MiB: far past 2 x max_size + 1 MiB.
    bomb = gzip.compress(b"\0" * (64 << 20))
    inflater = charts.Inflater(charts.Limits(max_size=1 << 20))
    with pytest.raises(errors.HelmError, match="exceeds the maximum chart size of 1048576"):
        inflater.feed(bomb)


def test_an_archive_fed_in_chunks_reads_as_the_whole() -> None:
    archive = _archive({"Chart.yaml": _chart_yaml(), "values.yaml": b"replicas: 2\n"})
    inflater = charts.Inflater(charts.Limits())
    for start in range(0, len(archive), 7):
        inflater.feed(archive[start : start + 7])
    chart = charts.from_archive(archive, charts.Limits(), tar=inflater.finish())
    assert chart.files["values.yaml"] == b"replicas: 2\n"
    cut = charts.Inflater(charts.Limits())
    cut.feed(archive[:-8])
    with pytest.raises(errors.HelmError, match="unexpected end of data"):
        cut.finish()
    with pytest.raises(errors.HelmError, match="failed to read chart archive"):
        charts.from_archive(b"\x1f\x8bnot gzip at all", charts.Limits())


def test_file_dependencies_are_packaged_into_charts(tmp_path: pathlib.Path) -> None:
    (tmp_path / "charts" / "app").mkdir(parents=True)
    (tmp_path / "charts" / "lib").mkdir(parents=True)
    (tmp_path / "charts" / "app" / "Chart.yaml").write_bytes(
        _chart_yaml(
            name="app",
            dependencies=[{"name": "lib", "version": "0.1.0", "repository": "file://../lib"}],
        )
    )
    (tmp_path / "charts" / "lib" / "Chart.yaml").write_bytes(
        _chart_yaml(name="lib", version="0.1.0")
    )

    chart = charts.from_directory(tmp_path, "charts/app", charts.Limits())
    missing = charts.build_local_dependencies(
        chart, root=tmp_path, path="charts/app", limits=charts.Limits()
    )

    assert missing == []
    assert "charts/lib-0.1.0.tgz" in chart.files
    packaged = tmp_path / "app.tgz"
    packaged.write_bytes(chart.package())
    assert [d["name"] for d in helm.Chart.load(packaged).dependencies] == ["lib"]


def test_repository_dependencies_are_returned_unless_vendored(tmp_path: pathlib.Path) -> None:
    redis = {"name": "redis", "version": "1.x", "repository": "https://charts.example"}
    nginx = {"name": "nginx", "version": "2.x", "repository": "https://charts.example"}
    (tmp_path / "app" / "charts" / "nginx").mkdir(parents=True)
    (tmp_path / "app" / "Chart.yaml").write_bytes(
        _chart_yaml(name="app", dependencies=[redis, nginx])
    )
    (tmp_path / "app" / "charts" / "nginx" / "Chart.yaml").write_bytes(
        _chart_yaml(name="nginx", version="2.0.0")
    )
    chart = charts.from_directory(tmp_path, "app", charts.Limits())
    missing = charts.build_local_dependencies(
        chart, root=tmp_path, path="app", limits=charts.Limits()
    )
    assert missing == [redis]


def test_a_sub_charts_repository_dependency_must_be_vendored(tmp_path: pathlib.Path) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "lib").mkdir()
    (tmp_path / "app" / "Chart.yaml").write_bytes(
        _chart_yaml(name="app", dependencies=[{"name": "lib", "repository": "file://../lib"}])
    )
    (tmp_path / "lib" / "Chart.yaml").write_bytes(
        _chart_yaml(name="lib", dependencies=[{"name": "x", "repository": "https://e.example"}])
    )
    chart = charts.from_directory(tmp_path, "app", charts.Limits())
    with pytest.raises(errors.BuildError) as failed:
        charts.build_local_dependencies(chart, root=tmp_path, path="app", limits=charts.Limits())
    assert failed.value.why.reason == "DependencyBuildError"


def test_a_chart_path_outside_the_source_is_refused(tmp_path: pathlib.Path) -> None:
    (tmp_path / "src").mkdir()
    with pytest.raises(errors.HelmError, match="outside the source"):
        charts.from_directory(tmp_path / "src", "../", charts.Limits())


def test_values_files_of_a_source_tree_stay_inside_it(tmp_path: pathlib.Path) -> None:
    (tmp_path / "src" / "env").mkdir(parents=True)
    (tmp_path / "src" / "env" / "prod.yaml").write_text("replicas: 5\n")
    (tmp_path / "secret.yaml").write_text("token: x\n")

    found = charts.read_files(tmp_path / "src", ["env/prod.yaml", "env/none.yaml"], charts.Limits())
    assert found == {"env/prod.yaml": b"replicas: 5\n"}
    with pytest.raises(errors.BuildError, match="outside the source"):
        charts.read_files(tmp_path / "src", ["../secret.yaml"], charts.Limits())
