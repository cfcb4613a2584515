"""Flux's ``${var}`` expansion language (fluxcd/pkg envsubst), parsed and evaluated.

Contract, matching Flux's parser and evaluator rune for rune where it matters:

- Text outside ``${…}`` is copied; ``$$`` there stands for one literal ``$``
  that can never start an expansion (``$${var}`` gives ``${var}``), and a bare
  ``$var`` is plain text.
- ``${var}`` and the functions ``${#var}``, ``${var^}``, ``${var^^}``,
  ``${var,}``, ``${var,,}``, ``${var:pos}``, ``${var:pos:len}``,
  ``${var#glob}``, ``${var##glob}``, ``${var%glob}``, ``${var%%glob}``,
  ``${var/pat/rep}``, ``${var//pat/rep}``, ``${var/#pat/rep}``,
  ``${var/%pat/rep}`` and the defaults ``${var=d}``, ``${var:=d}``,
  ``${var:-d}`` (also ``:?`` and ``:+``, which Flux evaluates as defaults).
  NB: ``${var-d}`` is *not* accepted by Flux's parser (missing closing brace),
  and every default applies when the value is empty, set or not.
- Defaults may nest expansions (``${a:=${b}-x}``); replace arguments honour
  ``\\/``, ``\\\\`` and ``$$`` escapes.
- Strict mode: a variable that is not defined fails the expansion with
  ``variable not set (strict mode): "name"`` unless a default operator names
  it. Otherwise unset variables expand to the empty string.

Errors carry Flux's messages (``bad substitution``, ``missing closing brace``,
``unable to parse variable name``, ``unable to parse substitution within
function``), so a BuildFailed condition reads the same as Flux's.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Callable, Mapping

BAD_SUBSTITUTION = "bad substitution"
MISSING_CLOSING_BRACE = "missing closing brace"
PARSE_VARIABLE_NAME = "unable to parse variable name"
PARSE_FUNC_SUBSTITUTION = "unable to parse substitution within function"
VARIABLE_NOT_SET = "variable not set (strict mode)"

_DEFAULT_OPERATORS = frozenset({"-", "+", "=", "?", ":-", ":+", ":=", ":?"})
_ATOI = re.compile(r"[+-]?[0-9]+")


class ExpansionError(ValueError):
    """A template is malformed, or names an unset variable in strict mode."""


@dataclasses.dataclass(frozen=True)
class Text:
    value: str


@dataclasses.dataclass(frozen=True)
class Expansion:
    """``${…}``: ``operator`` is "" for a plain reference, else ``#``, ``:=``, ``//`` …"""

    variable: str
    operator: str = ""
    args: tuple[Node, ...] = ()


Node = Text | Expansion
Accept = Callable[[str, int], bool]
"""Whether a character is part of a token, given its 1-based position in it."""


def _ident(ch: str, _: int) -> bool:
    return ch == "_" or ch.isalpha() or unicodedata.category(ch) == "Nd"


def _any(_: str, __: int) -> bool:
    return True


def _not_closing(ch: str, _: int) -> bool:
    return ch != "}"


def _not_colon_or_closing(ch: str, _: int) -> bool:
    return ch not in ":}"


def _not_slash(ch: str, _: int) -> bool:
    return ch != "/"


