"""A subset of Go's text/template, enough for the commit message templates Flux documents.

Supported: text with ``{{ }}`` actions and ``{{-``/``-}}`` trim markers;
pipelines of commands joined by ``|`` (the previous result is the last
argument); operands ``.``, ``.Field.Chain``, ``$var.Field``, string, number
and boolean literals, ``( pipeline )``; ``$x := pipeline`` and
``$x = pipeline``; ``if``/``else``/``end``; ``range``, with ``$k, $v :=`` or
``$v :=`` or neither, over lists and maps (maps in sorted key order, as Go);
the functions in ``FUNCTIONS`` (Go's print family and the hermetic Sprig
functions the documented templates use). Anything else (``with``,
``define``, ``else if``, other functions, comments) raises TemplateError at
parse time, naming the construct, so a template is refused before it runs.

Data is given as ``Struct`` values (Go structs: named fields, an optional
String form), dicts (Go maps) and lists; field access on a map looks the key
up, as Go does, with a missing key reading as the empty string.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Callable
from typing import Any


class TemplateError(Exception):
    """The template uses a construct outside the supported subset, or failed to run."""


@dataclasses.dataclass(frozen=True, order=True)
class Struct:
    """A Go struct value: ``fields`` by Go name; ``text`` is its String() form when it has one."""

    fields: tuple[tuple[str, Any], ...]
    text: str | None = dataclasses.field(default=None, compare=False)

    def get(self, name: str) -> Any:
        """The field ``name``; TemplateError when the struct has no such field."""
        for key, value in self.fields:
            if key == name:
                return value
        raise TemplateError(f"can't evaluate field {name}")


def go_string(value: Any) -> str:
    """``value`` as Go's fmt %v writes it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "<no value>"
    if isinstance(value, Struct):
        if value.text is not None:
            return value.text
        return "{" + " ".join(go_string(v) for _, v in value.fields) + "}"
    if isinstance(value, list):
        return "[" + " ".join(go_string(v) for v in value) + "]"
    if isinstance(value, dict):
        items = (f"{go_string(k)}:{go_string(value[k])}" for k in sorted(value))
        return "map[" + " ".join(items) + "]"
    return str(value)


def _truth(value: Any) -> bool:
    return bool(value) if not isinstance(value, Struct) else True


def _print(*args: Any) -> str:
    out = ""
    for i, arg in enumerate(args):
        if i and not isinstance(arg, str) and not isinstance(args[i - 1], str):
            out += " "
        out += go_string(arg)
    return out


def _printf(fmt: str, *args: Any) -> str:
    values = iter(args)

    def verb(match: re.Match[str]) -> str:
        if match[0] == "%%":
            return "%"
        value = next(values, None)
        return f'"{go_string(value)}"' if match[0] == "%q" else go_string(value)

    return re.sub(r"%[svdq%]", verb, fmt)


def _trunc(n: int, s: str) -> str:
    return s[:n] if n >= 0 else s[n:]


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "print": _print,
    "println": lambda *args: " ".join(go_string(a) for a in args) + "\n",
    "printf": _printf,
    "len": len,
    "not": lambda v: not _truth(v),
    "eq": lambda a, *bs: any(a == b for b in bs),
    "ne": lambda a, b: a != b,
    "lower": lambda s: s.lower(),
    "upper": lambda s: s.upper(),
    "trim": lambda s: s.strip(),
    "contains": lambda sub, s: sub in s,
    "hasPrefix": lambda prefix, s: s.startswith(prefix),
    "hasSuffix": lambda suffix, s: s.endswith(suffix),
    "replace": lambda old, new, s: s.replace(old, new),
    "trunc": _trunc,
    "quote": lambda *args: " ".join(f'"{go_string(a)}"' for a in args),
    "join": lambda sep, items: sep.join(go_string(i) for i in items),
    "toString": go_string,
    "sha256sum": lambda s: hashlib.sha256(s.encode()).hexdigest(),
}

_ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.DOTALL)
_TOKEN = re.compile(
    r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*"|`[^`]*`)|(?P<num>-?\d+)|(?P<op>:=|=|\||\(|\)|,)'
    r"|(?P<var>\$\w*(?:\.\w+)*)|(?P<field>(?:\.\w+)+|\.)|(?P<ident>\w+))"
)

Node = tuple[Any, ...]


