"""``spec.ignore`` rules: JSON pointers left out of drift detection and correction (pure).

A rule (Flux 2.9's ``IgnoreRule``) holds RFC 6901 JSON pointers and an
optional target selector; without a target it covers every object. The
selector's ``group``, ``version``, ``kind``, ``name`` and ``namespace`` are
regular expressions matched against the whole value; ``labelSelector`` and
``annotationSelector`` are Kubernetes label-selector expressions
(``k=v``, ``k!=v``, ``k``, ``!k``, ``k in (a,b)``, ``k notin (a,b)``).

For an object the rules cover, the resource manager compares and digests
the desired manifest ``without`` the ignored pointers, so a value changed
in the cluster there is neither reported as drift nor reverted, and when it
applies an existing object it sends the live values at those pointers
(``adopt``), so an apply made for another field leaves them as they are.
A new object is created with the manifest as written.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Mapping, Sequence
from typing import Any

from shared.api import kustomize

_REQUIREMENT = re.compile(
    r"\s*(?:(?P<not>!)\s*(?P<absent>[^\s,!=()]+)"
    r"|(?P<key>[^\s,!=()]+)\s*(?:(?P<op>==|=|!=)\s*(?P<value>[^\s,()]*)"
    r"|\s+(?P<set>in|notin)\s*\((?P<values>[^)]*)\))?)\s*(?:,|$)"
)


class RuleError(ValueError):
    """An ignore rule that cannot be used: a bad pattern, selector or JSON pointer."""


def _labels_match(expression: str, labels: Mapping[str, str]) -> bool:
    """Whether ``labels`` meet every requirement of a label-selector ``expression``."""
    position = 0
    while position < len(expression):
        found = _REQUIREMENT.match(expression, position)
        if found is None or found.end() == position:
            raise RuleError(f"invalid selector {expression!r}")
        position = found.end()
        if found["absent"]:
            ok = found["absent"] not in labels
        elif found["op"]:
            equal = labels.get(found["key"]) == found["value"]
            ok = equal if found["op"] != "!=" else not equal
        elif found["set"]:
            values = {v.strip() for v in found["values"].split(",")}
            inside = found["key"] in labels and labels[found["key"]] in values
            ok = inside if found["set"] == "in" else not inside
        else:
            ok = found["key"] in labels
        if not ok:
            return False
    return True


def _full(pattern: str | None, value: str) -> bool:
    return not pattern or re.fullmatch(pattern, value) is not None


@dataclasses.dataclass(frozen=True)
class Rules:
    """The ignore rules of one Kustomization."""

    rules: Sequence[kustomize.IgnoreRule] = ()

    def __post_init__(self) -> None:
        """Check every rule up front; ``RuleError`` names the first unusable part."""
        for rule in self.rules:
            for pointer in rule.paths:
                _tokens(pointer)
            target = rule.target
            if target is None:
                continue
            patterns = (target.group, target.version, target.kind, target.name, target.namespace)
            for pattern in patterns:
                try:
                    re.compile(pattern or "")
                except re.error as invalid:
                    raise RuleError(f"invalid ignore target {pattern!r}: {invalid}") from invalid
            _labels_match(target.label_selector or "", {})
            _labels_match(target.annotation_selector or "", {})

    def pointers(self, obj: Mapping[str, Any]) -> list[str]:
        """The JSON pointers ignored for ``obj`` (a manifest or a live object)."""
        group, _, version = str(obj.get("apiVersion", "")).rpartition("/")
        metadata = obj.get("metadata") or {}
        found: list[str] = []
        for rule in self.rules:
            target = rule.target
            if target is not None and not (
                _full(target.group, group)
                and _full(target.version, version)
                and _full(target.kind, str(obj.get("kind", "")))
                and _full(target.name, str(metadata.get("name", "")))
                and _full(target.namespace, str(metadata.get("namespace") or ""))
                and _labels_match(target.label_selector or "", metadata.get("labels") or {})
                and _labels_match(
                    target.annotation_selector or "", metadata.get("annotations") or {}
                )
            ):
                continue
            found.extend(rule.paths)
        return found


def _tokens(pointer: str) -> list[str]:
    if not pointer.startswith("/"):
        raise RuleError(f"invalid JSON pointer {pointer!r} in spec.ignore")
    return [part.replace("~1", "/").replace("~0", "~") for part in pointer[1:].split("/")]


def _step(node: Any, token: str) -> tuple[bool, Any]:
    if isinstance(node, Mapping):
        return (token in node, node.get(token))
    if isinstance(node, list) and token.isdigit() and int(token) < len(node):
        return (True, node[int(token)])
    return (False, None)


def _locate(doc: Any, tokens: list[str]) -> tuple[bool, Any]:
    node = doc
    for token in tokens:
        present, node = _step(node, token)
        if not present:
            return (False, None)
    return (True, node)


def _remove(doc: Any, tokens: list[str]) -> None:
    present, parent = _locate(doc, tokens[:-1])
    if not present:
        return
    last = tokens[-1]
    if isinstance(parent, dict):
        parent.pop(last, None)
    elif isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        del parent[int(last)]


def without(obj: Mapping[str, Any], pointers: Sequence[str]) -> dict[str, Any]:
    """A copy of ``obj`` with the values at ``pointers`` removed (absent ones ignored)."""
    stripped = copy.deepcopy(dict(obj))
    for pointer in pointers:
        _remove(stripped, _tokens(pointer))
    return stripped


def adopt(
    desired: Mapping[str, Any], live: Mapping[str, Any], pointers: Sequence[str]
) -> dict[str, Any]:
    """``desired`` holding ``live``'s values at ``pointers`` (removed where live has none)."""
    adopted = copy.deepcopy(dict(desired))
    for pointer in pointers:
        tokens = _tokens(pointer)
        present, value = _locate(live, tokens)
        if not present:
            _remove(adopted, tokens)
            continue
        node: Any = adopted
        for token in tokens[:-1]:
            if isinstance(node, dict):
                node = node.setdefault(token, {})
            else:
                present, node = _step(node, token)
                if not present:
                    break
        if isinstance(node, dict):
            node[tokens[-1]] = copy.deepcopy(value)
        elif isinstance(node, list) and tokens[-1].isdigit() and int(tokens[-1]) < len(node):
            node[int(tokens[-1])] = copy.deepcopy(value)
    return adopted
