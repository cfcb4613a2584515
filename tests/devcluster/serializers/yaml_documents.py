"""Seeded random YAML documents for the blockyaml differential tests.

``document`` writes manifest-like block YAML (nested mappings and sequences,
compact ``- key:`` items, indentless sequences, one-line flow collections, every
quoting style, comments, tricky scalars and keys); most of it is valid and in
the fast parser's subset. ``mutate`` breaks one line (mostly into invalid
YAML). ``scrambled`` builds short documents from a handful of indicator
characters, so that it reaches the corners of line splitting.
"""

from __future__ import annotations

import random

SCALARS = [
    "yes",
    "no",
    "on",
    "off",
    "Yes",
    "NO",
    "true",
    "True",
    "FALSE",
    "y",
    "n",
    "null",
    "Null",
    "~",
    "",
    "0x1F",
    "0o17",
    "017",
    "0b101",
    "1_000",
    "1e3",
    "1.0e3",
    "1.5e+3",
    ".5",
    "-.inf",
    ".NaN",
    ".nan",
    "-1",
    "+1",
    "0",
    "00",
    "1.",
    "1:20",
    "2024-01-01",
    "2024-01-01 10:00:00",
    "123",
    "x'y",
    'a"b\\n',
    "a#b",
    "a #b",
    "#x",
    "a: b",
    "a:b",
    "-",
    "- a",
    "-a",
    "--flag",
    "?x",
    ":x",
    "@x",
    "`x",
    "%x",
    "!x",
    "&x",
    "*x",
    "|",
    ">",
    "[a]",
    "{a}",
    "a,b",
    "<<",
    "=",
    "caf\u00e9",
    "\u65e5\u672c",
    "http://example.com:80/p?q=1#f",
    "v1.2.3",
    "100m",
    "128Mi",
    "a  b",
    " lead",
    "trail ",
    "tab\there",
    "line\nbreak",
    "back\\slash",
    "---",
    "...",
]
KEYS = [
    "name",
    "apiVersion",
    "app.kubernetes.io/name",
    "key-with-dashes",
    "a:b",
    "with space",
    "1",
    "true",
    "null",
    "yes",
    "x",
    "y",
    "on",
    "0x10",
    "1.5",
    "~",
    "#hash",
    "k#v",
    "-dash",
    "'quoted'",
    "<<",
    "caf\u00e9",
    "",
]


def _quote(rng: random.Random, text: str, *, allow_plain: bool = True) -> str:
    style = rng.randrange(4 if allow_plain else 3)
    if style == 0:
        return "'" + text.replace("'", "''") + "'"
    if style == 1:
        escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        escaped = escaped.replace("\t", rng.choice(["\\t", "\t"]))
        return '"' + escaped.replace("\u00e9", rng.choice(["\\u00e9", "\\xe9", "\u00e9"])) + '"'
    if style == 2:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return text


def _scalar(rng: random.Random) -> str:
    if rng.random() < 0.3:
        return rng.choice(["word", "ghcr.io/app:1.0", "value-1", "8080", "3", "production"])
    return _quote(rng, rng.choice(SCALARS))


