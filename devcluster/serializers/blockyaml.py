"""A fast parser for the block-style YAML that Kubernetes manifests are written in.

``parse`` turns one YAML document into plain data exactly as the libyaml path
of ``requests`` does (``yaml.compose`` with ``CSafeLoader``, then ``SCALARS``),
or returns ``None`` — it *declines* — and the caller must use that path.
It is about 3x faster than that path on a typical Deployment
(``bench/yaml_bench.py``) because it handles only this subset, line by line
(one regex splits every line, one loop builds the value):

- block mappings and sequences, including ``- key: value`` items, compact
  nested sequences (``- - a``) and sequences at their key's indentation;
- single-line scalars: plain, ``'single'`` and ``"double"`` quoted (the libyaml
  escapes), typed by PyYAML's own implicit resolver table and ``SCALARS``;
- one-line flow sequences and mappings of scalars, ``[]`` and ``{}``
  (``args: ["--a", b]``, ``- {name: tmp, emptyDir: {}}``);
- comments, blank lines and one leading ``---``.

It declines everything else and everything it cannot prove it reads the same
way: anchors, aliases, tags, block scalars, multi-line scalars, nested or
multi-line flow collections, flow entries without ": ", complex keys, directives,
more than one document, tabs, CR and other line breaks, non-UTF-8 input, empty
documents, a scalar that does not convert (``017``, ``1:20``, ``.inf``, ``<<``)
and any indentation libyaml would reject. Declining is always safe; reading a
document differently is not, so when in doubt the code declines.

Duplicate keys are reported as ``_convert`` in ``requests`` reports them: the
``str`` of the typed key, in document order, the first key object kept.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

import yaml

# Scalar conversions of the libyaml path, by resolved tag; timestamps stay text
# as in sigs.k8s.io/yaml. A tag missing here (merge ``<<``, value ``=``) or a
# conversion that raises sends the document to PyYAML's full loader.
SCALARS: dict[str, Callable[[str], Any]] = {
    "tag:yaml.org,2002:str": str,
    "tag:yaml.org,2002:int": lambda text: int(text.replace("_", ""), 0),
    "tag:yaml.org,2002:float": float,
    "tag:yaml.org,2002:bool": lambda text: text.lower() in ("true", "yes", "on"),
    "tag:yaml.org,2002:null": lambda text: None,
    "tag:yaml.org,2002:timestamp": str,
}

# Characters libyaml accepts that are not line breaks: printable ASCII and
# printable non-ASCII minus NEL, LS, PS and the BOM. Tabs and CR are left out
# on purpose (tabs are not indentation; CRLF handling is libyaml's business):
# a line holding anything else does not match ``_LINE``, and the document is
# declined.
_PRINTABLE = "[ -~\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]"
# Characters that may not start a plain scalar (a leading "-" is allowed when
# a non-space follows, see ``_plain_start``).
_INDICATORS = frozenset("-?:,[]{}#&*!|>'\"%@`")
# A plain scalar inside a flow collection, kept narrower than YAML allows: no
# spaces, no ":" "?" "#" (whose meaning in flow context differs by libyaml
# version) and no flow indicators.
_FLOW_PLAIN = re.compile(r"(?:-(?=[^\s,\[\]{}])|[^\s,\[\]{}#:?'\"&*!|>%@`-])[^\s,\[\]{}#:?]*")
_DOUBLE = re.compile(r'"((?:[^"\\]|\\.)*)"')
_ESCAPE = re.compile(r"\\(x[0-9A-Fa-f]{2}|u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|.)")
_ESCAPES = {
    "0": "\0",
    "a": "\a",
    "b": "\b",
    "t": "\t",
    "n": "\n",
    "v": "\v",
    "f": "\f",
    "r": "\r",
    "e": "\x1b",
    " ": " ",
    '"': '"',
    "/": "/",
    "\\": "\\",
    "N": "\x85",
    "_": "\xa0",
    "L": "\u2028",
    "P": "\u2029",
}
# One line: indentation, an item's "-" with its spaces, a simple plain key
# with its ":" and spaces (keys that need more go through ``_entry``), the rest.
_LINE = re.compile(
    r"^( *+)(-(?: ++|$)|)(?:([A-Za-z0-9_/][A-Za-z0-9_./-]{0,250}+) *+:(?: ++|$)|)("
    + _PRINTABLE
    + "*)$",
    re.MULTILINE,
)
# Deeper documents go to libyaml, whose converter is recursive (and may fail).
_MAX_DEPTH = 100
# libyaml reports a simple key longer than this as an error.
_MAX_KEY = 1000
# NB: the resolver table CSafeLoader has at import; the memos below assume it
# never changes afterwards (register any implicit resolver before importing).
_FIRSTS = yaml.CSafeLoader.yaml_implicit_resolvers
_WILDCARD = None in _FIRSTS


class _DeclineError(Exception):
    """The document is outside the subset."""


_DECLINED = object()


@functools.lru_cache(maxsize=4096)
def plain_tag(text: str) -> str:
    """The tag PyYAML's resolver gives a plain scalar (memoized: manifests repeat values).

    This is ``BaseResolver.resolve`` for an untagged plain scalar when no path
    resolvers are registered, as with ``CSafeLoader``.
    """
    resolvers = yaml.CSafeLoader.yaml_implicit_resolvers
    for tag, regexp in resolvers.get(text[0] if text else "", []) + resolvers.get(None, []):
        if regexp.match(text):
            return str(tag)
    return "tag:yaml.org,2002:str"


@functools.lru_cache(maxsize=4096)
def _resolved(text: str) -> Any:
    """The typed value of a plain scalar, or ``_DECLINED``."""
    try:
        return SCALARS[plain_tag(text)](text)
    except (KeyError, ValueError):
        return _DECLINED


def _typed(text: str) -> Any:
    # Most keys and values start with a character no implicit resolver claims.
    if text and text[0] not in _FIRSTS and not _WILDCARD:
        return text
    value = _resolved(text)
    if value is _DECLINED:
        raise _DeclineError
    return value


_EMPTY = _resolved("")


def parse(raw: bytes) -> tuple[Any, list[str]] | None:
    """The document and its duplicate keys, or ``None`` when outside the subset."""
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        return None
    try:
        return _build(_rows(text))
    except (_DeclineError, IndexError):  # IndexError: a line ended where more was needed
        return None


def _plain_start(text: str) -> bool:
    first = text[0]
    if first not in _INDICATORS:
        return True
    return first == "-" and len(text) > 1 and text[1] != " "


def _tail(text: str, end: int) -> None:
    """Decline unless only spaces or a comment follow ``end``."""
    rest = text[end:]
    stripped = rest.lstrip(" ")
    if stripped and (stripped[0] != "#" or stripped == rest):
        raise _DeclineError


def _unescape(match: re.Match[str]) -> str:
    code = match.group(1)
    if len(code) == 1:
        if code not in _ESCAPES:
            raise _DeclineError
        return _ESCAPES[code]
    point = int(code[1:], 16)
    if 0xD800 <= point <= 0xDFFF or point > 0x10FFFF:
        raise _DeclineError
    return chr(point)


def _quoted(text: str, start: int) -> tuple[str, int]:
    """The quoted scalar at ``text[start]`` and the index after its closing quote."""
    if text[start] == "'":
        end = text.find("'", start + 1)
        while end >= 0 and text[end + 1 : end + 2] == "'":
            end = text.find("'", end + 2)
        if end < 0:
            raise _DeclineError
        return text[start + 1 : end].replace("''", "'"), end + 1
    end = text.find('"', start + 1)
    if end < 0:
        raise _DeclineError
    body = text[start + 1 : end]
    if "\\" not in body:
        return body, end + 1
    match = _DOUBLE.match(text, start)
    if match is None:
        raise _DeclineError
    return _ESCAPE.sub(_unescape, match.group(1)), match.end()


def _flow_scalar(text: str, pos: int) -> tuple[Any, int]:
    """The quoted or (narrow) plain scalar, ``{}`` or ``[]`` at ``text[pos]`` in flow context."""
    if text[pos] in "'\"":
        return _quoted(text, pos)
    if text.startswith("{}", pos):
        return {}, pos + 2
    if text.startswith("[]", pos):
        return [], pos + 2
    match = _FLOW_PLAIN.match(text, pos)
    if match is None:
        raise _DeclineError
    return _typed(match.group()), match.end()


def _flow(text: str, duplicates: list[str]) -> Any:
    """A one-line flow sequence or mapping of scalars (``text`` starts with ``[`` or ``{``)."""
    mapping = text[0] == "{"
    items: Any = {} if mapping else []
    closing = "}" if mapping else "]"
    pos = 1
    length = len(text)
    while pos < length and text[pos] == " ":
        pos += 1
    if text[pos] == closing:
        _tail(text, pos + 1)
        return items
    while True:
        start = pos
        value, pos = _flow_scalar(text, pos)
        if mapping:
            while pos < length and text[pos] == " ":
                pos += 1
            # NB: ": " only; "{a:b}" and {"a":b} mean different things to libyaml versions.
            if pos - start > _MAX_KEY or text[pos : pos + 2] != ": " or text[start] in "[{":
                raise _DeclineError
            pos += 2
            while pos < length and text[pos] == " ":
                pos += 1
            if value in items:
                duplicates.append(str(value))
            items[value], pos = _flow_scalar(text, pos)
        else:
            items.append(value)
        while pos < length and text[pos] == " ":
            pos += 1
        separator = text[pos]
        pos += 1
        if separator == closing:
            _tail(text, pos)
            return items
        if separator != ",":
            raise _DeclineError
        while pos < length and text[pos] == " ":
            pos += 1


def _inline(text: str, duplicates: list[str]) -> Any:
    """A value written on the line of its key or ``-`` (``text`` is stripped on the left)."""
    first = text[0]
    if first == '"' or first == "'":
        value, end = _quoted(text, 0)
        _tail(text, end)
        return value
    if first == "[" or first == "{":
        return _flow(text, duplicates)
    if not _plain_start(text):
        raise _DeclineError
    comment = text.find(" #")
    if comment >= 0:
        text = text[:comment]
    text = text.rstrip(" ")
    if ": " in text or text[-1] == ":":
        raise _DeclineError
    return _typed(text)


def _entry(content: str) -> tuple[Any, str] | None:
    """The key of a mapping entry and the text after its ``:``; ``None`` if not an entry."""
    if content[0] == "[" or content[0] == "{":
        return None  # a flow collection, never a key here (``_inline`` declines "[a]: b")
    if content[0] == '"' or content[0] == "'":
        key, end = _quoted(content, 0)
        if end > _MAX_KEY:
            raise _DeclineError
        rest = content[end:].lstrip(" ")
        if not rest.startswith(":"):
            if rest and rest[0] != "#":
                raise _DeclineError
            return None
        if len(rest) > 1 and rest[1] != " ":
            raise _DeclineError
        return key, rest[1:].lstrip(" ")
    colon = content.find(": ")
    if colon < 0:
        if content[-1] != ":":
            return None
        colon = len(content) - 1
    comment = content.find(" #")
    if 0 <= comment < colon:
        return None
    if colon > _MAX_KEY or not _plain_start(content):
        raise _DeclineError
    name = content[:colon].rstrip(" ")
    return _typed(name), content[colon + 1 :].lstrip(" ")


def _rows(text: str) -> list[tuple[int, str, str, str]]:
    """The document's significant lines as rows ``(indent, dash, key, rest)``.

    ``dash`` is a leading ``-`` with its spaces (an item), ``key`` a simple
    plain key (letters, digits, ``_./-``) already split from its ``:``, and
    ``rest`` the remaining text; a line that is neither keeps its text in
    ``rest`` for ``_entry`` and ``_inline``.
    """
    lines = _LINE.findall(text)
    if len(lines) != text.count("\n") + 1:
        raise _DeclineError  # a line with a character outside _PRINTABLE
    rows = []
    started = False
    for spaces, dash, key, rest in lines:
        if not dash and not key:
            if not rest or rest[0] == "#":
                continue
            if not spaces and (rest[:3] in ("---", "...") or rest[0] == "%"):
                if started or rest[:3] != "---":
                    raise _DeclineError
                _tail(rest, 3)
                started = True
                continue
        started = True
        rows.append((len(spaces), dash, key, rest))
    if not rows:
        raise _DeclineError
    return rows


def _build(rows: list[tuple[int, str, str, str]]) -> tuple[Any, list[str]]:
    """The value the rows spell out, and its duplicate keys, in one pass.

    A stack holds the open collections (indent, container, is a sequence); the
    top is kept in locals. A key or ``-`` with nothing after it leaves a
    *pending* slot (holding the empty scalar) that the next row fills when it
    is deeper, or when it is a ``-`` at a mapping key's own indent.
    """
    duplicates: list[str] = []
    first_indent, first_dash, _, _ = rows[0]
    root: Any = [] if first_dash else {}
    indent, container, in_sequence = first_indent, root, bool(first_dash)
    stack: list[tuple[int, Any, bool]] = []
    pending: tuple[Any, Any, int, bool] | None = None
    count = len(rows)
    index = 0
    while index < count:
        row_indent, dash, name, rest = rows[index]
        index += 1
        if pending is not None:
            slot_container, slot, owner, indentless = pending
            pending = None
            if row_indent > owner or (indentless and row_indent == owner and dash):
                stack.append((indent, container, in_sequence))
                indent, container, in_sequence = row_indent, [] if dash else {}, bool(dash)
                slot_container[slot] = container
        if len(stack) > _MAX_DEPTH:
            raise _DeclineError
        if row_indent != indent:
            while row_indent < indent:
                if not stack:
                    raise _DeclineError
                indent, container, in_sequence = stack.pop()
            if row_indent != indent:
                raise _DeclineError
        if in_sequence and not dash:
            # The end of a sequence at its key's indent: back to that mapping.
            if not stack or stack[-1][0] != row_indent or stack[-1][2]:
                raise _DeclineError
            indent, container, in_sequence = stack.pop()
        if in_sequence:
            column = row_indent + len(dash)
            if name:
                entry: tuple[Any, str] = (_typed(name), rest)
            elif not rest or rest[0] == "#":
                container.append(_EMPTY)
                pending = (container, len(container) - 1, row_indent, False)
                continue
            elif rest[0] == "-" and (len(rest) == 1 or rest[1] == " "):
                # A compact nested sequence: re-read this line from its second "-".
                inner = _LINE.match(rest)
                if inner is None:
                    raise _DeclineError
                nested: list[Any] = []
                container.append(nested)
                stack.append((indent, container, in_sequence))
                indent, container, in_sequence = column, nested, True
                index -= 1
                rows[index] = (column, inner[2], inner[3], inner[4])
                continue
            else:
                found = _entry(rest)
                if found is None:
                    container.append(_inline(rest, duplicates))
                    continue
                entry = found
            mapping: dict[Any, Any] = {}
            container.append(mapping)
            stack.append((indent, container, in_sequence))
            indent, container, in_sequence = column, mapping, False
        else:
            if dash:
                raise _DeclineError
            found = (_typed(name), rest) if name else _entry(rest)
            if found is None:
                raise _DeclineError
            entry = found
        key, rest = entry
        if key in container:
            duplicates.append(str(key))
        if not rest or rest[0] == "#":
            container[key] = _EMPTY
            pending = (container, key, indent, True)
        else:
            container[key] = _inline(rest, duplicates)
    return root, duplicates
