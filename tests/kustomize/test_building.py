"""Building with the real ``kubectl kustomize``: generation, overlays, post-build, failures."""

from __future__ import annotations

import copy
import dataclasses
import os
import pathlib
import sys
import textwrap
from typing import Any

import pyrage
import pytest

from controllers.kustomize import building, decrypting
from shared.api import kustomize
from shared.kube import manifests
from tests.fixtures import recording
from tests.kustomize import sops_vectors

KUBECTL = str(pathlib.Path(sys.executable).parent / "kubectl")
OPTIONS = building.Options(kubectl=KUBECTL, timeout=60)

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    team: own
spec:
  replicas: ${replicas:=1}
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.25
"""


def _spec(**fields: Any) -> kustomize.KustomizationSpec:
    base = {"interval": "1m", "prune": True, "sourceRef": {"kind": "GitRepository", "name": "s"}}
    return kustomize.KustomizationSpec.model_validate({**base, **fields})


def _write(root: pathlib.Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


def _by_name(build: building.Build) -> dict[str, dict[str, Any]]:
    return {obj["metadata"]["name"]: obj for obj in build.objects}


def test_generate_lists_manifests_and_kustomization_dirs(tmp_path: pathlib.Path) -> None:
    _write(
        tmp_path,
        {
            "b.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n",
            "a/c.yml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
            "a/notes.txt": "ignored",
            "base/kustomization.yaml": "resources: [d.yaml]\n",
            "base/d.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: d}\n",
        },
    )
    assert building.generate(tmp_path, root=tmp_path) is True
    [document] = manifests.load_all((tmp_path / "kustomization.yaml").read_text())
    assert document["resources"] == ["./a/c.yml", "./b.yaml", "./base"]
    assert building.generate(tmp_path, root=tmp_path) is False


def test_generate_refuses_undecodable_yaml(tmp_path: pathlib.Path) -> None:
    _write(tmp_path, {"bad.yaml": "a: [\n"})
    with pytest.raises(building.BuildError, match="failed to decode Kubernetes YAML from"):
        building.generate(tmp_path, root=tmp_path)


async def test_overlays_and_post_build(tmp_path: pathlib.Path) -> None:
    _write(
        tmp_path,
        {
            "app/deploy.yaml": DEPLOYMENT,
            "app/cm.yaml": """\
                apiVersion: v1
                kind: ConfigMap
                metadata:
                  name: cfg
                  annotations:
                    kustomize.toolkit.fluxcd.io/substitute: disabled
                data:
                  keep: ${replicas}
            """,
            "app/kustomization.yaml": """\
                resources: [deploy.yaml, cm.yaml]
                namePrefix: own-
                images:
                - name: nginx
                  newTag: "1.26"
            """,
            "components/extra/kustomization.yaml": """\
                apiVersion: kustomize.config.k8s.io/v1alpha1
                kind: Component
                resources: [svc.yaml]
            """,
            "components/extra/svc.yaml": """\
                apiVersion: v1
                kind: Service
                metadata:
                  name: svc
                spec:
                  ports: [{port: 80}]
            """,
        },
    )
    spec = _spec(
        path="./app",
        targetNamespace="prod",
        namePrefix="ks-",
        nameSuffix="-v1",
        images=[{"name": "nginx", "newTag": "1.27"}],
        patches=[
            {
                "patch": "- op: add\n  path: /metadata/annotations\n  value: {patched: 'yes'}\n",
                "target": {"kind": "Deployment"},
            }
        ],
        components=["../components/extra", "../components/missing"],
        ignoreMissingComponents=True,
        postBuild={"substitute": {"replicas": "3"}},
        commonMetadata={"labels": {"team": "platform"}, "annotations": {"owner": "ops"}},
    )
    build = await building.build(tmp_path, spec, options=OPTIONS, variables={"replicas": "3"})
    objects = _by_name(build)
    assert set(objects) == {"ks-own-web-v1", "ks-own-cfg-v1", "ks-own-svc-v1"}
    web = objects["ks-own-web-v1"]
    assert web["metadata"]["namespace"] == "prod"
    assert web["spec"]["replicas"] == 3
    assert web["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"
    assert web["metadata"]["annotations"] == {"patched": "yes", "owner": "ops"}
    assert web["metadata"]["labels"] == {"team": "platform"}
    assert objects["ks-own-cfg-v1"]["data"] == {"keep": "${replicas}"}
    assert build.digest.startswith("sha256:")
    assert manifests.load_all(build.manifests) == build.objects


async def test_missing_component_fails_without_ignore(tmp_path: pathlib.Path) -> None:
    _write(tmp_path, {"deploy.yaml": DEPLOYMENT})
    with pytest.raises(building.BuildError, match=r"kustomize build failed: .*missing"):
        await building.build(tmp_path, _spec(components=["missing"]), options=OPTIONS)


async def test_build_metadata_is_passed_to_kustomize(tmp_path: pathlib.Path) -> None:
    _write(tmp_path, {"deploy.yaml": DEPLOYMENT})
    build = await building.build(
        tmp_path, _spec(buildMetadata=["originAnnotations"]), options=OPTIONS
    )
    assert "config.kubernetes.io/origin" in build.objects[0]["metadata"]["annotations"]


async def test_kustomize_errors_are_kept(tmp_path: pathlib.Path) -> None:
    _write(tmp_path, {"kustomization.yaml": "resources: [absent.yaml]\n"})
    with pytest.raises(building.BuildError) as caught:
        await building.build(tmp_path, _spec(), options=OPTIONS)
    message = str(caught.value)
    assert message.startswith("kustomize build failed: ")
    assert "absent.yaml" in message


async def test_load_restrictor_is_on(tmp_path: pathlib.Path) -> None:
    _write(
        tmp_path,
        {
            "shared/patch.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n",
            "app/deploy.yaml": DEPLOYMENT,
            "app/kustomization.yaml": (
                "resources: [deploy.yaml]\npatches:\n- path: ../shared/patch.yaml\n"
            ),
        },
    )
    with pytest.raises(building.BuildError, match=r"security; file .* is not in or below"):
        await building.build(tmp_path, _spec(path="app"), options=OPTIONS)


@pytest.mark.parametrize(
    "reference",
    [
        "https://github.com/example/repo//deploy?ref=v1",
        "github.com/example/repo/deploy?ref=main",
        "git@github.com:example/repo.git",
        "git::https://example.com/repo.git//deploy",
    ],
)
async def test_remote_bases_are_refused(tmp_path: pathlib.Path, reference: str) -> None:
    _write(tmp_path, {"kustomization.yaml": f"resources: ['{reference}']\n"})
    with pytest.raises(building.BuildError) as caught:
        await building.build(tmp_path, _spec(), options=OPTIONS)
    assert str(caught.value) == (
        f"kustomize build failed: kustomization.yaml: resources: remote reference "
        f"'{reference}' is not allowed (--no-remote-bases)"
    )


async def test_escapes_are_refused_before_kustomize_runs(tmp_path: pathlib.Path) -> None:
    ran = tmp_path / "ran"
    kubectl = tmp_path / "kubectl"
    kubectl.write_text(f"#!/bin/sh\ntouch {ran}\n")
    kubectl.chmod(0o755)
    _write(
        tmp_path,
        {
            "host/kustomization.yaml": "resources: []\n",
            "root/app/kustomization.yaml": "resources: [../../host]\ncrds: [/etc/hostname]\n",
        },
    )
    options = building.Options(kubectl=str(kubectl), allow_remote_bases=True)
    with pytest.raises(building.BuildError) as caught:
        await building.build(tmp_path / "root", _spec(path="app"), options=options)
    assert str(caught.value) == (
        "kustomize build failed: "
        "app/kustomization.yaml: resources: '../../host' is not in or below the artifact root; "
        "app/kustomization.yaml: crds: '/etc/hostname' is not in or below the artifact root"
    )
    assert not ran.exists()


CONFIGMAP = b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: fetched}\n"
ANNOTATE = b"""apiVersion: builtin
kind: AnnotationsTransformer
metadata: {name: a}
annotations: {fetched: "yes"}
fieldSpecs: [{path: metadata/annotations, create: true}]
"""


@pytest.mark.parametrize(
    ("kustomization", "builds"),
    [
        ("resources: ['{url}/cm.yaml']\n", True),
        ("resources: [cm.yaml]\ntransformers: ['{url}/t.yaml']\n", True),
        ("resources: ['git::{url}/repo.git']\n", False),  # git asks, gets a 404
    ],
    ids=["resource", "transformer", "git"],
)
async def test_kustomize_cannot_reach_the_network_when_a_check_misses(
    tmp_path: pathlib.Path, kustomization: str, builds: bool
) -> None:
    """Defence in depth: run_kustomize itself (no confinement check) cannot fetch."""
    with recording.serving({"/cm.yaml": CONFIGMAP, "/t.yaml": ANNOTATE}) as server:
        _write(
            tmp_path,
            {
                "kustomization.yaml": kustomization.format(url=server.url),
                "cm.yaml": CONFIGMAP.decode(),
            },
        )
        with pytest.raises(building.BuildError, match="kustomize build failed: "):
            await building.run_kustomize(tmp_path, options=OPTIONS)
        assert server.requests == []
        # The same build with remote bases allowed does fetch: the server is reachable.
        allowed = dataclasses.replace(OPTIONS, allow_remote_bases=True)
        if builds:
            output = await building.run_kustomize(tmp_path, options=allowed)
            assert "fetched" in output
        else:
            with pytest.raises(building.BuildError):
                await building.run_kustomize(tmp_path, options=allowed)
        assert server.requests


def test_kustomize_env_without_remote_bases() -> None:
    env = building._kustomize_env(allow_remote_bases=False, home="/scratch")
    for scheme in ("http", "https", "all", "ftp", "socks"):
        assert env[f"{scheme}_proxy"] == env[f"{scheme.upper()}_PROXY"] == "http://127.0.0.1:9"
    assert env["NO_PROXY"] == env["no_proxy"] == ""
    assert (env["GIT_CONFIG_KEY_0"], env["GIT_CONFIG_VALUE_0"]) == ("protocol.allow", "never")
    assert env["HOME"] == env["XDG_CONFIG_HOME"] == "/scratch"
    assert env["GIT_CONFIG_GLOBAL"] == os.devnull
    allowed = building._kustomize_env(allow_remote_bases=True, home="/scratch")
    assert not any(key.lower().endswith("proxy") for key in allowed)
    assert "GIT_CONFIG_COUNT" not in allowed


@pytest.mark.parametrize(
    ("path", "error"),
    [("../outside", building.BuildError), ("./nope", building.PathNotFoundError)],
)
async def test_bad_paths(tmp_path: pathlib.Path, path: str, error: type[Exception]) -> None:
    (tmp_path / "root").mkdir()
    with pytest.raises(error):
        await building.build(tmp_path / "root", _spec(path=path), options=OPTIONS)


async def test_objects_without_identity_are_refused(tmp_path: pathlib.Path) -> None:
    _write(tmp_path, {"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n"})
    with pytest.raises(building.BuildError):
        await building.build(tmp_path, _spec(), options=OPTIONS)


async def test_substitution_errors_name_the_object(tmp_path: pathlib.Path) -> None:
    _write(
        tmp_path,
        {"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: '${x'}\n"},
    )
    with pytest.raises(building.BuildError) as caught:
        await building.build(
            tmp_path,
            _spec(postBuild={"substitute": {"y": "1"}}),
            options=OPTIONS,
            variables={"y": "1"},
        )
    assert str(caught.value) == (
        "post build failed for 'c': YAMLToJSON: variable substitution failed: missing closing brace"
    )


async def test_timeout_kills_kustomize(tmp_path: pathlib.Path) -> None:
    slow = tmp_path / "slow-kubectl"
    pidfile = tmp_path / "pid"
    slow.write_text(f"#!/bin/sh\necho $$ > {pidfile}\nexec sleep 30\n")
    slow.chmod(0o755)
    _write(tmp_path, {"app/deploy.yaml": DEPLOYMENT})
    options = building.Options(kubectl=str(slow), timeout=0.5)
    with pytest.raises(building.BuildError, match=r"timed out after 0.5s"):
        await building.build(tmp_path, _spec(path="app"), options=options)
    assert _gone(int(pidfile.read_text()))


def _gone(pid: int) -> bool:
    """The process exited (or is a zombie awaiting its reaper)."""
    stat = pathlib.Path(f"/proc/{pid}/stat")
    return not stat.exists() or stat.read_text().split()[2] == "Z"


IDENTITY = pyrage.x25519.Identity.generate()
KEYS = decrypting.Keys(age=(IDENTITY,))
SECRET = {
    "apiVersion": "v1",
    "kind": "Secret",
    "metadata": {"name": "db"},
    "type": "Opaque",
    "stringData": {"password": "hunter2", "port": 5432},
}


def _encrypted_secret() -> dict[str, Any]:
    return sops_vectors.encrypt(
        copy.deepcopy(SECRET), [IDENTITY.to_public()], encrypted_regex="^stringData$"
    )


async def test_encrypted_manifests_are_decrypted_after_the_build(tmp_path: pathlib.Path) -> None:
    (tmp_path / "secret.yaml").write_text(manifests.dump(_encrypted_secret()))
    build = await building.build(
        tmp_path,
        _spec(targetNamespace="prod", decryption={"provider": "sops"}),
        options=OPTIONS,
        keys=KEYS,
    )
    [secret] = build.objects
    assert secret["stringData"] == {"password": "hunter2", "port": 5432}
    assert secret["metadata"] == {"name": "db", "namespace": "prod"}
    assert "sops" not in secret


async def test_tampered_encrypted_file_fails_its_mac(tmp_path: pathlib.Path) -> None:
    tampered = _encrypted_secret()
    tampered["type"] = "kubernetes.io/basic-auth"
    (tmp_path / "secret.yaml").write_text(manifests.dump(tampered))
    with pytest.raises(
        building.BuildError, match=r"decryption failed for 'db': secret.yaml: Failed to verify"
    ):
        await building.build(tmp_path, _spec(), options=OPTIONS, keys=KEYS)


async def test_without_keys_encrypted_objects_pass_through(tmp_path: pathlib.Path) -> None:
    (tmp_path / "secret.yaml").write_text(manifests.dump(_encrypted_secret()))
    build = await building.build(tmp_path, _spec(), options=OPTIONS)
    assert decrypting.is_encrypted(build.objects[0])


async def test_encrypted_generator_sources_are_decrypted(tmp_path: pathlib.Path) -> None:
    encrypted = sops_vectors.encrypt({"USER": "admin"}, [IDENTITY.to_public()])
    stanza = encrypted.pop("sops")
    lines = [f"{k}={v}" for k, v in encrypted.items()]
    for key, value in stanza.pop("age")[0].items():
        lines.append(f"sops_age__list_0__map_{key}=" + value.replace("\n", "\\n"))
    lines += [f"sops_{k}={v}" for k, v in stanza.items()]
    _write(
        tmp_path,
        {
            "creds.env": "\n".join(lines) + "\n",
            "kustomization.yaml": """\
                secretGenerator:
                - name: creds
                  envs: [creds.env]
                generatorOptions:
                  disableNameSuffixHash: true
            """,
        },
    )
    build = await building.build(tmp_path, _spec(), options=OPTIONS, keys=KEYS)
    assert build.objects[0]["data"] == {"USER": "YWRtaW4="}
