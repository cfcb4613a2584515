"""Flux's ${var} language: functions, escapes, defaults, strict mode and parse errors."""

from __future__ import annotations

import pytest

from controllers.kustomize import expanding

VARIABLES = {
    "word": "abcdEFGH28ij",
    "upper": "ABCDEFGH28IJ",
    "path": "/home/bozo/ideas/thoughts.for.today",
    "file": "bash.string.txt",
    "rel": "path/to/file",
    "abs": "/path/to/file",
    "z": "abcABC123ABCabc",
    "slashed": "foo/bar/baz",
    "dotted": "foo.bar",
    "fallback": "foo",
    "empty": "",
    "unicode": "héllo",
}


@pytest.mark.parametrize(
    ("template", "want"),
    [
        ("plain text only", "plain text only"),
        ("${word}", "abcdEFGH28ij"),
        ("x-${word}-y", "x-abcdEFGH28ij-y"),
        ("${#word}", "12"),
        ("${#unicode}", "6"),  # bytes, as Go's len
        ("${word^}", "AbcdEFGH28ij"),
        ("${word^^}", "ABCDEFGH28IJ"),
        ("${upper,}", "aBCDEFGH28IJ"),
        ("${upper,,}", "abcdefgh28ij"),
        ("${path:11}", "ideas/thoughts.for.today"),
        ("${path:11:5}", "ideas"),
        ("${path:-5}", "/home/bozo/ideas/thoughts.for.today"),  # ':-' is a default
        ("${word:1:-1}", "bcdEFGH28i"),
        ("${word:100}", ""),
        ("${word:x}", "abcdEFGH28ij"),
        ("${word:2:100}", "cdEFGH28ij"),
        ("${word=xyz}", "abcdEFGH28ij"),
        ("${unset=xyz}", "xyz"),
        ("${unset:=xyz}", "xyz"),
        ("${unset:-xyz}", "xyz"),
        ("${empty:=xyz}", "xyz"),
        ("${empty=xyz}", "xyz"),  # Flux defaults on empty values too
        ("${unset:+xyz}", "xyz"),
        ("${unset:=}", ""),
        ("something ${unset=${fallback}}", "something foo"),
        ("v: ${unset=${fallback}-suffix}", "v: foo-suffix"),
        ("v: ${unset=prefix${fallback}-suffix}", "v: prefixfoo-suffix"),
        ("${unset=${word^^}}", "ABCDEFGH28IJ"),
        ("${unset:=a b: c}", "a b: c"),
        ("${z/%abc/XYZ}", "abcABC123ABCXYZ"),
        ("${z/#abc/XYZ}", "XYZABC123ABCabc"),
        ("${z/#/pre-}", "pre-abcABC123ABCabc"),
        ("${z/%/-suf}", "abcABC123ABCabc-suf"),
        ("${z//abc/xyz}", "xyzABC123ABCxyz"),
        ("${z/abc/xyz}", "xyzABC123ABCabc"),
        ("${z/ABC/}", "abc123ABCabc"),
        ("${dotted/./}", "foobar"),
        (r"${slashed/\//-}", "foo-bar/baz"),
        (r"${slashed//\//-}", "foo-bar-baz"),
        ("${file#*.}", "string.txt"),
        ("${rel#*/}", "to/file"),
        ("${abs#*/}", "path/to/file"),
        ("${file##*.}", "txt"),
        ("${rel##*/}", "file"),
        ("${file%.*}", "bash.string"),
        ("${file%%.*}", "bash"),
        ("${file#b?sh}", ".string.txt"),
        ("${file#[a-c]}", "ash.string.txt"),
        ("${file#[^a]}", "ash.string.txt"),
        ("${file#[}", "bash.string.txt"),  # malformed glob leaves the value
        ("${file#nomatch}", "bash.string.txt"),
        ("$${word}", "${word}"),
        ("some ${word}$${v$${word}$word${word}", "some abcdEFGH28ij${v${word}$wordabcdEFGH28ij"),
        ("something $${unset=${fallback}}", "something ${unset=foo}"),
        ("$$$", "$$"),
        ("$$$${word}", "$${word}"),
        ("$$${word}", "$abcdEFGH28ij"),
        ("cost: $5 and $word", "cost: $5 and $word"),
        (r"\\text ${unset=${fallback}}", r"\\text foo"),
        ("${unset}", ""),
        ("a}b", "a}b"),
        ("trailing $", "trailing $"),
    ],
)
def test_expands_like_flux(template: str, want: str) -> None:
    assert expanding.expand(template, VARIABLES) == want


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("${word-default}", expanding.MISSING_CLOSING_BRACE),
        ("${word+x}", expanding.MISSING_CLOSING_BRACE),
        ("${word", expanding.MISSING_CLOSING_BRACE),
        ("${ word}", expanding.PARSE_VARIABLE_NAME),
        ("${}", expanding.PARSE_VARIABLE_NAME),
        ("${word:=abc", expanding.PARSE_FUNC_SUBSTITUTION),
        ("${word#}", expanding.PARSE_FUNC_SUBSTITUTION),
        ("${word:}", expanding.PARSE_FUNC_SUBSTITUTION),
        ("${#}", expanding.BAD_SUBSTITUTION),
        ("${#word:1}", expanding.BAD_SUBSTITUTION),
        ("${word/a}", expanding.BAD_SUBSTITUTION),
        ("${word:1${x}}", expanding.BAD_SUBSTITUTION),
        ("${word^x}", expanding.BAD_SUBSTITUTION),
        ("${word#a${x}}", expanding.BAD_SUBSTITUTION),
    ],
)
def test_malformed_templates_fail_with_flux_messages(template: str, message: str) -> None:
    with pytest.raises(expanding.ExpansionError) as caught:
        expanding.expand(template, VARIABLES)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    "template",
    [
        "${missing}",
        "${#missing}",
        "${missing^}",
        "${missing,,}",
        "${missing:0}",
        "${missing:0:10}",
        "${missing/a/b}",
        "${missing//a/b}",
        "${missing#a}",
        "${missing%%a}",
        "${fallback:=${missing}}",
    ],
)
def test_strict_mode_refuses_unset_variables(template: str) -> None:
    with pytest.raises(expanding.ExpansionError) as caught:
        expanding.expand(template, VARIABLES, strict=True)
    assert str(caught.value) == 'variable not set (strict mode): "missing"'


@pytest.mark.parametrize(
    ("template", "want"),
    [
        ("${missing:-fallback}", "fallback"),
        ("${missing:=assigned}", "assigned"),
        ("${missing=assigned}", "assigned"),
        ("${empty}", ""),
        ("${word}", "abcdEFGH28ij"),
    ],
)
def test_strict_mode_accepts_defaults_and_defined_values(template: str, want: str) -> None:
    assert expanding.expand(template, VARIABLES, strict=True) == want


def test_parse_yields_text_and_expansions() -> None:
    nodes = expanding.parse("a ${b:=c${d}} e")
    assert nodes == (
        expanding.Text("a "),
        expanding.Expansion("b", ":=", (expanding.Text("c"), expanding.Expansion("d"))),
        expanding.Text(" e"),
    )
