"""Swagger 2.0 JSON → gnostic ``openapi.v2.Document`` protobuf.

The bytes are read back by a tiny reader below; field numbers are written out
here independently of the module under test, from gnostic-models
``openapiv2/OpenAPIv2.proto``. kubectl reading the served document is
covered by ``tests/devcluster/endpoints/test_openapi_v2.py``.
"""

from __future__ import annotations

import json
import struct
from typing import Any

import pytest

from devcluster.endpoints import gnostic, openapiv2
from devcluster.schemas import resources

Fields = list[tuple[int, int, Any]]


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def read(data: bytes) -> Fields:
    """``(number, wire type, value)`` in wire order: ints, bytes, or 8-byte floats."""
    out: Fields = []
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        value: Any
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 1:
            value = struct.unpack("<d", data[pos : pos + 8])[0]
            pos += 8
        elif wire == 2:
            length, pos = _varint(data, pos)
            value = data[pos : pos + length]
            pos += length
        else:
            raise AssertionError(f"unexpected wire type {wire}")
        out.append((number, wire, value))
    return out


def only(data: bytes, number: int) -> Any:
    (value,) = [v for n, _, v in read(data) if n == number]
    return value


def every(data: bytes, number: int) -> list[Any]:
    return [v for n, _, v in read(data) if n == number]


def named(data: bytes) -> list[tuple[str, bytes]]:
    """``Named*{name = 1, value = 2}`` entries."""
    return [(only(entry, 1).decode(), only(entry, 2)) for entry in every(data, 1)]


def test_document_fields_and_definitions_in_json_order() -> None:
    document = {
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": "v1.37.1"},
        "paths": {},
        "definitions": {"b.B": {"type": "object"}, "a.A": {"type": "string"}},
    }

    data = gnostic.encode(document)

    assert [n for n, _, _ in read(data)] == [1, 2, 8, 9]
    assert only(data, 1) == b"2.0"
    assert (only(only(data, 2), 1), only(only(data, 2), 2)) == (b"Kubernetes", b"v1.37.1")
    assert only(data, 8) == b""  # present, empty
    definitions = named(only(data, 9))
    assert [name for name, _ in definitions] == ["b.B", "a.A"]
    # Schema.type (22) is a TypeItem{repeated string value = 1}.
    assert every(only(definitions[0][1], 22), 1) == [b"object"]


def test_schema_fields() -> None:
    schema = {
        "description": "d",
        "type": "object",
        "required": ["a", "b"],
        "properties": {"a": {"type": "integer", "maximum": 2.5, "maxLength": 3}},
        "additionalProperties": False,
        "x-kubernetes-map-type": "atomic",
    }

    data = gnostic.encode_message("Schema", schema)

    assert only(data, 4) == b"d"
    assert every(data, 19) == [b"a", b"b"]
    ((name, child),) = named(only(data, 25))
    assert name == "a"
    assert every(only(child, 22), 1) == [b"integer"]
    assert [(n, w, v) for n, w, v in read(child) if n in (7, 11)] == [(7, 1, 2.5), (11, 0, 3)]
    # additionalProperties false is a oneof member (boolean = 2): present though zero.
    assert read(only(data, 21)) == [(2, 0, 0)]
    ((key, value),) = [(only(e, 1), only(e, 2)) for e in every(data, 31)]
    assert key == b"x-kubernetes-map-type"
    assert json.loads(only(value, 2)) == "atomic"  # Any.yaml


def test_empty_properties_stay_present_and_zero_scalars_are_left_out() -> None:
    data = gnostic.encode_message(
        "Schema", {"type": "object", "properties": {}, "description": "", "uniqueItems": False}
    )

    assert [n for n, _, _ in read(data)] == [22, 25]
    assert only(data, 25) == b""


