"""Properties of the devcluster's request body decoders (YAML, JSON, protobuf from any client).

- Agreement: on any document, the fast block-YAML parser (``blockyaml``)
  gives what the libyaml path gives (values, types and duplicate keys) or
  declines; the differential ``check`` of the blockyaml unit tests is the
  judge, here fed by hypothesis instead of a seeded generator.
- Round trip: a value PyYAML or ``json`` writes (any style, indentation and
  width for YAML) decodes back to the same value, types included.
- Errors: any bytes, under any of the media types, decode or raise the
  server's own ``ApiError`` with 400 (malformed) or 415 (unsupported kind),
  never another exception (which would be a 500 with a traceback).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from hypothesis import example, given
from hypothesis import strategies as st

from devcluster.endpoints import requests
from devcluster.machinery import errors
from devcluster.serializers import blockyaml, protobuf
from tests.devcluster.serializers import test_blockyaml as differential
from tests.devcluster.serializers import yaml_documents

pytestmark = pytest.mark.fuzz

# NB: PyYAML's emitter writes NEL, LS and PS unescaped in single quotes, where
# every YAML parser folds them to a space; such text cannot round-trip.
_TEXT = st.text(
    st.characters(blacklist_characters="\x85\u2028\u2029", blacklist_categories=["Cs"]),
    max_size=12,
)
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    _TEXT,
    st.sampled_from(yaml_documents.SCALARS),
)
_KEYS = st.one_of(st.sampled_from(yaml_documents.KEYS), _TEXT)
values = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_KEYS, inner, max_size=4)),
    max_leaves=20,
)
documents = st.dictionaries(_KEYS, values, min_size=1, max_size=5)


@given(
    document=documents,
    indent=st.integers(min_value=2, max_value=5),
    width=st.sampled_from([20, 80, 10_000]),
    flow=st.sampled_from([False, None]),
    explicit_start=st.booleans(),
)
@example(document={"a": "0b_"}, indent=2, width=80, flow=False, explicit_start=False)
def test_yaml_written_by_pyyaml_decodes_back(
    document: dict[str, Any], indent: int, width: int, flow: bool | None, explicit_start: bool
) -> None:
    raw = yaml.safe_dump(
        document,
        indent=indent,
        width=width,
        default_flow_style=flow,
        explicit_start=explicit_start,
        allow_unicode=True,
        sort_keys=False,
    ).encode()
    differential.check(raw)
    decoded = requests.decode_body(raw, "application/apply-patch+yaml")
    # shape() keeps types apart: 1, 1.0 and True differ, and so do 0.0 and -0.0.
    assert differential.shape(decoded) == differential.shape(document)


@given(document=values)
def test_json_decodes_back_under_every_json_and_yaml_type(document: Any) -> None:
    raw = json.dumps(document).encode()
    for media in ("application/json", "application/merge-patch+json", "application/yaml"):
        decoded = requests.decode_body(raw, media)
        assert differential.shape(decoded) == differential.shape(document), media


_TOKENS = st.sampled_from(
    [*yaml_documents.SCALARS[:40], *yaml_documents.KEYS[:12], ": ", ":", "- ", "-", "\n", "\n",
     "  ", " ", "#", " # c", "'", '"', "[", "]", "{", "}", ", ", "&a ", "*a", "!!str ", "? ",
     "|", ">", "---", "...", "\t", "\r\n", "\\", "\\x41", "\\u00e9", "<<: "]
)  # fmt: skip


@given(tokens=st.lists(_TOKENS, max_size=40))
@example(tokens=["a", ": ", "&a ", "[", "*a", "]"])
def test_block_yaml_agrees_with_libyaml_or_declines(tokens: list[str]) -> None:
    raw = "".join(tokens).encode()
    try:
        differential.check(raw)
    except RecursionError:
        # An alias inside its own anchor: the reference cannot build it; the
        # fast path, which reads no anchors, must have declined.
        assert blockyaml.parse(raw) is None


_MEDIA = st.sampled_from(
    [
        "application/json",
        "application/yaml",
        "application/apply-patch+yaml",
        "application/strategic-merge-patch+json",
        protobuf.CONTENT_TYPE,
    ]
)
_DEEP = [b"[" * 5000, b"- " * 2000 + b"a\n", b"a: &a [*a]\n", b"{" * 3000]


@given(
    raw=st.one_of(
        st.binary(max_size=200),
        st.lists(_TOKENS, max_size=40).map(lambda tokens: "".join(tokens).encode()),
        st.sampled_from(_DEEP),
        st.builds(lambda head, deep: head + deep, st.binary(max_size=8), st.sampled_from(_DEEP)),
    ),
    media=_MEDIA,
)
@example(raw=b"[" * 5000 + b"]" * 5000, media="application/json")
@example(raw=b"[" * 5000 + b"]" * 5000, media="application/yaml")
@example(raw=b"- " * 2000 + b"a\n", media="application/yaml")
@example(raw=b"a: &a [*a]\n", media="application/yaml")
def test_any_body_decodes_or_is_a_client_error(raw: bytes, media: str) -> None:
    try:
        requests.decode_body(raw, media)
    except errors.ApiError as error:
        code = error.code
    else:
        code = 200
    assert code in (200, 400, 415)
