"""``--feature-gates`` parsing: Flux's ``Gate=bool`` pairs over per-controller defaults."""

from __future__ import annotations

import argparse
import dataclasses

import pytest

from shared.runtime import features, options

SUPPORTED = {"Alpha": False, "Beta": True}


@pytest.mark.parametrize(
    ("text", "states"),
    [
        ("", {"Alpha": False, "Beta": True}),
        ("Alpha=true", {"Alpha": True, "Beta": True}),
        ("Alpha=T,Beta=0", {"Alpha": True, "Beta": False}),
        (" Beta = False , ", {"Alpha": False, "Beta": False}),
        ("Alpha=1,Alpha=f", {"Alpha": False, "Beta": True}),
    ],
)
def test_pairs_apply_over_the_defaults(text: str, states: dict[str, bool]) -> None:
    assert features.parse_gates(text, SUPPORTED).states == states


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Gamma=true", "feature gate 'Gamma' is not supported (supported: Alpha, Beta)"),
        ("Alpha", "missing bool value for 'Alpha'"),
        ("Alpha=yes", "invalid value of Alpha: 'yes', want true or false"),
    ],
)
def test_bad_pairs_are_refused(text: str, message: str) -> None:
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        features.parse_gates(text, SUPPORTED)


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Flags:
    feature_gates: features.FeatureGates = features.gates_flag(SUPPORTED)  # noqa: RUF009


def _parse(*argv: str) -> features.FeatureGates:
    parser = argparse.ArgumentParser()
    options.add_flags(parser, _Flags)
    return options.parsed(_Flags, parser.parse_args(list(argv))).feature_gates


def test_the_flag_defaults_to_every_supported_gate_and_lists_them_in_help() -> None:
    assert _parse().states == SUPPORTED
    parser = argparse.ArgumentParser()
    options.add_flags(parser, _Flags)
    assert "Alpha=false, Beta=true" in parser.format_help().replace("\n", " ").replace("  ", " ")


def test_the_flag_parses_and_refuses_like_flux(capsys: pytest.CaptureFixture[str]) -> None:
    assert _parse("--feature-gates", "Alpha=true").enabled("Alpha")
    assert str(_parse("--feature-gates=Beta=false")) == "Alpha=false,Beta=false"
    with pytest.raises(SystemExit):
        _parse("--feature-gates=Gamma=true")
    assert "not supported" in capsys.readouterr().err
