"""Label and field selectors, parsed once and matched against objects.

Label selectors support equality (``a=b``, ``a==b``, ``a!=b``) and set-based
terms (``a in (x,y)``, ``a notin (x)``, ``a``, ``!a``). Field selectors
support ``=``, ``==`` and ``!=`` on ``metadata.name``, ``metadata.namespace``
and any other dotted path of string-ish values (``status.phase``,
``spec.nodeName``, ``type`` for Events …).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from devcluster.machinery import errors

_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?"
_TERM = re.compile(
    rf"\s*(?:(?P<not>!)\s*(?P<nkey>{_NAME})"
    rf"|(?P<key>{_NAME})\s*(?:(?P<op>==|=|!=)\s*(?P<value>[-A-Za-z0-9_.]*)"
    rf"|\s+(?P<setop>in|notin)\s*\((?P<values>[^)]*)\))?)\s*(?:,|$)"
)


@dataclasses.dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!exists"
    values: tuple[str, ...] = ()

    def matches(self, labels: dict[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.op == "exists":
            return present
        if self.op == "!exists":
            return not present
        if self.op in ("=", "in"):
            return present and value in self.values
        return not present or value not in self.values


def parse_labels(text: str | None) -> tuple[Requirement, ...]:
    """Parse a label selector; raise 400 BadRequest when malformed."""
    if not text or not text.strip():
        return ()
    found: list[Requirement] = []
    position = 0
    while position < len(text):
        match = _TERM.match(text, position)
        if match is None or match.end() == position:
            raise errors.bad_request(f"unable to parse requirement: {text[position:]!r}")
        position = match.end()
        if match["nkey"]:
            found.append(Requirement(match["nkey"], "!exists"))
        elif match["op"]:
            op = "!=" if match["op"] == "!=" else "="
            found.append(Requirement(match["key"], op, (match["value"],)))
        elif match["setop"]:
            values = tuple(v.strip() for v in match["values"].split(",") if v.strip())
            found.append(Requirement(match["key"], match["setop"], values))
        else:
            found.append(Requirement(match["key"], "exists"))
    return tuple(found)


_OPERATORS = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!exists"}


def from_label_selector(selector: dict[str, Any]) -> tuple[Requirement, ...]:
    """A ``metav1.LabelSelector`` (``matchLabels`` and ``matchExpressions``) as requirements.

    An empty selector has no requirements: it matches everything, as in Kubernetes.
    """
    found = [
        Requirement(key, "=", (str(value),))
        for key, value in (selector.get("matchLabels") or {}).items()
    ]
    for expression in selector.get("matchExpressions") or ():
        op = _OPERATORS.get(expression.get("operator", ""))
        if op is None:
            raise errors.bad_request(
                f"{expression.get('operator')!r} is not a valid label selector operator"
            )
        found.append(
            Requirement(expression.get("key", ""), op, tuple(expression.get("values") or ()))
        )
    return tuple(found)


def labels_match(requirements: tuple[Requirement, ...], obj: dict[str, Any]) -> bool:
    if not requirements:
        return True
    labels = obj.get("metadata", {}).get("labels") or {}
    return all(r.matches(labels) for r in requirements)


@dataclasses.dataclass(frozen=True)
class FieldRequirement:
    path: tuple[str, ...]
    negate: bool
    value: str


def parse_fields(text: str | None) -> tuple[FieldRequirement, ...]:
    if not text or not text.strip():
        return ()
    found: list[FieldRequirement] = []
    for term in text.split(","):
        match = re.fullmatch(r"\s*([A-Za-z0-9_.]+)\s*(==|!=|=)\s*(.*?)\s*", term)
        if match is None:
            raise errors.bad_request(f"invalid selector: '{text}'; can't understand '{term}'")
        path = tuple(match[1].split("."))
        found.append(FieldRequirement(path, match[2] == "!=", match[3]))
    return tuple(found)


def _field_value(obj: dict[str, Any], path: tuple[str, ...]) -> str:
    node: Any = obj
    for part in path:
        if not isinstance(node, dict):
            return ""
        node = node.get(part)
    if node is None:
        return ""
    if isinstance(node, bool):
        return "true" if node else "false"
    return str(node)


def fields_match(requirements: tuple[FieldRequirement, ...], obj: dict[str, Any]) -> bool:
    for requirement in requirements:
        equal = _field_value(obj, requirement.path) == requirement.value
        if equal == requirement.negate:
            return False
    return True