def test_items_and_enum_and_group_version_kind_extension() -> None:
    gvk = [{"group": "apps", "kind": "Deployment", "version": "v1"}]
    schema = {
        "type": "array",
        "items": {"type": "string", "enum": ["A", "B"]},
        "x-kubernetes-group-version-kind": gvk,
    }

    data = gnostic.encode_message("Schema", schema)

    (item,) = every(only(data, 23), 1)  # ItemsItem{repeated Schema schema = 1}
    assert [json.loads(only(any_value, 2)) for any_value in every(item, 20)] == ["A", "B"]
    (extension,) = every(data, 31)
    assert json.loads(only(only(extension, 2), 2)) == gvk


def test_operation_parameters_and_responses() -> None:
    path_item = {
        "patch": {
            "operationId": "patchAppsV1NamespacedDeployment",
            "consumes": ["application/apply-patch+yaml"],
            "parameters": [
                {"name": "body", "in": "body", "required": True, "schema": {"$ref": "#/d/P"}},
                {"name": "fieldValidation", "in": "query", "type": "string"},
                {"$ref": "#/parameters/pretty"},
            ],
            "responses": {
                "200": {"description": "OK", "schema": {"$ref": "#/d/D"}},
                "401": {"description": "Unauthorized"},
            },
            "x-kubernetes-action": "patch",
        },
        "parameters": [{"name": "name", "in": "path", "required": True, "type": "string"}],
    }

    data = gnostic.encode_message("PathItem", path_item)

    patch = only(data, 8)
    assert only(patch, 5) == b"patchAppsV1NamespacedDeployment"
    body, query, reference = every(patch, 8)
    body_parameter = only(only(body, 1), 1)
    assert (only(body_parameter, 2), only(body_parameter, 3)) == (b"body", b"body")
    assert only(only(body_parameter, 5), 1) == b"#/d/P"
    query_schema = only(only(only(query, 1), 2), 3)  # Parameter.non_body → query sub-schema
    assert (only(query_schema, 2), only(query_schema, 4)) == (b"query", b"fieldValidation")
    assert only(only(reference, 2), 1) == b"#/parameters/pretty"
    codes = [(only(e, 1), only(e, 2)) for e in every(only(patch, 9), 1)]
    assert [code for code, _ in codes] == [b"200", b"401"]
    ok = only(codes[0][1], 1)  # ResponseValue.response
    assert only(ok, 1) == b"OK"
    assert only(only(only(ok, 2), 1), 1) == b"#/d/D"  # SchemaItem.schema.$ref
    path_parameter = only(only(only(only(data, 9), 1), 2), 4)
    assert (only(path_parameter, 1), only(path_parameter, 4)) == (1, b"name")


@pytest.mark.parametrize(
    ("message", "value", "match"),
    [
        ("Schema", {"nullable": True}, "Schema has no field for 'nullable'"),
        ("Schema", {"oneOf": []}, "Schema has no field for 'oneOf'"),
        ("Document", {"components": {}}, "Document has no field for 'components'"),
        ("Operation", {"requestBody": {}}, "Operation has no field for 'requestBody'"),
        ("Schema", {"type": 5}, "Schema.type: expected a list of strings"),
        ("Schema", {"maxLength": "3"}, "Schema.maxLength: expected an integer"),
    ],
    ids=["nullable", "oneOf", "components", "requestBody", "type-number", "maxLength-string"],
)
def test_what_swagger_2_lacks_is_refused(message: str, value: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        gnostic.encode_message(message, value)


def test_the_served_document_encodes_completely() -> None:
    document = openapiv2.document(resources.Registry())

    data = gnostic.encode(document)

    assert [name for name, _ in named(only(data, 9))] == list(document["definitions"])
    assert [name for name, _ in named_paths(only(data, 8))] == list(document["paths"])


def named_paths(data: bytes) -> list[tuple[str, bytes]]:
    """``Paths{repeated NamedPathItem path = 2}``."""
    return [(only(entry, 1).decode(), only(entry, 2)) for entry in every(data, 2)]
