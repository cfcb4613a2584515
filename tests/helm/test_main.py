"""helm-controller's flags and what a HelmRelease's watches key on (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from controllers.helm import __main__ as helm_main
from controllers.helm import watching
from shared.runtime import options


def _flags(*argv: str) -> helm_main.Flags:
    return options.parsed(helm_main.Flags, helm_main.parse_args(list(argv)))


def test_flux_flags_and_gates() -> None:
    flags = _flags(
        "--default-service-account", "tenant", "--no-cross-namespace-refs",
        "--http-retry", "3", "--feature-gates=DefaultToRetryOnFailure=true",
    )  # fmt: skip
    common = options.from_args(
        helm_main.parse_args(["--default-service-account", "tenant", "--no-cross-namespace-refs"])
    )

    assert (common.default_service_account, common.no_cross_namespace_refs) == ("tenant", True)
    assert flags.http_retry == 3
    assert flags.feature_gates.enabled("DefaultToRetryOnFailure")
    assert not flags.feature_gates.enabled("ExternalArtifact")
    assert _flags().feature_gates.states == helm_main.GATES


def test_an_unknown_feature_gate_stops_startup(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        _flags("--feature-gates=NoSuchGate=true")

    assert "NoSuchGate" in capsys.readouterr().err


def _release(spec: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": "web", "namespace": "apps"}, "spec": spec}


@pytest.mark.parametrize(
    ("spec", "want"),
    [
        (
            {"chartRef": {"kind": "OCIRepository", "name": "podinfo"}},
            ["OCIRepository/apps/podinfo"],
        ),
        (
            {"chartRef": {"kind": "HelmChart", "name": "c", "namespace": "flux"}},
            ["HelmChart/flux/c"],
        ),
        ({"chart": {"spec": {"sourceRef": {"name": "repo"}}}}, ["HelmChart/apps/apps-web"]),
        (
            {"chart": {"spec": {"sourceRef": {"name": "repo", "namespace": "flux"}}}},
            ["HelmChart/flux/apps-web"],
        ),
    ],
)
def test_source_keys(spec: dict[str, Any], want: list[str]) -> None:
    assert watching.source_keys(_release(spec)) == want


def test_config_keys() -> None:
    spec = {
        "valuesFrom": [{"kind": "ConfigMap", "name": "a"}, {"kind": "Secret", "name": "b"}],
        "kubeConfig": {"secretRef": {"name": "remote"}},
    }
    assert watching.config_keys(_release(spec)) == [
        "ConfigMap/apps/a",
        "Secret/apps/b",
        "Secret/apps/remote",
    ]


def test_a_source_change_matters_only_with_a_new_artifact() -> None:
    old = {"status": {"artifact": {"revision": "1.0.0", "digest": "sha256:1"}}}
    same = {"status": {"artifact": {"revision": "1.0.0", "digest": "sha256:1"}, "x": 1}}
    new = {"status": {"artifact": {"revision": "1.0.0", "digest": "sha256:2"}}}
    assert not watching.revision_changed("MODIFIED", same, old)
    assert watching.revision_changed("MODIFIED", new, old)