class _Parser:
    def __init__(self, source: str) -> None:
        self.src = source
        self.pos = 0

    def peek(self, ahead: int = 0) -> str:
        at = self.pos + ahead
        return self.src[at] if at < len(self.src) else ""

    def at_open(self) -> bool:
        return self.src.startswith("${", self.pos)

    def take(self, char: str) -> bool:
        if self.peek() == char:
            self.pos += 1
            return True
        return False

    def scan(
        self,
        accept: Accept,
        *,
        escape_dollar: bool = False,
        escape_backslash: bool = False,
        stop_at_open: bool = False,
    ) -> str:
        """Read the longest token of accepted characters; "" when the first is refused.

        An escape pair (``$$``, ``\\/``, ``\\\\``) contributes its second
        character without asking ``accept``, as Flux's scanner does.
        """
        out: list[str] = []
        while self.pos < len(self.src):
            ch = self.src[self.pos]
            if out and stop_at_open and self.at_open():
                break
            following = self.peek(1)
            if (escape_dollar and ch == "$" and following == "$") or (
                escape_backslash and ch == "\\" and following in ("/", "\\") and following
            ):
                out.append(following)
                self.pos += 2
                continue
            if not accept(ch, len(out) + 1):
                break
            out.append(ch)
            self.pos += 1
        return "".join(out)

    def parse(self) -> tuple[Node, ...]:
        nodes: list[Node] = []
        while self.pos < len(self.src):
            if self.at_open():
                self.pos += 2
                nodes.append(self.expansion())
            else:
                nodes.append(Text(self.scan(_any, escape_dollar=True, stop_at_open=True)))
        return tuple(nodes)

    def param(self, accept: Accept, *, escapes: bool = False) -> Node:
        if self.at_open():
            self.pos += 2
            return self.expansion()
        text = self.scan(accept, escape_dollar=escapes, escape_backslash=escapes, stop_at_open=True)
        if not text:
            raise ExpansionError(PARSE_FUNC_SUBSTITUTION)
        return Text(text)

    def close(self) -> None:
        if not self.take("}"):
            raise ExpansionError(BAD_SUBSTITUTION)

    def expansion(self) -> Expansion:
        if self.peek() == "#":
            self.pos += 1
            variable = self.scan(_ident)
            if not variable:
                raise ExpansionError(BAD_SUBSTITUTION)
            self.close()
            return Expansion(variable, "#")
        variable = self.scan(_ident)
        if not variable:
            raise ExpansionError(PARSE_VARIABLE_NAME)
        ch = self.peek()
        if ch == ":":
            if self.peek(1) and self.peek(1) in "=-?+":
                return self.default(variable)
            return self.substring(variable)
        if ch == "=":
            return self.default(variable)
        if ch in (",", "^"):
            operator = self.scan(lambda c, i: c in ",^" and i < 3)
            self.close()
            return Expansion(variable, operator)
        if ch == "/":
            return self.replace(variable)
        if ch in ("#", "%"):
            operator = self.scan(lambda c, i: c == ch and i < 3)
            args = (self.param(_not_closing),)
            self.close()
            return Expansion(variable, operator, args)
        if not self.take("}"):
            raise ExpansionError(MISSING_CLOSING_BRACE)
        return Expansion(variable)

    def default(self, variable: str) -> Expansion:
        operator = self.src[self.pos : self.pos + 2] if self.peek() == ":" else "="
        self.pos += len(operator)
        args: list[Node] = []
        while not self.take("}"):
            args.append(self.param(_not_closing))
        return Expansion(variable, operator, tuple(args))

    def substring(self, variable: str) -> Expansion:
        self.pos += 1
        args = [self.param(_not_colon_or_closing)]
        if self.take("}"):
            return Expansion(variable, ":", tuple(args))
        if not self.scan(lambda c, _: c == ":"):
            raise ExpansionError(BAD_SUBSTITUTION)
        args.append(self.param(_not_closing))
        self.close()
        return Expansion(variable, ":", tuple(args))

    def replace(self, variable: str) -> Expansion:
        operator = self.scan(lambda c, i: (i == 1 and c == "/") or (i == 2 and c in "/#%"))
        args: list[Node] = []
        if self.peek() == "/":
            args.append(Text(""))
        else:
            args.append(self.param(_not_slash, escapes=True))
        if not self.scan(lambda c, _: c == "/"):
            raise ExpansionError(BAD_SUBSTITUTION)
        if self.take("}"):
            return Expansion(variable, operator, tuple(args))
        args.append(self.param(_not_closing, escapes=True))
        self.close()
        return Expansion(variable, operator, tuple(args))


def parse(template: str) -> tuple[Node, ...]:
    """Parse a template; raises ``ExpansionError`` with Flux's message when malformed."""
    return _Parser(template).parse()


def expand(template: str, variables: Mapping[str, str], *, strict: bool = False) -> str:
    """Expand every ``${…}`` of ``template`` from ``variables``."""
    return "".join(_evaluate(node, variables, strict) for node in parse(template))


def _evaluate(node: Node, variables: Mapping[str, str], strict: bool) -> str:
    if isinstance(node, Text):
        return node.value
    args = [_evaluate(arg, variables, strict) for arg in node.args]
    value = variables.get(node.variable)
    if value is None:
        if strict and node.operator not in _DEFAULT_OPERATORS:
            raise ExpansionError(f'{VARIABLE_NOT_SET}: "{node.variable}"')
        value = ""
    return _apply(node.operator, value, args)


