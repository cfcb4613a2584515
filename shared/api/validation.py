"""CEL validation rules (``x-kubernetes-validations``) shared by models and CRDs.

A rule is declared once, on the model class, and used twice: ``crdgen`` writes
it into the CRD so the API server enforces it, and the model evaluates it with
cel-python when it validates, so a manifest is refused here with the message
the API server would give.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import celpy
import celpy.adapter
import celpy.celtypes


@dataclasses.dataclass(frozen=True, kw_only=True)
class CelRule:
    """One ``x-kubernetes-validations`` entry; ``rule`` sees the object as ``self``."""

    rule: str
    message: str

    def to_schema(self) -> dict[str, str]:
        return {"message": self.message, "rule": self.rule}


class CelRuleError(ValueError):
    """A CEL rule evaluated to false (or could not be evaluated) for an object."""


PROGRAM_CACHE_SIZE = 1024
"""Compiled CEL programs kept: rules repeat across objects, and user-written
expressions (``readyExpr``, ``healthCheckExprs``) must not grow the cache without bound."""


@functools.lru_cache(maxsize=PROGRAM_CACHE_SIZE)
def program(rule: str) -> Any:
    """The compiled CEL program of ``rule`` (cached, least recently used first out).

    Raises celpy's ``CELParseError`` when ``rule`` does not parse.
    """
    environment = celpy.Environment()
    return environment.program(environment.compile(rule))


def check_rules(rules: tuple[CelRule, ...], obj: dict[str, Any]) -> None:
    """Raise ``CelRuleError`` naming every rule that ``obj`` breaks."""
    failed: list[str] = []
    activation = {"self": celpy.adapter.json_to_cel(obj)}
    for rule in rules:
        result = program(rule.rule).evaluate(activation)
        # NB: cel-python returns error values instead of raising; anything but
        # a true boolean counts as a failure, as it does in the API server.
        if not (isinstance(result, celpy.celtypes.BoolType) and bool(result)):
            failed.append(rule.message)
    if failed:
        raise CelRuleError("; ".join(failed))
