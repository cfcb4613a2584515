"""The JSONPath subset of CRD ``additionalPrinterColumns``.

Supports ``.a.b``, ``.a[0]``, ``.a[*].b``, quoted keys (``.a['b.c']``) and
filters ``[?(@.type=="Ready")]``, returning every match in document order.
"""

from __future__ import annotations

import re
from typing import Any

_TOKEN = re.compile(
    r"\.(?P<name>[A-Za-z0-9_\-]+)"
    r"|\[\s*'(?P<quoted>[^']*)'\s*\]"
    r"|\[(?P<index>-?\d+|\*)\]"
    r"|\[\?\(@\.(?P<fkey>[A-Za-z0-9_.\-]+)\s*(?P<fop>==|!=)\s*(?P<fval>\"[^\"]*\"|'[^']*'|[^)\s]+)\)\]"
    r"|\.\*"
)


def evaluate(expression: str, obj: Any) -> list[Any]:
    text = expression.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1]
    if text.startswith("$"):
        text = text[1:]
    current: list[Any] = [obj]
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            return []
        position = match.end()
        found: list[Any] = []
        for node in current:
            if match["name"] is not None or match["quoted"] is not None:
                key = match["name"] if match["name"] is not None else match["quoted"]
                if isinstance(node, dict) and key in node:
                    found.append(node[key])
            elif match["index"] is not None:
                if isinstance(node, list):
                    if match["index"] == "*":
                        found.extend(node)
                    else:
                        index = int(match["index"])
                        if -len(node) <= index < len(node):
                            found.append(node[index])
            elif match["fkey"] is not None:
                wanted = match["fval"].strip("\"'")
                for item in node if isinstance(node, list) else []:
                    value: Any = item
                    for part in match["fkey"].split("."):
                        value = value.get(part) if isinstance(value, dict) else None
                    equal = _text(value) == wanted
                    if equal == (match["fop"] == "=="):
                        found.append(item)
            elif isinstance(node, dict):
                found.extend(node.values())
        current = found
    return current


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)
