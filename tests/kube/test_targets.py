"""Apply targets (``shared.kube.targets``): kubeconfig Secrets, their refusals, impersonation.

A kubeconfig read from a Secret is user input. These tests hold that an exec
plugin in it runs nothing unless the controller allows it: the plugin would
create a marker file, and the test asserts the file does not exist.
"""

from __future__ import annotations

import base64
import copy
import json
import pathlib
import shlex
from typing import Any

import pytest
import yaml

from shared.api import meta
from shared.kube import client, references, resources, targets
from tests.fixtures import devcluster as devcluster_fixtures

PLAIN: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Config",
    "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
    "users": [{"name": "u", "user": {"token": "t"}}],
    "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
    "current-context": "x",
}


def _variant(path: str, value: Any) -> dict[str, Any]:
    config = copy.deepcopy(PLAIN)
    section, field = path.split(".")
    config[section][0][section[:-1]][field] = value
    return config


EXEC = {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": "true"}


@pytest.mark.parametrize(
    ("config", "policy", "refused"),
    [
        (PLAIN, targets.Policy(), None),
        (_variant("users.exec", EXEC), targets.Policy(), "--insecure-kubeconfig-exec"),
        (_variant("users.exec", EXEC), targets.Policy(allow_exec=True), None),
        (
            _variant("users.auth-provider", {"name": "oidc"}),
            targets.Policy(),
            "--insecure-kubeconfig-exec",
        ),
        (
            _variant("clusters.insecure-skip-tls-verify", True),
            targets.Policy(),
            "--insecure-kubeconfig-tls",
        ),
        (
            _variant("clusters.insecure-skip-tls-verify", True),
            targets.Policy(allow_insecure_tls=True),
            None,
        ),
        (
            _variant("clusters.insecure-skip-tls-verify", True),
            targets.Policy(allow_exec=True),
            "tls",
        ),
    ],
    ids=[
        "plain",
        "exec",
        "exec allowed",
        "auth-provider",
        "insecure tls",
        "tls allowed",
        "tls, exec allowed",
    ],
)
def test_check_kubeconfig(
    config: dict[str, Any], policy: targets.Policy, refused: str | None
) -> None:
    text = yaml.safe_dump(config)
    if refused is None:
        targets.check_kubeconfig(text, policy, origin="secret 'ns/kc'")
        return
    with pytest.raises(targets.TargetError) as raised:
        targets.check_kubeconfig(text, policy, origin="secret 'ns/kc'")
    assert refused in raised.value.message
    assert "secret 'ns/kc'" in raised.value.message
    assert not raised.value.stalling


def test_invalid_kubeconfig_is_refused() -> None:
    with pytest.raises(targets.TargetError, match="invalid kubeconfig"):
        targets.check_kubeconfig("- a list", targets.Policy(), origin="secret 'ns/kc'")


def _exec_kubeconfig(cluster: devcluster_fixtures.Devcluster, marker: pathlib.Path) -> str:
    """The devcluster kubeconfig, its user an exec plugin that leaves ``marker``."""
    config = yaml.safe_load(cluster.kubeconfig.read_text())
    credential = {
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "kind": "ExecCredential",
        "status": {"token": cluster.token() or "none"},
    }
    script = f"touch {shlex.quote(str(marker))}; printf '%s' {shlex.quote(json.dumps(credential))}"
    config["users"][0]["user"] = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": "sh",
            "args": ["-c", script],
            "interactiveMode": "Never",
        }
    }
    return str(yaml.safe_dump(config))


async def _secret(api: client.Client, name: str, data: dict[str, str]) -> None:
    await api.request(
        "POST",
        "/api/v1/namespaces/default/secrets",
        body={
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name},
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
        },
        verb="create",
    )


def _targets(api: client.Client, policy: targets.Policy) -> targets.Targets:
    return targets.Targets(
        api=api, discovery=resources.Discovery(api), policy=policy, user_agent="test"
    )


async def test_exec_plugin_in_a_secret_runs_only_with_the_flag(
    api: client.Client, cluster: devcluster_fixtures.Devcluster, tmp_path: pathlib.Path
) -> None:
    marker = tmp_path / "exec-ran"
    await _secret(api, "exec-kubeconfig", {"value": _exec_kubeconfig(cluster, marker)})
    reference = meta.KubeConfigReference.model_validate({"secretRef": {"name": "exec-kubeconfig"}})

    refusing = _targets(api, targets.Policy())
    with pytest.raises(targets.TargetError) as raised:
        await refusing.get(
            namespace="default", name="app", service_account=None, kube_config=reference
        )
    assert "exec" in raised.value.message
    assert "--insecure-kubeconfig-exec" in raised.value.message
    assert not marker.exists()

    allowing = _targets(api, targets.Policy(allow_exec=True))
    target = await allowing.get(
        namespace="default", name="app", service_account=None, kube_config=reference
    )
    try:
        assert target.remote is not None
        namespaces = await target.api.request("GET", "/api/v1/namespaces", verb="list")
        assert any(n["metadata"]["name"] == "default" for n in namespaces["items"])
        assert marker.exists()
    finally:
        await allowing.forget(namespace="default", name="app")


async def test_kubeconfig_secret_errors(api: client.Client) -> None:
    await _secret(api, "no-value", {"other": "x"})
    plain = _targets(api, targets.Policy())

    async def failure(reference: dict[str, Any]) -> targets.TargetError:
        with pytest.raises(targets.TargetError) as raised:
            await plain.get(
                namespace="default",
                name="app",
                service_account=None,
                kube_config=meta.KubeConfigReference.model_validate(reference),
            )
        return raised.value

    missing = await failure({"secretRef": {"name": "absent"}})
    assert missing.message == "kubeconfig secret 'default/absent' not found"
    assert not missing.stalling
    no_key = await failure({"secretRef": {"name": "no-value"}})
    assert (
        no_key.message == "kubeconfig secret 'default/no-value' has no key 'value' or 'value.yaml'"
    )
    named_key = await failure({"secretRef": {"name": "no-value", "key": "config"}})
    assert "has no key 'config'" in named_key.message
    config_map = await failure({"configMapRef": {"name": "provider"}})
    assert config_map.stalling


async def test_local_target_impersonates_the_service_account(api: client.Client) -> None:
    local = _targets(api, targets.Policy(default_service_account="fallback"))
    named = await local.get(namespace="ns", name="a", service_account="deployer", kube_config=None)
    fallback = await local.get(namespace="ns", name="b", service_account=None, kube_config=None)
    assert named.remote is None
    assert named.api.impersonated_user == "system:serviceaccount:ns:deployer"
    assert fallback.api.impersonated_user == "system:serviceaccount:ns:fallback"
    same = await local.get(namespace="ns", name="a", service_account="deployer", kube_config=None)
    assert same is named
    changed = await local.get(namespace="ns", name="a", service_account="other", kube_config=None)
    assert changed is not named


async def test_secret_reads_share_one_not_found_error(api: client.Client) -> None:
    await _secret(api, "creds", {"username": "git"})
    assert await references.secret_data(api, "default", "creds") == {"username": b"git"}
    with pytest.raises(references.ReferenceNotFoundError) as raised:
        await references.get(api, "ConfigMap", "default", "absent")
    assert raised.value.message == "configmap 'default/absent' not found"
    assert (raised.value.kind, raised.value.namespace, raised.value.name) == (
        "ConfigMap",
        "default",
        "absent",
    )