def _tokens(source: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position, source = 0, source.strip()
    while position < len(source):
        match = _TOKEN.match(source, position)
        if match is None or match.end() == position:
            raise TemplateError(f"unexpected {source[position:]!r} in action")
        kind = match.lastgroup or ""
        tokens.append((kind, match[kind]))
        position = match.end()
    return tokens


class Template:
    """A parsed template; ``render`` runs it on data."""

    def __init__(self, source: str) -> None:
        self._items = self._lex(source)
        self._position = 0
        self._body = self._parse_list(())
        if self._position < len(self._items):
            raise TemplateError(f"unexpected {{{{{self._items[self._position][1]}}}}}")

    @staticmethod
    def _lex(source: str) -> list[tuple[str, str]]:
        items: list[tuple[str, str]] = []
        position = 0
        for match in _ACTION.finditer(source):
            text = source[position : match.start()]
            if match[1]:
                text = text.rstrip()
            items.append(("text", text))
            items.append(("action", match[2]))
            position = match.end()
            if match[3]:
                while position < len(source) and source[position].isspace():
                    position += 1
        items.append(("text", source[position:]))
        return [item for item in items if item != ("text", "")]

    def _parse_list(self, stops: tuple[str, ...]) -> list[Node]:
        nodes: list[Node] = []
        while self._position < len(self._items):
            kind, value = self._items[self._position]
            if kind == "text":
                nodes.append(("text", value))
                self._position += 1
                continue
            keyword = value.split(None, 1)[0] if value.strip() else ""
            if keyword in stops:
                return nodes
            self._position += 1
            if keyword in ("if", "range"):
                nodes.append(self._parse_block(keyword, value.strip()[len(keyword) :]))
            elif keyword in ("else", "end"):
                raise TemplateError(f"unexpected {{{{{keyword}}}}}")
            elif keyword in ("with", "define", "template", "block", "break", "continue"):
                raise TemplateError(f"{{{{{keyword}}}}} is not supported in commit templates")
            elif value.lstrip().startswith("/*"):
                raise TemplateError("template comments are not supported")
            else:
                nodes.append(("action", *self._parse_pipeline(value)))
        if stops:
            raise TemplateError(f"missing {{{{end}}}} ({' or '.join(stops)})")
        return nodes

    def _parse_block(self, keyword: str, head: str) -> Node:
        names: list[str] = []
        declaration = re.match(r"\s*(\$\w+)\s*(?:,\s*(\$\w+)\s*)?:=(.*)", head, re.DOTALL)
        if keyword == "range" and declaration:
            names = [n for n in declaration.group(1, 2) if n]
            head = declaration[3]
        pipeline = self._parse_pipeline(head)[1]
        body = self._parse_list(("else", "end"))
        otherwise: list[Node] = []
        if self._items[self._position][1].strip() == "else":
            self._position += 1
            otherwise = self._parse_list(("end",))
        elif self._items[self._position][1].strip() != "end":
            raise TemplateError("'else if' is not supported in commit templates")
        if self._items[self._position][1].strip() != "end":
            raise TemplateError(f"unexpected {{{{{self._items[self._position][1].strip()}}}}}")
        self._position += 1
        return (keyword, names, pipeline, body, otherwise)

    def _parse_pipeline(self, source: str) -> tuple[tuple[str, str] | None, Node]:
        tokens = _tokens(source)
        assignment = None
        if len(tokens) > 1 and tokens[0][0] == "var" and tokens[1] in (("op", ":="), ("op", "=")):
            assignment = (tokens[1][1], tokens[0][1])
            tokens = tokens[2:]
        pipeline, rest = _pipeline(tokens)
        if rest:
            raise TemplateError(f"unexpected {rest[0][1]!r} in {source.strip()!r}")
        return assignment, pipeline

    def render(self, data: Any) -> str:
        """The text the template produces for ``data``; TemplateError when it cannot run."""
        out: list[str] = []
        _run(self._body, data, [{"$": data}], out)
        return "".join(out)


def _pipeline(tokens: list[tuple[str, str]]) -> tuple[Node, list[tuple[str, str]]]:
    commands: list[list[Node]] = [[]]
    while tokens and tokens[0] not in (("op", ")"),):
        kind, value = tokens[0]
        tokens = tokens[1:]
        if (kind, value) == ("op", "|"):
            commands.append([])
        elif (kind, value) == ("op", "("):
            inner, tokens = _pipeline(tokens)
            if not tokens:
                raise TemplateError("unclosed (")
            tokens = tokens[1:]
            commands[-1].append(inner)
        elif kind == "ident" and value not in ("true", "false", "nil"):
            if value not in FUNCTIONS:
                raise TemplateError(f'function "{value}" not defined for commit templates')
            commands[-1].append(("func", value))
        elif kind == "op":
            raise TemplateError(f"unexpected {value!r}")
        else:
            commands[-1].append((kind, value))
    if not all(commands):
        raise TemplateError("missing command in pipeline")
    return ("pipeline", commands), tokens


def _run(nodes: list[Node], dot: Any, scopes: list[dict[str, Any]], out: list[str]) -> None:
    scopes = [*scopes, {}]
    for node in nodes:
        if node[0] == "text":
            out.append(node[1])
        elif node[0] == "action":
            _, assignment, pipeline = node
            value = _evaluate(pipeline, dot, scopes)
            if assignment is None:
                out.append(go_string(value))
            elif assignment[0] == ":=":
                scopes[-1][assignment[1]] = value
            else:
                scope = next((s for s in reversed(scopes) if assignment[1] in s), None)
                if scope is None:
                    raise TemplateError(f"undefined variable {assignment[1]}")
                scope[assignment[1]] = value
        elif node[0] == "if":
            _, _, pipeline, body, otherwise = node
            chosen = body if _truth(_evaluate(pipeline, dot, scopes)) else otherwise
            _run(chosen, dot, scopes, out)
        else:
            _range(node, dot, scopes, out)


def _range(node: Node, dot: Any, scopes: list[dict[str, Any]], out: list[str]) -> None:
    _, names, pipeline, body, otherwise = node
    collection = _evaluate(pipeline, dot, scopes)
    if isinstance(collection, dict):
        pairs = [(key, collection[key]) for key in sorted(collection)]
    elif isinstance(collection, list):
        pairs = list(enumerate(collection))
    elif isinstance(collection, int) and not isinstance(collection, bool):
        pairs = [(i, i) for i in range(collection)]
    else:
        raise TemplateError(f"range can't iterate over {go_string(collection)}")
    if not pairs:
        _run(otherwise, dot, scopes, out)
    for key, value in pairs:
        bound = dict(zip(names, (key, value) if len(names) == 2 else (value,), strict=False))
        _run(body, value, [*scopes, bound], out)


def _evaluate(pipeline: Node, dot: Any, scopes: list[dict[str, Any]]) -> Any:
    result: Any = None
    for index, command in enumerate(pipeline[1]):
        first, *operands = command
        arguments = [_operand(o, dot, scopes) for o in operands]
        if index:
            arguments.append(result)
        if first[0] == "func":
            try:
                result = FUNCTIONS[first[1]](*arguments)
            except (TypeError, ValueError, AttributeError) as error:
                raise TemplateError(f"error calling {first[1]}: {error}") from error
        elif arguments:
            raise TemplateError(f"{first[1]} is not a function")
        else:
            result = _operand(first, dot, scopes)
    return result


def _operand(node: Node, dot: Any, scopes: list[dict[str, Any]]) -> Any:
    kind, value = node[0], node[1]
    if kind == "pipeline":
        return _evaluate(node, dot, scopes)
    if kind == "str":
        return value[1:-1] if value[0] == "`" else value[1:-1].encode().decode("unicode_escape")
    if kind == "num":
        return int(value)
    if kind == "ident":
        return {"true": True, "false": False, "nil": None}[value]
    if kind == "field":
        return _fields(dot, value.split(".")[1:] if value != "." else [])
    if kind == "var":
        name, *chain = value.split(".")
        scope = next((s for s in reversed(scopes) if name in s), None)
        if scope is None:
            raise TemplateError(f"undefined variable {name}")
        return _fields(scope[name], chain)
    raise TemplateError(f"{value} is not a value")


def _fields(value: Any, chain: list[str]) -> Any:
    for name in chain:
        if isinstance(value, Struct):
            value = value.get(name)
        elif isinstance(value, dict):
            value = value.get(name, "")
        else:
            raise TemplateError(f"can't evaluate field {name} in {go_string(value)}")
    return value
