"""kustomize-controller's apply flags: ``--override-manager`` and ``--custom-apply-stage-kinds``."""

from __future__ import annotations

import pytest

from controllers.kustomize import __main__ as kustomize_main
from shared.runtime import options


def _flags(*argv: str) -> kustomize_main.Flags:
    return options.parsed(kustomize_main.Flags, kustomize_main.parse_args(list(argv)))


def test_defaults_add_nothing_to_fluxs_built_in_behaviour() -> None:
    flags = _flags()

    assert (flags.override_manager, flags.custom_apply_stage_kinds) == ((), frozenset())


def test_override_manager_repeats_and_stage_kinds_are_group_kinds() -> None:
    flags = _flags(
        "--override-manager", "node-fetch", "--override-manager", "helm",
        "--custom-apply-stage-kinds", "rbac.authorization.k8s.io/Role,ServiceAccount",
    )  # fmt: skip

    assert flags.override_manager == ("node-fetch", "helm")
    assert flags.custom_apply_stage_kinds == {
        ("rbac.authorization.k8s.io", "Role"),
        ("", "ServiceAccount"),
    }


def test_a_malformed_stage_kind_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        _flags("--custom-apply-stage-kinds", "a/b/C")

    assert "invalid group/kind format: a/b/C" in capsys.readouterr().err


def test_feature_gates_default_to_fluxs() -> None:
    gates = _flags().feature_gates

    assert gates.states == kustomize_main.GATES
    assert gates.enabled("StrictPostBuildSubstitutions")
    assert not gates.enabled("DisableConfigWatchers")


def test_feature_gates_flag_sets_the_named_gates_only() -> None:
    gates = _flags(
        "--feature-gates=StrictPostBuildSubstitutions=false,DisableConfigWatchers=true"
    ).feature_gates

    assert not gates.enabled("StrictPostBuildSubstitutions")
    assert gates.enabled("DisableConfigWatchers")
    assert gates.enabled("DisableStatusPollerCache")


def test_an_unknown_feature_gate_stops_startup(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        _flags("--feature-gates=NoSuchGate=true")

    assert exit_info.value.code == 2
    assert "feature gate 'NoSuchGate' is not supported" in capsys.readouterr().err
