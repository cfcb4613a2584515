"""``headwater artifact push|pull|tag|list`` as subprocesses against a real registry."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
import urllib.request

import pytest

from shared.oci import mediatypes
from tests.fixtures import registry as registry_fixtures

registry = registry_fixtures.registry


def _headwater(*args: str, env_home: pathlib.Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "headwater.cli.main", "artifact", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "HOME": str(env_home), "PYTHONPATH": str(pathlib.Path.cwd())},
    )


def _manifest(reg: registry_fixtures.Registry, repository: str, tag: str) -> dict[str, object]:
    request = urllib.request.Request(
        f"{reg.url}/v2/{repository}/manifests/{tag}",
        headers={"Accept": mediatypes.OCI_MANIFEST},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        document: dict[str, object] = json.load(answer)
        return document


def test_push_pull_tag_list_round_trip(
    registry: registry_fixtures.Registry, tmp_path: pathlib.Path
) -> None:
    content = tmp_path / "manifests"
    (content / "apps").mkdir(parents=True)
    (content / "apps" / "cm.yaml").write_text("kind: ConfigMap\n")
    (content / "kustomization.yaml").write_text("resources: [apps/cm.yaml]\n")
    url = f"oci://{registry.host}/cli/app"

    pushed = _headwater(
        "push", f"{url}:v1", "--path", str(content), "--insecure",
        "--source", "https://example.org/app.git", "--revision", "main@sha1:abc123",
        env_home=tmp_path,
    )  # fmt: skip

    assert pushed.returncode == 0, pushed.stderr
    assert pushed.stdout.startswith(f"pushed {registry.host}/cli/app:v1@sha256:")
    manifest = _manifest(registry, "cli/app", "v1")
    assert manifest["config"]["mediaType"] == mediatypes.FLUX_CONFIG  # type: ignore[index]
    assert [layer["mediaType"] for layer in manifest["layers"]] == [  # type: ignore[attr-defined]
        mediatypes.FLUX_CONTENT
    ]
    annotations = manifest["annotations"]
    assert annotations[mediatypes.SOURCE_ANNOTATION] == "https://example.org/app.git"  # type: ignore[index]
    assert annotations[mediatypes.REVISION_ANNOTATION] == "main@sha1:abc123"  # type: ignore[index]
    assert annotations[mediatypes.CREATED_ANNOTATION].endswith("Z")  # type: ignore[index]

    tagged = _headwater("tag", f"{url}:v1", "--tag", "stable", "--insecure", env_home=tmp_path)
    assert tagged.returncode == 0, tagged.stderr
    output = tmp_path / "out"
    pulled = _headwater("pull", f"{url}:stable", "--output", str(output), "--insecure",
                        env_home=tmp_path)  # fmt: skip
    assert pulled.returncode == 0, pulled.stderr
    assert (output / "apps" / "cm.yaml").read_text() == "kind: ConfigMap\n"
    assert (output / "kustomization.yaml").read_text() == "resources: [apps/cm.yaml]\n"

    listed = _headwater("list", url, "--insecure", env_home=tmp_path)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    digest = pushed.stdout.strip().rpartition("@")[2]
    assert lines[0].split() == ["ARTIFACT", "DIGEST", "SOURCE", "REVISION"]
    assert [line.split() for line in lines[1:]] == [
        [
            f"{registry.host}/cli/app:{tag}",
            digest,
            "https://example.org/app.git",
            "main@sha1:abc123",
        ]
        for tag in ("stable", "v1")
    ]


def test_push_of_one_file_holds_that_file(
    registry: registry_fixtures.Registry, tmp_path: pathlib.Path
) -> None:
    single = tmp_path / "deploy.yaml"
    single.write_text("kind: Namespace\n")
    url = f"oci://{registry.host}/cli/single:latest"
    pushed = _headwater("push", url, "--path", str(single), "--insecure", "--source", "s",
                        "--revision", "r", env_home=tmp_path)  # fmt: skip
    assert pushed.returncode == 0, pushed.stderr

    pulled = _headwater("pull", url, "-o", str(tmp_path / "out"), "--insecure", env_home=tmp_path)
    assert pulled.returncode == 0, pulled.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["deploy.yaml"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("pull", "oci://{host}/cli/missing:v9", "-o", "{tmp}/o"), "404"),
        (("push", "oci://{host}/cli/app", "--path", "{tmp}", "--source", "s", "--revision", "r"),
         "needs a tag"),
        (("push", "oci://{host}/cli/app:v1", "--path", "{tmp}/nowhere", "--source", "s",
          "--revision", "r"), "does not exist"),
    ],
)  # fmt: skip
def test_failures_print_one_line_and_exit_1(
    registry: registry_fixtures.Registry,
    tmp_path: pathlib.Path,
    args: tuple[str, ...],
    message: str,
) -> None:
    filled = [a.format(host=registry.host, tmp=tmp_path) for a in args]
    result = _headwater(*filled, "--insecure", env_home=tmp_path)

    assert result.returncode == 1
    assert message in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert "Traceback" not in result.stderr
