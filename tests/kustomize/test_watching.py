"""Config watchers: which ConfigMaps and Secrets a Kustomization is requeued for."""

from __future__ import annotations

from typing import Any

from controllers.kustomize import watching


def _kustomization(**spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "app", "namespace": "team"}, "spec": spec}


def test_every_config_reference_is_indexed_in_the_kustomizations_namespace() -> None:
    obj = _kustomization(
        postBuild={
            "substituteFrom": [
                {"kind": "ConfigMap", "name": "vars"},
                {"kind": "Secret", "name": "secret-vars", "optional": True},
            ]
        },
        decryption={"provider": "sops", "secretRef": {"name": "sops-keys"}},
        kubeConfig={"secretRef": {"name": "remote"}, "configMapRef": {"name": "cloud"}},
    )
    assert watching.config_keys(obj) == [
        "ConfigMap/team/cloud",
        "ConfigMap/team/vars",
        "Secret/team/remote",
        "Secret/team/secret-vars",
        "Secret/team/sops-keys",
    ]


def test_a_kustomization_without_config_references_has_no_keys() -> None:
    assert watching.config_keys(_kustomization(decryption={"provider": "sops"})) == []
