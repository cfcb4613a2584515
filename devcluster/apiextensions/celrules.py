"""CRD ``x-kubernetes-validations`` rules: evaluation with ``self`` and ``oldSelf``.

A rule that names ``oldSelf`` is a *transition rule*: on an update it sees
the node's previous value beside the new one, and it is not evaluated at all
when there is no previous value (a create, or a node new in this update) —
unless the rule sets ``optionalOldSelf: true``. Then ``oldSelf`` is a CEL
optional in every evaluation: ``oldSelf.hasValue()``, ``oldSelf.value()``
and ``oldSelf.orValue(default)`` work on it, as in the API server.

``evaluate`` answers whether a rule holds. Anything but a true boolean —
``false``, an evaluation error, a rule that does not compile — fails, as it
does in the API server; ``RuleError`` carries the reason for the latter two.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import celpy
import celpy.adapter
import celpy.celtypes
import celpy.evaluation

from shared.api import validation


class RuleError(Exception):
    """The rule could not be compiled or evaluated."""


@dataclasses.dataclass(frozen=True)
class Absent:
    """Marks a node with no previous value (create, or new in this update)."""


ABSENT = Absent()


@dataclasses.dataclass(frozen=True)
class _Optional:
    """A CEL optional value, as ``oldSelf`` is under ``optionalOldSelf``."""

    value: Any
    present: bool


def _has_value(optional: _Optional) -> celpy.celtypes.BoolType:
    return celpy.celtypes.BoolType(optional.present)


def _value(optional: _Optional) -> Any:
    if not optional.present:
        return celpy.evaluation.CELEvalError("optional.none() dereference")
    return optional.value


def _or_value(optional: _Optional, fallback: Any) -> Any:
    return optional.value if optional.present else fallback


_OPTIONAL_FUNCTIONS: dict[str, Any] = {
    "hasValue": _has_value,
    "value": _value,
    "orValue": _or_value,
}


@functools.cache
def _optional_program(rule: str) -> Any:
    environment = celpy.Environment()
    return environment.program(environment.compile(rule), functions=_OPTIONAL_FUNCTIONS)


def is_transition(rule: str) -> bool:
    return "oldSelf" in rule


def applies(rule: str, *, optional_old_self: bool, old: Any) -> bool:
    """Whether ``rule`` is evaluated at a node whose previous value is ``old``."""
    return not is_transition(rule) or optional_old_self or old is not ABSENT


def evaluate(rule: str, value: Any, *, old: Any = ABSENT, optional_old_self: bool = False) -> bool:
    """Whether ``rule`` holds for ``value`` (and ``old``, for a transition rule)."""
    try:
        activation: dict[str, Any] = {"self": celpy.adapter.json_to_cel(value)}
        if is_transition(rule) and optional_old_self:
            present = old is not ABSENT
            previous = celpy.adapter.json_to_cel(old) if present else None
            activation["oldSelf"] = _Optional(previous, present)
            program = _optional_program(rule)
        else:
            if is_transition(rule):
                activation["oldSelf"] = celpy.adapter.json_to_cel(old)
            program = validation.program(rule)
        result = program.evaluate(activation)
    except Exception as error:  # compile or evaluation failure: the rule fails
        raise RuleError(str(error)) from error
    if isinstance(result, celpy.evaluation.CELEvalError):
        raise RuleError(str(result))
    return isinstance(result, celpy.celtypes.BoolType) and bool(result)