def _key(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return rng.choice(["name", "image", "spec", "metadata", "labels", "ports", "env", "args"])
    return _quote(rng, rng.choice(KEYS))


def _comment(rng: random.Random) -> str:
    return rng.choice(["", "", "", " # note", "  #: x", "   ", " #"])


def _inline(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.12:
        items = [_quote(rng, rng.choice([*SCALARS, "{}", "[]"])) for _ in range(rng.randrange(4))]
        return "[" + rng.choice([", ", ",", " , "]).join(items) + "]"
    if roll < 0.16:
        return rng.choice(["[]", "{}", "[ ]", "{ }"])
    if roll < 0.24:
        pairs = [
            _quote(rng, rng.choice([*KEYS, "{}"]))
            + rng.choice([": ", " : ", ":"])
            + _quote(rng, rng.choice([*SCALARS, "{}", "[]"]))
            for _ in range(rng.randrange(4))
        ]
        return "{" + rng.choice([", ", ",", " , "]).join(pairs) + "}"
    return _scalar(rng)


def _mapping(rng: random.Random, indent: int, depth: int) -> list[str]:
    lines = []
    for _ in range(rng.randint(1, 4)):
        head = " " * indent + _key(rng) + rng.choice([":", ":", " :"])
        roll = rng.random() if depth < 4 else 0.0
        if roll < 0.55:
            lines.append(head + " " + _inline(rng) + _comment(rng))
        elif roll < 0.75:
            lines.append(head + _comment(rng))
            lines += _mapping(rng, indent + rng.choice([2, 2, 4, 1]), depth + 1)
        else:
            lines.append(head + _comment(rng))
            lines += _sequence(rng, indent + rng.choice([0, 0, 2, 4]), depth + 1)
        if rng.random() < 0.08:
            lines.append(" " * rng.randrange(6) + rng.choice(["", "# comment", "#"]))
    return lines


def _sequence(rng: random.Random, indent: int, depth: int) -> list[str]:
    lines = []
    for _ in range(rng.randint(1, 4)):
        dash = "-" + " " * rng.choice([1, 1, 1, 2, 3])
        column = indent + len(dash)
        roll = rng.random() if depth < 4 else 0.0
        if roll < 0.45:
            lines.append(" " * indent + dash + _inline(rng) + _comment(rng))
            continue
        child = (
            _mapping(rng, column, depth + 1) if roll < 0.8 else _sequence(rng, column, depth + 1)
        )
        if rng.random() < 0.8:  # compact: the first child line shares the dash's line
            lines.append(" " * indent + dash + child[0][column:])
            lines += child[1:]
        else:
            lines.append(" " * indent + "-" + _comment(rng))
            lines += child
    return lines


def document(rng: random.Random) -> str:
    lines = _mapping(rng, 0, 0) if rng.random() < 0.85 else _sequence(rng, 0, 0)
    if rng.random() < 0.2:
        lines.insert(0, rng.choice(["---", "--- # doc", "# header", ""]))
    return "\n".join(lines) + rng.choice(["\n", "", "\n\n"])


def mutate(rng: random.Random, text: str) -> str:
    lines = text.split("\n")
    index = rng.randrange(len(lines))
    line = lines[index]
    roll = rng.randrange(5)
    if roll == 0 and line:
        spot = rng.randrange(len(line))
        lines[index] = line[:spot] + line[spot + 1 :]
    elif roll == 1:
        spot = rng.randrange(len(line) + 1)
        lines[index] = line[:spot] + rng.choice(":-#'\"[]{}&*!|>, ?\t%@") + line[spot:]
    elif roll == 2:
        lines[index] = rng.choice([" ", "  "]) + line
    elif roll == 3 and line.startswith(" "):
        lines[index] = line[1:]
    else:
        lines.insert(index, line)
    return "\n".join(lines)


_SCRAMBLE = [*"ab1 0.-:#'\"[]{},&*!|>?%@`\\~_/=", "yes", "null", "0x1", "1e3", "\u00e9", " #", ": "]


def scrambled(rng: random.Random) -> str:
    def fragment(most: int) -> str:
        return "".join(rng.choice(_SCRAMBLE) for _ in range(rng.randint(0, most)))

    lines = []
    for _ in range(rng.randint(1, 6)):
        head = " " * rng.choice([0, 0, 1, 2, 2, 3, 4, 6]) + rng.choice(
            ["", "", "- ", "-  ", "- - ", "-"]
        )
        if rng.random() < 0.6:
            lines.append(head + fragment(5) + rng.choice([":", ": ", " : ", ":  "]) + fragment(8))
        else:
            lines.append(head + fragment(8))
    return "\n".join(lines)
