"""``--feature-gates``: named on/off switches with per-controller defaults, as Flux parses them.

Contract: ``gates_flag(supported)`` declares the ``feature_gates`` field of a
controller's ``Flags`` dataclass (``options.flag``); its value is a
``FeatureGates`` holding every supported gate, at its default unless the flag
set it. The flag's syntax is Flux's (``--feature-gates=Gate=true,Other=false``;
values as Go's ``strconv.ParseBool`` reads them: ``1 t T TRUE true True`` and
``0 f F FALSE false False``; when the flag is given more than once the last
use wins, where Flux merges the uses: give every gate in one use). A
gate the controller does not support, or a malformed pair, is a startup error
(argparse exits with status 2 and names it), as Flux refuses to start.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from shared.runtime import options

_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})


@dataclasses.dataclass(frozen=True)
class FeatureGates:
    """Every supported gate → whether it is on (defaults merged with the flag's settings)."""

    states: Mapping[str, bool]

    def enabled(self, gate: str) -> bool:
        """Whether ``gate`` is on; KeyError for a gate the controller does not declare."""
        return self.states[gate]

    def __str__(self) -> str:
        return ",".join(f"{name}={str(on).lower()}" for name, on in sorted(self.states.items()))


def parse_gates(text: str, supported: Mapping[str, bool]) -> FeatureGates:
    """``supported`` with the ``Gate=bool,...`` pairs of ``text`` applied; ValueError if bad."""
    states = dict(supported)
    for pair in text.split(","):
        if not pair.strip():
            continue
        name, sep, value = pair.partition("=")
        name, value = name.strip(), value.strip()
        if not sep:
            raise ValueError(f"missing bool value for {name!r}: want Gate=true|false")
        if name not in supported:
            known = ", ".join(sorted(supported))
            raise ValueError(f"feature gate {name!r} is not supported (supported: {known})")
        if value in _TRUE:
            states[name] = True
        elif value in _FALSE:
            states[name] = False
        else:
            raise ValueError(f"invalid value of {name}: {value!r}, want true or false")
    return FeatureGates(states)


def _parser(supported: Mapping[str, bool]) -> Callable[[str], FeatureGates]:
    def parse(text: str) -> FeatureGates:
        try:
            return parse_gates(text, supported)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from error

    return parse


def gates_flag(supported: Mapping[str, bool]) -> Any:
    """The ``feature_gates`` field: a ``FeatureGates`` of ``supported`` and the flag's settings."""
    listing = ", ".join(f"{name}={str(on).lower()}" for name, on in sorted(supported.items()))
    return options.flag(
        f"a comma-separated list of Gate=true|false pairs; gates and defaults: {listing}",
        default_factory=lambda: FeatureGates(dict(supported)),
        parse=_parser(supported),
    )
