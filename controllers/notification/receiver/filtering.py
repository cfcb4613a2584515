"""CEL filters of a Receiver: ``spec.resourceFilter`` and each resource's ``filter``.

An expression sees ``res`` (the candidate object's apiVersion, kind and
metadata), ``req`` (the request body as JSON when it was sent as
``application/json``, else an empty map) and, for generic-oidc Receivers,
``claims`` (the verified token's) and must yield a boolean. A
resource is annotated only when the Receiver's filter and its entry's filter
(each when set) are both true. ``check`` validates an expression when the
Receiver is reconciled (``InvalidFilterError``: the user must fix it);
``Filter.accepts`` evaluates at request time (``FilterError`` when an
expression fails on these values). No Kubernetes, no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import celpy
import celpy.adapter
import celpy.celparser
import celpy.celtypes
import celpy.evaluation

from shared.api import validation


class InvalidFilterError(ValueError):
    """An expression does not compile."""


class FilterError(ValueError):
    """An expression failed, or did not yield a boolean, for one candidate."""


def check(source: str) -> None:
    """Compile ``source`` (cached); ``InvalidFilterError`` when it does not parse."""
    try:
        validation.program(source)
    except celpy.celparser.CELParseError as error:
        raise InvalidFilterError(str(error).strip()) from error


def request_values(*, content_type: str, body: bytes) -> dict[str, Any]:
    """``req``: the body as a JSON object when sent as JSON, else ``{}`` (as Flux reads it).

    ``ValueError`` ("failed to parse request body as JSON: …") when it does not decode.
    """
    if content_type.split(";")[0].strip().lower() != "application/json":
        return {}
    try:
        decoded = json.loads(body)
    except ValueError as error:
        raise ValueError(f"failed to parse request body as JSON: {error}") from error
    if decoded is not None and not isinstance(decoded, dict):
        raise ValueError("failed to parse request body as JSON: not an object")
    return decoded or {}


class Filter:
    """The filters that apply to one resource entry, bound to one request's ``req``."""

    def __init__(
        self,
        sources: Sequence[str | None],
        *,
        req: Mapping[str, Any],
        claims: Mapping[str, Any] | None = None,
    ) -> None:
        self._sources = [s for s in sources if s]
        self._req = celpy.adapter.json_to_cel(dict(req)) if self._sources else None
        self._claims = (
            celpy.adapter.json_to_cel(dict(claims))
            if self._sources and claims is not None
            else None
        )

    def __bool__(self) -> bool:
        return bool(self._sources)

    def accepts(self, res: Mapping[str, Any]) -> bool:
        """Whether every expression is true for ``res``; ``FilterError`` if one fails."""
        if not self._sources:
            return True
        activation = {"res": celpy.adapter.json_to_cel(dict(res)), "req": self._req}
        if self._claims is not None:
            activation["claims"] = self._claims
        for source in self._sources:
            try:
                result = validation.program(source).evaluate(activation)
            except celpy.evaluation.CELEvalError as error:
                raise FilterError(f"failed to evaluate '{source}': {error}") from error
            if not isinstance(result, celpy.celtypes.BoolType):
                raise FilterError(f"failed to evaluate '{source}': {result} is not a boolean")
            if not bool(result):
                return False
        return True
