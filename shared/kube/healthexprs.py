"""CEL health checks (a Kustomization's ``spec.healthCheckExprs``), as a health reader.

``compile_checks`` validates and compiles the expressions once per
reconcile; an invalid set (a duplicate group/kind, an empty ``current``, an
expression that does not parse) raises ``InvalidExpressionError``, which the
caller turns into Stalled/``InvalidCELExpression`` (the user must fix it).

``Checks.read`` is a ``health.Reader``: for an object whose group (and kind,
when the check names one; an exact group+kind match beats a group-only one)
has a check, it replaces the generic kstatus rules: generation ahead of
observedGeneration (both ints) → InProgress; then ``inProgress``, ``failed``
and ``current`` in that order, the first true wins; none true → InProgress.
The object's top-level keys are the CEL variables. A missing key or a
non-bool result → Unknown "failed to evaluate the CEL expression ...".
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import celpy
import celpy.adapter
import celpy.celparser
import celpy.celtypes
import celpy.evaluation

from shared.api import validation
from shared.kube import health

INVALID_EXPRESSION_REASON = "InvalidCELExpression"


class InvalidExpressionError(ValueError):
    """The health check expressions cannot be used; the user must correct them."""


@dataclasses.dataclass(frozen=True)
class _Expression:
    source: str
    program: celpy.Runner


@dataclasses.dataclass(frozen=True)
class _Check:
    group: str
    kind: str
    current: _Expression
    in_progress: _Expression | None
    failed: _Expression | None


def _compile(source: str) -> _Expression:
    # The compile is cached process-wide: every reconcile with health checks asks again.
    try:
        return _Expression(source, validation.program(source))
    except celpy.celparser.CELParseError as error:
        raise InvalidExpressionError(
            f"failed to parse the CEL expression '{source}': {error}"
        ) from error


def _field(check: Mapping[str, Any], *names: str) -> str:
    for name in names:
        value = check.get(name)
        if value:
            return str(value)
    return ""


class Checks:
    """Compiled health checks, keyed by (group, kind); kind "" matches the whole group."""

    def __init__(self, checks: Mapping[tuple[str, str], _Check]) -> None:
        self._checks = dict(checks)

    def __bool__(self) -> bool:
        return bool(self._checks)

    def _find(self, obj: Mapping[str, Any]) -> _Check | None:
        group = str(obj.get("apiVersion", "")).rpartition("/")[0]
        kind = str(obj.get("kind", ""))
        return self._checks.get((group, kind)) or self._checks.get((group, ""))

    def read(self, obj: Mapping[str, Any]) -> health.Result | None:
        """The status by the matching check, or ``None`` when no check covers ``obj``."""
        check = self._find(obj)
        if check is None:
            return None
        generation = obj.get("metadata", {}).get("generation")
        observed = (obj.get("status") or {}).get("observedGeneration")
        if (
            isinstance(generation, int)
            and isinstance(observed, int)
            and not isinstance(generation, bool)
            and not isinstance(observed, bool)
            and generation != observed
        ):
            return health.Result(
                health.Status.IN_PROGRESS,
                f"{obj.get('kind')} generation is {generation}, "
                f"but latest observed generation is {observed}",
            )
        activation = {key: celpy.adapter.json_to_cel(value) for key, value in obj.items()}
        for status, expression in (
            (health.Status.IN_PROGRESS, check.in_progress),
            (health.Status.FAILED, check.failed),
            (health.Status.CURRENT, check.current),
        ):
            if expression is None:
                continue
            try:
                value = expression.program.evaluate(activation)
            except celpy.evaluation.CELEvalError as error:
                return _unknown(expression.source, _cause(error))
            if isinstance(value, celpy.evaluation.CELEvalError):
                return _unknown(expression.source, _cause(value))
            if not isinstance(value, celpy.celtypes.BoolType):
                return _unknown(
                    expression.source, f"result is of the type {type(value).__name__}, not bool"
                )
            if bool(value):
                return health.Result(status, f"{status} because '{expression.source}' is true")
        return health.Result(health.Status.IN_PROGRESS, "no health check expression is true")


def _cause(error: celpy.evaluation.CELEvalError) -> str:
    text = str(error.args[0]) if error.args else str(error)
    # NB: cel-python appends the whole activation to undeclared-reference errors.
    text = text.split(" (in activation", 1)[0]
    if text.startswith("undeclared reference to "):
        text = "no such key: " + text.removeprefix("undeclared reference to ").strip("'")
    return text


def _unknown(source: str, cause: str) -> health.Result:
    return health.Result(
        health.Status.UNKNOWN, f"failed to evaluate the CEL expression '{source}': {cause}"
    )


def compile_checks(checks: Sequence[Mapping[str, Any]]) -> Checks:
    """Compile ``healthCheckExprs`` entries (camelCase API dicts); see the module docstring."""
    compiled: dict[tuple[str, str], _Check] = {}
    for check in checks:
        api_version = _field(check, "apiVersion", "api_version")
        kind = _field(check, "kind")
        group = api_version.rpartition("/")[0]
        key = (group, kind)
        if key in compiled:
            raise InvalidExpressionError(
                f"duplicate health check for apiVersion '{api_version}' kind '{kind}'"
            )
        current = _field(check, "current")
        if not current:
            raise InvalidExpressionError(
                f"health check for apiVersion '{api_version}' kind '{kind}' has no "
                "'current' expression"
            )
        in_progress = _field(check, "inProgress", "in_progress")
        failed = _field(check, "failed")
        compiled[key] = _Check(
            group=group,
            kind=kind,
            current=_compile(current),
            in_progress=_compile(in_progress) if in_progress else None,
            failed=_compile(failed) if failed else None,
        )
    return Checks(compiled)
