"""blockyaml (the fast YAML body parser) against the libyaml path it stands in for.

The reference is the decoder as it was before the fast path: ``yaml.compose``
with ``CSafeLoader``, the scalar table below, PyYAML's full loader for what that
cannot type. For every input the fast parser must give the same data (types
included: ``1``, ``1.0`` and ``True`` differ) and the same duplicate keys, or
decline. Inputs: every YAML file in the repository, thousands of seeded random
manifest-like documents (and mutations of them, mostly malformed), and tables
of supported and unsupported constructs.
"""

from __future__ import annotations

import pathlib
import random
import re
from typing import Any

import pytest
import yaml

from bench import devcluster_bench
from devcluster.endpoints import requests
from devcluster.machinery import errors
from devcluster.serializers import blockyaml
from tests.devcluster.serializers import yaml_documents

REPO = pathlib.Path(__file__).resolve().parents[3]

# The scalar conversions of the decoder before the fast path, kept here so the
# reference does not depend on the code under test.
_REFERENCE_SCALARS: dict[str, Any] = {
    "tag:yaml.org,2002:str": str,
    "tag:yaml.org,2002:int": lambda text: int(text.replace("_", ""), 0),
    "tag:yaml.org,2002:float": float,
    "tag:yaml.org,2002:bool": lambda text: text.lower() in ("true", "yes", "on"),
    "tag:yaml.org,2002:null": lambda text: None,
    "tag:yaml.org,2002:timestamp": str,
}


def shape(value: Any) -> Any:
    """``value`` with every scalar's type spelled out and mapping order kept."""
    if isinstance(value, dict):
        return ("dict", [(shape(key), shape(item)) for key, item in value.items()])
    if isinstance(value, list):
        return ("list", [shape(item) for item in value])
    return (type(value).__name__, repr(value))


def _reference_convert(node: yaml.Node, duplicates: list[str]) -> Any:
    if isinstance(node, yaml.MappingNode):
        result = {}
        for key_node, value_node in node.value:
            key = _reference_convert(key_node, duplicates)
            if key in result:
                duplicates.append(str(key))
            result[key] = _reference_convert(value_node, duplicates)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_reference_convert(item, duplicates) for item in node.value]
    return _REFERENCE_SCALARS[node.tag](node.value)


def reference(raw: bytes) -> tuple[Any, ...]:
    """``("ok", shape, duplicates)`` or ``("error", message)`` as the old decoder saw ``raw``."""
    duplicates: list[str] = []
    try:
        try:
            node = yaml.compose(raw, Loader=yaml.CSafeLoader)
            value = None if node is None else _reference_convert(node, duplicates)
        except (KeyError, ValueError):
            duplicates = []
            value = yaml.load(raw, Loader=requests._Loader)
    except yaml.YAMLError as error:
        return ("error", str(error))
    except (TypeError, ValueError) as error:  # a collection as a key, "0b_": the old one crashed
        return ("crash", str(error))
    return ("ok", shape(value), duplicates)


def check(raw: bytes) -> bool:
    """Assert the fast parser agrees with the reference or declines; ``True`` if it accepted."""
    expected = reference(raw)
    fast = blockyaml.parse(raw)
    if expected[0] == "ok":
        slow_value, slow_duplicates = requests._parse_yaml_slowly(raw)
        assert ("ok", shape(slow_value), slow_duplicates) == expected, raw
    if fast is None:
        return False
    assert expected[0] == "ok", (raw, expected)
    assert ("ok", shape(fast[0]), fast[1]) == expected, raw
    return True


# --- the repository's YAML ----------------------------------------------------------


def _repo_documents() -> list[tuple[str, bytes]]:
    documents = []
    for path in sorted(REPO.rglob("*.y*ml")):
        parts = path.relative_to(REPO).parts
        if (
            parts[0].startswith(".")
            or "node_modules" in parts
            or path.suffix not in (".yaml", ".yml")
        ):
            continue
        text = path.read_text(errors="replace")
        for number, part in enumerate(re.split(r"(?m)^---[ \t]*$", text)):
            if part.strip():
                documents.append((f"{path.relative_to(REPO)}#{number}", part.encode()))
    return documents


REPO_DOCUMENTS = _repo_documents()


def test_repository_yaml_matches_libyaml() -> None:
    accepted = [name for name, raw in REPO_DOCUMENTS if check(raw)]
    assert len(REPO_DOCUMENTS) > 100
    # Most repository manifests are plain block YAML; if this falls, something
    # common started to be declined.
    assert len(accepted) > len(REPO_DOCUMENTS) // 2, accepted


def test_bench_deployment_takes_the_fast_path() -> None:
    raw = devcluster_bench.DEPLOYMENT.format(name="n", namespace="ns", iteration=7).encode()
    assert check(raw)