def _apply(operator: str, value: str, args: list[str]) -> str:
    match operator:
        case ",":
            return _first(value, str.lower)
        case ",,":
            return _each(value, str.lower)
        case "^":
            return _first(value, str.upper)
        case "^^":
            return _each(value, str.upper)
        case "#" if not args:
            return str(len(value.encode()))
        case "#":
            return _trim_prefix(value, args[0], longest=False)
        case "##":
            return _trim_prefix(value, args[0], longest=True)
        case "%":
            return _trim_prefix(value[::-1], args[0][::-1], longest=False)[::-1]
        case "%%":
            return _trim_prefix(value[::-1], args[0][::-1], longest=True)[::-1]
        case ":":
            return _substring(value, args)
        case "/" | "//":
            pattern, replacement = args[0], args[1] if len(args) > 1 else ""
            return value.replace(pattern, replacement, 1 if operator == "/" else -1)
        case "/#":
            if len(args) == 2 and value.startswith(args[0]):
                return value.replace(args[0], args[1], 1)
            return value
        case "/%":
            if len(args) == 2 and value.endswith(args[0]):
                return value[: len(value) - len(args[0])] + args[1]
            return value
        case _:
            return "".join(args) if not value and args else value


def _simple_case(ch: str, convert: Callable[[str], str]) -> str:
    # Go maps one rune to one rune ("ß" stays "ß"); Python may expand it.
    mapped = convert(ch)
    return mapped if len(mapped) == 1 else ch


def _first(value: str, convert: Callable[[str], str]) -> str:
    return _simple_case(value[0], convert) + value[1:] if value else value


def _each(value: str, convert: Callable[[str], str]) -> str:
    return "".join(_simple_case(ch, convert) for ch in value)


def _substring(value: str, args: list[str]) -> str:
    # Go slices bytes; so do we, decoding leniently should a rune be cut.
    data = value.encode()
    if not _ATOI.fullmatch(args[0]):
        return value
    pos = int(args[0])
    if pos < 0:
        pos = max(len(data) + pos, 0)
    if len(args) == 1:
        return data[pos:].decode(errors="replace") if pos < len(data) else ""
    if not _ATOI.fullmatch(args[1]):
        return value
    length = int(args[1])
    if length < 0:
        end = len(data) + length
        return "" if end < pos else data[pos:end].decode(errors="replace")
    if pos + length >= len(data):
        return data[pos:].decode(errors="replace") if pos < len(data) else ""
    return data[pos : pos + length].decode(errors="replace")


def _trim_prefix(value: str, pattern: str, *, longest: bool) -> str:
    """Strip the shortest or longest non-empty prefix matching a glob (``*`` spans ``/``)."""
    matcher = _glob(pattern)
    if matcher is None:
        return value
    lengths = range(len(value), 0, -1) if longest else range(1, len(value) + 1)
    for length in lengths:
        if matcher.fullmatch(value[:length]):
            return value[length:]
    return value


def _glob(pattern: str) -> re.Pattern[str] | None:
    """Compile a Go path.Match pattern whose wildcards also match ``/``; None when malformed."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        elif ch == "\\":
            if i + 1 >= len(pattern):
                return None
            i += 1
            out.append(re.escape(pattern[i]))
        elif ch == "[":
            end, cls = _glob_class(pattern, i + 1)
            if cls is None:
                return None
            out.append(cls)
            i = end
        else:
            out.append(re.escape(ch))
        i += 1
    return re.compile("".join(out), re.DOTALL)


def _glob_class(pattern: str, start: int) -> tuple[int, str | None]:
    """Translate a ``[...]`` class starting after ``[``: the index of ``]`` and a regex class."""
    i = start
    negate = i < len(pattern) and pattern[i] == "^"
    if negate:
        i += 1
    parts: list[str] = []
    while True:
        if i >= len(pattern):
            return i, None
        if pattern[i] == "]" and parts:
            break
        lo, i = _class_char(pattern, i)
        if lo is None:
            return i, None
        if i < len(pattern) and pattern[i] == "-":
            hi, i = _class_char(pattern, i + 1)
            if hi is None or hi < lo:
                return i, None
            parts.append(f"{re.escape(lo)}-{re.escape(hi)}")
        else:
            parts.append(re.escape(lo))
    return i, "[" + ("^" if negate else "") + "".join(parts) + "]"


def _class_char(pattern: str, i: int) -> tuple[str | None, int]:
    if i >= len(pattern) or pattern[i] in "-]":
        return None, i
    if pattern[i] == "\\":
        i += 1
        if i >= len(pattern):
            return None, i
    return pattern[i], i + 1
