"""Field sets and their fieldsV1 encoding."""

from __future__ import annotations

import json
from typing import Any

import pytest

from devcluster.structuredmerge import fieldpaths

F = fieldpaths.Field
V = fieldpaths.Value
I = fieldpaths.Index  # noqa: E741


def key(**fields: object) -> fieldpaths.Key:
    return fieldpaths.make_key(fields.items())


def test_member_with_children_gets_dot_first() -> None:
    fs = fieldpaths.FieldSet({(F("data"),), (F("data"), F("b")), (F("data"), F("a"))})
    assert json.dumps(fieldpaths.encode(fs)) == '{"f:data": {".": {}, "f:a": {}, "f:b": {}}}'


def test_sibling_order_fields_keys_values_indexes() -> None:
    fs = fieldpaths.FieldSet(
        {
            (F("x"), I(0)),
            (F("x"), V("s")),
            (F("x"), V(2)),
            (F("x"), V(True)),
            (F("x"), key(name="b")),
            (F("x"), key(name="a")),
            (F("x"), F("z")),
        }
    )
    assert list(fieldpaths.encode(fs)["f:x"]) == [
        "f:z",
        'k:{"name":"a"}',
        'k:{"name":"b"}',
        "v:2",
        'v:"s"',
        "v:true",
        "i:0",
    ]


def test_keys_sort_by_field_name_and_numbers_before_strings() -> None:
    fs = fieldpaths.FieldSet(
        {
            (F("ports"), key(containerPort=80, protocol="TCP")),
            (F("ports"), key(containerPort=53, protocol="UDP")),
        }
    )
    assert list(fieldpaths.encode(fs)["f:ports"]) == [
        'k:{"containerPort":53,"protocol":"UDP"}',
        'k:{"containerPort":80,"protocol":"TCP"}',
    ]


def test_keys_are_html_escaped_like_go() -> None:
    fs = fieldpaths.FieldSet(
        {
            (F("x"), V("a<b>&c")),
        }
    )
    assert list(fieldpaths.encode(fs)["f:x"]) == ['v:"a\\u003cb\\u003e\\u0026c"']


def test_decode_round_trips_and_drops_unknown_prefixes() -> None:
    raw: dict[str, Any] = {
        "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
        "f:spec": {
            "f:containers": {'k:{"name":"web"}': {".": {}, "f:image": {}}},
            "x:unknown": {},
        },
        "f:finalizers": {'v:"a"': {}},
    }
    fs = fieldpaths.decode(raw)
    assert (F("metadata"), F("labels")) in fs
    assert (F("metadata"), F("labels"), F("app")) in fs
    assert (F("spec"), F("containers"), key(name="web"), F("image")) in fs
    assert (F("finalizers"), V("a")) in fs
    assert len(fs) == 5
    raw["f:spec"].pop("x:unknown")
    assert fieldpaths.encode(fs) == {k: raw[k] for k in sorted(raw)}


@pytest.mark.parametrize("bad", [[], {"f:a": 1}, {"k:{not json": {}}])
def test_decode_rejects_malformed(bad: object) -> None:
    with pytest.raises(ValueError):  # noqa: PT011
        fieldpaths.decode(bad)


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ((F("data"), F("k")), ".data.k"),
        (
            (F("ports"), key(containerPort=80, protocol="TCP"), F("name")),
            '.ports[containerPort=80,protocol="TCP"].name',
        ),
        ((F("finalizers"), V("x")), '.finalizers[="x"]'),
        ((F("args"), I(2)), ".args[2]"),
    ],
)
def test_path_string(path: fieldpaths.Path, text: str) -> None:
    assert fieldpaths.path_string(path) == text


def test_recursive_difference_drops_descendants() -> None:
    a = fieldpaths.FieldSet({(F("spec"), F("x")), (F("status"), F("y")), (F("status"),)})
    b = fieldpaths.FieldSet({(F("status"),)})
    assert a.recursive_difference(b) == fieldpaths.FieldSet({(F("spec"), F("x"))})
    assert a.has_descendant_of((F("spec"),))
    assert not a.has_descendant_of((F("spec"), F("x")))