def test_multi_document_files_are_declined() -> None:
    assert blockyaml.parse(b"a: 1\n---\nb: 2\n") is None
    assert reference(b"a: 1\n---\nb: 2\n")[0] == "error"


# --- supported and unsupported constructs ---------------------------------------------

SUPPORTED = [
    b"---\na: 1\n",
    b"--- # start\na: 1\n",
    b"# lead\n\na: 1 # trailing\n  # indented comment\nb: '#not a comment'\n",
    b"a:\n- 1\n- b\nc: d\n",
    b"a:\n  - x: 1\n    y: 2\n  -   z: 3\n      w: [\"--a\", b, 'c''d', 2, 0x1F]\n",
    b"- - a\n  - b\n- - - c\n-\n- \n  k: v\n",
    b"a: []\nb: {}\nc: [ ]\nd: { }\ne:\nf: ~\ng: null\n",
    b'\'quoted key\': 1\n"dq": "a\\"b\\\\n\\x41\\u00e9\\t"\nk-e.y/z: v\na:b: c\n',
    b"url: http://example.com:8080/x?y=z#frag\nimage: ghcr.io/x/y:1.2@sha256:abc\n",
    b"n: 017x\nd: 2024-01-01\nt: 2024-01-01T10:00:00Z\nf: 1e3\ng: 1.5e3\nh: -.5\ni: +12\n",
    b"b: [yes, No, on, OFF, true, False, Y, n]\n",
    b"caf\xc3\xa9: \xe6\x97\xa5\xe6\x9c\xac\n",
    b"  indented: root\n  second: 2\n",
    b"- a\n- 'b'\n- \"c\"\n- [d]\n",
    b"a: value with spaces   \nb: x#y\nc: a , b\n",
    b"p:\n- {name: http, containerPort: 9090}\n- {'a': \"x\" , b : yes}  # c\n",
    b"m: {k: ~, e: {}, l: []}\nn: [{}, [], x]\n",
]

UNSUPPORTED = [
    b"a: &anchor 1\nb: *anchor\n",
    b"a: !!str 1\n",
    b"a: !custom x\n",
    b"a: |\n  text\n",
    b"a: >\n  text\n",
    b"a: multi\n  line\n",
    b"a: 'multi\n  line'\n",
    b'a: "multi\n  line"\n',
    b"a: {b: {c: 1}}\n",
    b"a: {{}: 1}\n",
    b"a: [[], [1]]\n",
    b"a: {b}\n",
    b"a: {b:1}\n",
    b'a: {"b":1}\n',
    b"a: {b: 1,}\n",
    b"a: {b: 1\n  , c: 2}\n",
    b"{a: 1}: b\n",
    b"a: [[1]]\n",
    b"a: [1,\n  2]\n",
    b"? complex\n: key\n",
    b"%YAML 1.1\n---\na: 1\n",
    b"a: 1\n...\n",
    b"a:\n\tb: 1\n",
    b"a: 1\r\nb: 2\r\n",
    b"\xef\xbb\xbfa: 1\n",
    b"",
    b"# only a comment\n",
    b"plain scalar\n",
    b"a: 017\n",
    b"a: 1:20\n",
    b"a: .inf\n",
    b"<<: {a: 1}\n",
    b"a: 0_7\n",
    b"k" * 1100 + b": v\n",
    b"a: [x: 1]\n",
    b"a: [b, ]\n",
    b'a: "\\q"\n',
    b'a: "\\ud800"\n',
    b"---#c\na: 1\n",
    b"a: 'x'#c\n",
    b"a: \xff\n",
    b"a: b\x07\n",
    b"a: b\xc2\x85c: d\n",
    b"a: b\xe2\x80\xa8c\n",
    b"a: 1\n b: 2\n",
]


@pytest.mark.parametrize("raw", SUPPORTED, ids=lambda raw: repr(raw[:30]))
def test_supported_constructs_take_the_fast_path(raw: bytes) -> None:
    assert check(raw)


@pytest.mark.parametrize("raw", UNSUPPORTED, ids=lambda raw: repr(raw[:30]))
def test_unsupported_constructs_are_declined(raw: bytes) -> None:
    assert blockyaml.parse(raw) is None
    assert not check(raw)


def test_deep_documents_are_declined() -> None:
    def nested(depth: int) -> bytes:
        return "".join(" " * level + f"k{level}:\n" for level in range(depth)).encode()

    assert check(nested(60))
    assert blockyaml.parse(nested(150)) is None
    assert blockyaml.parse(b"- " * 150 + b"a\n") is None


