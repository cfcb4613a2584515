"""source-controller's flag defaults as Flux's: ``--concurrent`` 2 and its feature gates."""

from __future__ import annotations

import pytest

from controllers.source import __main__ as source_main
from shared.runtime import options


def test_concurrent_defaults_to_two_and_can_be_set() -> None:
    assert options.from_args(source_main.parse_args([])).concurrent == 2
    assert options.from_args(source_main.parse_args(["--concurrent", "6"])).concurrent == 6


def test_feature_gates_are_fluxs(capsys: pytest.CaptureFixture[str]) -> None:
    flags = options.parsed(source_main.Flags, source_main.parse_args([]))
    assert flags.feature_gates.states == {
        "CacheSecretsAndConfigMaps": False,
        "ObjectLevelWorkloadIdentity": False,
    }
    given = source_main.parse_args(["--feature-gates=CacheSecretsAndConfigMaps=true"])
    assert options.parsed(source_main.Flags, given).feature_gates.enabled(
        "CacheSecretsAndConfigMaps"
    )
    with pytest.raises(SystemExit):
        source_main.parse_args(["--feature-gates=StrictPostBuildSubstitutions=true"])
    assert "'StrictPostBuildSubstitutions' is not supported" in capsys.readouterr().err
