"""The headwater command line, run as a real subprocess."""

from __future__ import annotations

import importlib.metadata
import pathlib
import subprocess
import sys

from ruamel.yaml import YAML

from shared.api import registry
from tests.fixtures import devcluster as devcluster_fixtures
from tests.fixtures.polling import eventually_sync


def _headwater(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "headwater.cli.main", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_version_client_names_itself_and_the_flux_api_groups() -> None:
    result = _headwater("version", "--client", "--apis")

    assert result.returncode == 0, result.stderr
    printed = YAML(typ="safe").load(result.stdout)
    assert printed["headwater"] == "v" + importlib.metadata.version("headwater")
    assert printed["apis"]["source.toolkit.fluxcd.io/v1"][0] == "GitRepository"


def test_export_crds_prints_every_crd() -> None:
    result = _headwater("export", "crds")

    assert result.returncode == 0, result.stderr
    documents = list(YAML(typ="safe").load_all(result.stdout))
    assert [d["spec"]["names"]["kind"] for d in documents] == [
        k.crd.kind for k in registry.all_kinds()
    ]


def test_export_crds_selects_by_short_name() -> None:
    result = _headwater("export", "crds", "--kind", "gitrepo")

    documents = list(YAML(typ="safe").load_all(result.stdout))
    assert [d["metadata"]["name"] for d in documents] == [
        "gitrepositories.source.toolkit.fluxcd.io"
    ]


def test_export_crds_names_an_unknown_kind() -> None:
    result = _headwater("export", "crds", "--kind", "widgets")

    assert result.returncode != 0
    assert "unknown kind widgets" in result.stderr


def test_devcluster_subcommand_serves_until_sigterm(tmp_path: pathlib.Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    process = subprocess.Popen(
        [
            sys.executable, "-m", "headwater.cli.main", "devcluster",
            "--host", "127.0.0.1", "--port", str(devcluster_fixtures.free_port()),
            "--kubeconfig", str(kubeconfig), "--no-controllers",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        eventually_sync(lambda: kubeconfig.exists() or process.poll() is not None, within=30)
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        version = devcluster_fixtures.external(kubeconfig, tmp_path).kubectl("version")
        assert "Server Version" in version.stdout
    finally:
        assert devcluster_fixtures.stop(process) == 0