def test_duplicate_keys_are_reported_like_libyaml() -> None:
    raw = b"a: 1\nb:\n  x: 1\n  x: 2\na: 3\n1: one\ntrue: yes\n'1': s\nnull: 1\n~: 2\n"
    assert check(raw)
    parsed = blockyaml.parse(raw)
    assert parsed is not None
    value, duplicates = parsed
    assert duplicates == ["x", "a", "True", "None"]
    flow = b"a: {x: 1, y: 2, x: 3}\na: {}\n"
    assert check(flow)
    assert blockyaml.parse(flow) == ({"a": {}}, ["x", "a"])
    # 1 and True are one key: the first key object stays, with the last value.
    assert [(type(key).__name__, item) for key, item in value.items()] == [
        ("str", 3),
        ("str", {"x": 2}),
        ("int", True),
        ("str", "s"),
        ("NoneType", 2),
    ]


# --- random manifest-like documents ---------------------------------------------------


def test_random_documents_match_libyaml() -> None:
    rng = random.Random(20240601)
    accepted = 0
    for _ in range(2500):
        text = yaml_documents.document(rng)
        accepted += check(text.encode())
    # The generator mostly writes valid, supported YAML; the fast path must take most of it.
    assert accepted > 1000


def test_mutated_documents_match_libyaml_or_decline() -> None:
    rng = random.Random(77)
    bench = devcluster_bench.DEPLOYMENT.format(name="n", namespace="ns", iteration=1)
    errors_seen = 0
    for number in range(2500):
        text = yaml_documents.mutate(rng, bench if number % 2 else yaml_documents.document(rng))
        errors_seen += reference(text.encode())[0] == "error"
        check(text.encode())
    assert errors_seen > 200  # the mutations do reach libyaml's error paths


def test_scrambled_documents_match_libyaml_or_decline() -> None:
    rng = random.Random(5)
    accepted = sum(check(yaml_documents.scrambled(rng).encode()) for _ in range(15000))
    assert accepted > 300


# --- decode_body -------------------------------------------------------------------


def _old_decode(raw: bytes) -> Any:
    """decode_body's YAML branch before the fast path: JSON first, then YAML."""
    duplicates: list[str] = []
    try:
        return shape(requests._json(raw, duplicates)), duplicates
    except ValueError:
        pass
    outcome = reference(raw)
    assert outcome[0] == "ok"
    return outcome[1], outcome[2]


@pytest.mark.parametrize(
    "raw",
    [
        b"true",
        b"null",
        b"NaN",
        b"-Infinity",
        b"[1, 2.0]",
        b'{"a": 1, "a": 2}',
        b"123",
        b'"text"',
        b"yes",
        b"apiVersion: v1\nkind: ConfigMap\n",
        b" a: 1\n",
        b"{a: 1}",
        '{"a": true}'.encode("utf-16-le"),
        '["x"]'.encode("utf-32"),
        b"a: &x [1]\nb: *x\n",
        b"base: &b {x: 1}\nderived:\n  <<: *b\n  y: 2\n",
        b"n: 017\n",
        b"s: 1:20\n",
    ],
)
def test_decode_body_gives_what_it_gave_before(raw: bytes) -> None:
    for _ in range(2):  # the second call comes from the memo
        duplicates: list[str] = []
        value = requests.decode_body(raw, "application/apply-patch+yaml", duplicates)
        assert (shape(value), duplicates) == _old_decode(raw)


def test_decode_body_hands_out_unshared_copies() -> None:
    raw = b"a: &x [1, {b: 2}]\nc: *x\nd:\n  e: [f]\n"
    first = requests.decode_body(raw, "application/yaml")
    first["a"][1]["b"] = 99
    first["d"]["e"].append("g")
    second = requests.decode_body(raw, "application/yaml")
    assert second == {"a": [1, {"b": 2}], "c": [1, {"b": 2}], "d": {"e": ["f"]}}
    second["a"].append(3)
    assert second["c"] == [1, {"b": 2}]


@pytest.mark.parametrize(
    "raw",
    [
        b"apiVersion: v1\nkind: ConfigMap\nmetadata: [unclosed\n  name: x",
        b"a: 1\n b: 2\n",
        b"a: b: c\n",
        b"a: 1\n---\nb: 2\n",
        b"a: '\n",
        b"a: \xff\n",
    ],
)
def test_malformed_yaml_is_the_same_bad_request(raw: bytes) -> None:
    expected = reference(raw)
    assert expected[0] == "error"
    with pytest.raises(errors.ApiError) as caught:
        requests.decode_body(raw, "application/yaml")
    error = caught.value
    assert (error.code, error.reason, error.message) == (
        400,
        "BadRequest",
        f"error decoding YAML: {expected[1]}",
    )
