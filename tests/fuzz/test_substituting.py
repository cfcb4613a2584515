"""Properties of postBuild substitution, whose templates come from Git and values from the cluster.

The reference is a small model of the subset every envsubst agrees on:
literal text, ``$$`` (one ``$``), a bare ``$name`` (kept as written),
``${name}`` and the defaults ``${name:-d}``, ``${name:=d}``, ``${name=d}``
(the default when the value is empty or unset). Templates generated from
those pieces expand as the model says, variable values are inserted
verbatim (a value holding ``${x}`` is never expanded again), and the same
holds through ``substitute_document`` on a YAML object. Any template text
expands or raises ExpansionError; any YAML text substitutes or raises
SubstitutionError; nothing else escapes.
"""

from __future__ import annotations

import dataclasses
import json

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from controllers.kustomize import expanding, substituting

pytestmark = pytest.mark.fuzz

_NAMES = ["a", "b", "_c", "d1"]


@dataclasses.dataclass(frozen=True)
class Piece:
    """One piece of a template: its text and how the model evaluates it."""

    text: str
    variable: str | None = None
    default: str | None = None

    def evaluate(self, variables: dict[str, str]) -> str:
        if self.variable is None:
            return self.text.replace("$$", "$")
        value = variables.get(self.variable, "")
        return value if value or self.default is None else self.default


def _literal(alphabet: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.text(alphabet, min_size=1, max_size=8)


def pieces(alphabet: st.SearchStrategy[str]) -> st.SearchStrategy[Piece]:
    name = st.sampled_from(_NAMES)
    default_text = st.text(alphabet.filter(lambda ch: ch != "}"), max_size=6)
    return st.one_of(
        _literal(alphabet).map(Piece),
        st.just(Piece("$$")),
        name.map(lambda n: Piece("$" + n)),  # a bare $name stays text
        name.map(lambda n: Piece("${" + n + "}", n)),
        st.builds(
            lambda n, operator, default: Piece(f"${{{n}{operator}{default}}}", n, default),
            name,
            st.sampled_from([":-", ":=", "="]),
            default_text,
        ),
    )


# Text outside expansions: anything but "$" (which the pieces place themselves).
_ANY = st.characters(blacklist_characters="$", blacklist_categories=["Cs"])
# Text that stays one plain YAML scalar inside double quotes.
_SAFE = st.sampled_from(list("abcXYZ019 -_.:/{}"))
values = st.dictionaries(st.sampled_from(_NAMES), st.text(max_size=10), max_size=4)


@given(template=st.lists(pieces(_ANY), max_size=8), variables=values)
@example(template=[Piece("$$"), Piece("${a}", "a")], variables={"a": "x"})
@example(template=[Piece("${a:-d}", "a", "d")], variables={"a": ""})
@example(template=[Piece("${a}", "a")], variables={"a": "${b}$$"})
def test_templates_expand_as_the_model(template: list[Piece], variables: dict[str, str]) -> None:
    text = "".join(piece.text for piece in template)
    expected = "".join(piece.evaluate(variables) for piece in template)
    assert expanding.expand(text, variables) == expected, text


@given(text=st.text(max_size=60), variables=values, strict=st.booleans())
@example(text="${a", variables={}, strict=False)
@example(text="${a:}", variables={}, strict=False)
@example(text="${a//}", variables={}, strict=True)
def test_any_template_expands_or_raises_expansion_error(
    text: str, variables: dict[str, str], strict: bool
) -> None:
    try:
        result = expanding.expand(text, variables, strict=strict)
    except expanding.ExpansionError:
        return
    if "$" not in text:
        assert result == text


@given(
    template=st.lists(pieces(_SAFE), min_size=1, max_size=6),
    variables=st.dictionaries(st.sampled_from(_NAMES), st.text(_SAFE, max_size=8), max_size=4),
)
def test_documents_substitute_as_the_model(
    template: list[Piece], variables: dict[str, str]
) -> None:
    text = "".join(piece.text for piece in template)
    expected = "".join(piece.evaluate(variables) for piece in template)
    document = f"apiVersion: v1\nkind: ConfigMap\ndata:\n  key: {json.dumps(text)}\n"
    result = substituting.substitute_document(document, {}, variables)
    assert result["data"] == {"key": expected}


_YAML_TOKENS = st.sampled_from(
    ["a", ":", " ", "\n", "  ", "- ", "${a}", "${b:=0b_}", "$$", "0x_", "[", "]", "{", "}",
     "'", '"', "#", "!!str ", "&x ", "*x", "---\n", "? ", "1.5", "~", "|\n", "\t"]
)  # fmt: skip


@given(
    text=st.one_of(st.text(max_size=80), st.lists(_YAML_TOKENS, max_size=30).map("".join)),
    variables=values,
)
@example(text="a: ${a}", variables={"a": "0b_"})
@example(text="a: 0x_", variables={})
def test_any_document_substitutes_or_raises_substitution_error(
    text: str, variables: dict[str, str]
) -> None:
    try:
        result = substituting.substitute_document(text, {}, variables)
    except substituting.SubstitutionError:
        return
    assert isinstance(result, dict)
