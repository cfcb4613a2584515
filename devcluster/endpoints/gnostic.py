"""Swagger 2.0 documents in the protobuf form client-go reads from ``/openapi/v2``.

kubectl (through client-go's discovery client) asks for ``/openapi/v2`` with
``Accept: application/com.github.proto-openapi.spec.v2@v1.0+protobuf`` and
unmarshals the body as ``openapi.v2.Document`` of gnostic-models
``openapiv2/OpenAPIv2.proto``; JSON is never read back by it. ``encode``
writes that message from the JSON form of the same document.

Contract:

- ``encode(document)`` takes the Swagger 2.0 document as JSON gives it and
  returns the bytes of an ``openapi.v2.Document`` carrying the same content:
  field numbers are those of OpenAPIv2.proto; JSON object maps (definitions,
  properties, paths, responses) become the ordered ``Named*`` entries in
  their JSON order; ``x-…`` keys become ``vendor_extension`` entries.
- Values typed ``Any`` (vendor extensions, ``default``, ``enum``,
  ``example``) are written as ``Any.yaml``, the text gnostic keeps and
  kube-openapi parses back with a YAML parser; JSON text is valid YAML, so
  the value's JSON is written.
- proto3 rules: scalars are left out when zero; a message is written whenever
  its key is present (``"properties": {}`` stays a present, empty message,
  which kube-openapi tells apart from absent); a ``oneof`` member is written
  even when zero (``additionalProperties: false``).
- A key the gnostic message has no field for raises ``ValueError``: the
  document must be plain Swagger 2.0, so the JSON and protobuf forms never
  disagree silently.

A tiny wire-format writer plus declarative message tables; no generated code
and no protobuf dependency. Pure: no I/O.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Mapping
from typing import Any

# --- wire format -------------------------------------------------------------


def _varint(value: int) -> bytes:
    if value < 0:
        value += 1 << 64
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _key(number: int, wire: int) -> bytes:
    return _varint(number << 3 | wire)


def _length_delimited(number: int, payload: bytes) -> bytes:
    return _key(number, 2) + _varint(len(payload)) + payload


# --- value writers -----------------------------------------------------------
# Each writer gets the field number and the JSON value and returns the wire
# bytes of that field (possibly several occurrences of it, for repeated ones).

Writer = Callable[[int, Any], bytes]


def _string(number: int, value: Any) -> bytes:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {value!r}")
    return _length_delimited(number, value.encode("utf-8")) if value else b""


def _bool(number: int, value: Any) -> bytes:
    if not isinstance(value, bool):
        raise ValueError(f"expected a boolean, got {value!r}")
    return _key(number, 0) + b"\x01" if value else b""


def _int64(number: int, value: Any) -> bytes:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected an integer, got {value!r}")
    return _key(number, 0) + _varint(value) if value else b""


def _double(number: int, value: Any) -> bytes:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected a number, got {value!r}")
    return _key(number, 1) + struct.pack("<d", float(value)) if value else b""


def _strings(number: int, value: Any) -> bytes:
    if not isinstance(value, list):
        raise ValueError(f"expected a list of strings, got {value!r}")
    # NB: repeated strings are written even when empty: "" is an element.
    out = bytearray()
    for item in value:
        if not isinstance(item, str):
            raise ValueError(f"expected a string, got {item!r}")
        out += _length_delimited(number, item.encode("utf-8"))
    return bytes(out)


def _any_payload(value: Any) -> bytes:
    """``Any{yaml = 2}``: the value's JSON text, which YAML parsers read as is."""
    try:
        raw = json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate cannot be UTF-8; its \u escape is still valid text.
        raw = json.dumps(value).encode("ascii")
    return _length_delimited(2, raw)


def _any(number: int, value: Any) -> bytes:
    return _length_delimited(number, _any_payload(value))


def _anys(number: int, value: Any) -> bytes:
    if not isinstance(value, list):
        raise ValueError(f"expected a list, got {value!r}")
    return b"".join(_any(number, item) for item in value)


def _message(name: str) -> Writer:
    def write(number: int, value: Any) -> bytes:
        return _length_delimited(number, encode_message(name, value))

    return write


def _messages(name: str) -> Writer:
    def write(number: int, value: Any) -> bytes:
        if not isinstance(value, list):
            raise ValueError(f"{name}: expected a list, got {value!r}")
        return b"".join(_length_delimited(number, encode_message(name, item)) for item in value)

    return write


def _named(value_writer: Writer) -> Writer:
    """A JSON object as repeated ``Named*{name = 1, value = 2}`` entries, in order."""

    def write(number: int, value: Any) -> bytes:
        if not isinstance(value, dict):
            raise ValueError(f"expected an object, got {value!r}")
        return b"".join(
            _length_delimited(number, _string(1, name) + value_writer(2, item))
            for name, item in value.items()
        )

    return write


def _wrapped(writer: Writer, *, inner: int = 1) -> Writer:
    """A one-field wrapper message (``Definitions``, ``TypeItem`` …) around ``writer``."""

    def write(number: int, value: Any) -> bytes:
        return _length_delimited(number, writer(inner, value))

    return write


def _type_item(number: int, value: Any) -> bytes:
    """``TypeItem{repeated string value = 1}``: ``type`` is a string or a list."""
    values = [value] if isinstance(value, str) else value
    return _length_delimited(number, _strings(1, values))


def _items_item(number: int, value: Any) -> bytes:
    """``ItemsItem{repeated Schema schema = 1}``: ``items`` is a schema or a list."""
    schemas = value if isinstance(value, list) else [value]
    return _length_delimited(number, _messages("Schema")(1, schemas))


def _additional_properties(number: int, value: Any) -> bytes:
    """``AdditionalPropertiesItem``: oneof ``Schema schema = 1`` | ``bool boolean = 2``."""
    if isinstance(value, bool):
        # NB: a oneof member is present even when false.
        payload = _key(2, 0) + (b"\x01" if value else b"\x00")
    else:
        payload = _message("Schema")(1, value)
    return _length_delimited(number, payload)


_IN_NON_BODY = {
    "header": (1, "HeaderParameterSubSchema"),
    "formData": (2, "FormDataParameterSubSchema"),
    "query": (3, "QueryParameterSubSchema"),
    "path": (4, "PathParameterSubSchema"),
}


def _parameters_item(value: Any) -> bytes:
    """``ParametersItem``: oneof ``Parameter parameter = 1`` | ``JsonReference = 2``."""
    if not isinstance(value, dict):
        raise ValueError(f"a parameter must be an object, got {value!r}")
    if "$ref" in value:
        return _message("JsonReference")(2, value)
    where = value.get("in")
    if where == "body":
        parameter = _message("BodyParameter")(1, value)
    elif where in _IN_NON_BODY:
        member, message = _IN_NON_BODY[where]
        parameter = _length_delimited(2, _message(message)(member, value))
    else:
        raise ValueError(f"parameter {value.get('name')!r}: unknown location {where!r}")
    return _length_delimited(1, parameter)


def _parameters(number: int, value: Any) -> bytes:
    if not isinstance(value, list):
        raise ValueError(f"expected a list of parameters, got {value!r}")
    return b"".join(_length_delimited(number, _parameters_item(item)) for item in value)


def _response_value(number: int, value: Any) -> bytes:
    """``ResponseValue``: oneof ``Response response = 1`` | ``JsonReference = 2``."""
    if isinstance(value, dict) and "$ref" in value:
        return _length_delimited(number, _message("JsonReference")(2, value))
    return _length_delimited(number, _message("Response")(1, value))


def _responses(number: int, value: Any) -> bytes:
    """``Responses``: status codes as ``NamedResponseValue`` (1), ``x-…`` as extensions (2)."""
    if not isinstance(value, dict):
        raise ValueError(f"expected an object of responses, got {value!r}")
    codes = {k: v for k, v in value.items() if not k.startswith("x-")}
    extensions = {k: v for k, v in value.items() if k.startswith("x-")}
    payload = _named(_response_value)(1, codes) + _named(_any)(2, extensions)
    return _length_delimited(number, payload)


def _schema_item(number: int, value: Any) -> bytes:
    """``SchemaItem``: oneof ``Schema schema = 1`` | ``FileSchema file_schema = 2``."""
    if isinstance(value, dict) and value.get("type") == "file":
        return _length_delimited(number, _message("FileSchema")(2, value))
    return _length_delimited(number, _message("Schema")(1, value))


# --- message tables ----------------------------------------------------------
# JSON key → (field number, writer); VENDOR holds each message's
# ``repeated NamedAny vendor_extension`` number. From OpenAPIv2.proto.

_SCHEMA = _message("Schema")


def _primitive_fields(first: int) -> dict[str, tuple[int, Writer]]:
    """The run of fields a primitive parameter/item shares, numbered from ``first``
    (``type`` in PrimitivesItems, Header and the path/header parameter sub-schemas)."""
    names: tuple[tuple[str, Writer], ...] = (
        ("type", _string),
        ("format", _string),
        ("items", _message("PrimitivesItems")),
        ("collectionFormat", _string),
        ("default", _any),
        ("maximum", _double),
        ("exclusiveMaximum", _bool),
        ("minimum", _double),
        ("exclusiveMinimum", _bool),
        ("maxLength", _int64),
        ("minLength", _int64),
        ("pattern", _string),
        ("maxItems", _int64),
        ("minItems", _int64),
        ("uniqueItems", _bool),
        ("enum", _anys),
        ("multipleOf", _double),
    )
    return {name: (first + offset, writer) for offset, (name, writer) in enumerate(names)}


def _parameter_fields(*, allow_empty_value: bool) -> dict[str, tuple[int, Writer]]:
    head: dict[str, tuple[int, Writer]] = {
        "required": (1, _bool),
        "in": (2, _string),
        "description": (3, _string),
        "name": (4, _string),
    }
    if allow_empty_value:
        head["allowEmptyValue"] = (5, _bool)
    return {**head, **_primitive_fields(len(head) + 1)}


MESSAGES: dict[str, dict[str, tuple[int, Writer]]] = {
    "Document": {
        "swagger": (1, _string),
        "info": (2, _message("Info")),
        "host": (3, _string),
        "basePath": (4, _string),
        "schemes": (5, _strings),
        "consumes": (6, _strings),
        "produces": (7, _strings),
        "paths": (8, _message("Paths")),
        "definitions": (9, _wrapped(_named(_SCHEMA))),
        "tags": (14, _messages("Tag")),
        "externalDocs": (15, _message("ExternalDocs")),
    },
    "Info": {
        "title": (1, _string),
        "version": (2, _string),
        "description": (3, _string),
        "termsOfService": (4, _string),
    },
    "Tag": {
        "name": (1, _string),
        "description": (2, _string),
        "externalDocs": (3, _message("ExternalDocs")),
    },
    "ExternalDocs": {"description": (1, _string), "url": (2, _string)},
    "JsonReference": {"$ref": (1, _string), "description": (2, _string)},
    "Paths": {},  # paths are handled by encode_message (keys are paths, not fields)
    "PathItem": {
        "$ref": (1, _string),
        "get": (2, _message("Operation")),
        "put": (3, _message("Operation")),
        "post": (4, _message("Operation")),
        "delete": (5, _message("Operation")),
        "options": (6, _message("Operation")),
        "head": (7, _message("Operation")),
        "patch": (8, _message("Operation")),
        "parameters": (9, _parameters),
    },
    "Operation": {
        "tags": (1, _strings),
        "summary": (2, _string),
        "description": (3, _string),
        "externalDocs": (4, _message("ExternalDocs")),
        "operationId": (5, _string),
        "produces": (6, _strings),
        "consumes": (7, _strings),
        "parameters": (8, _parameters),
        "responses": (9, _responses),
        "schemes": (10, _strings),
        "deprecated": (11, _bool),
    },
    "BodyParameter": {
        "description": (1, _string),
        "name": (2, _string),
        "in": (3, _string),
        "required": (4, _bool),
        "schema": (5, _SCHEMA),
    },
    "QueryParameterSubSchema": _parameter_fields(allow_empty_value=True),
    "FormDataParameterSubSchema": _parameter_fields(allow_empty_value=True),
    "PathParameterSubSchema": _parameter_fields(allow_empty_value=False),
    "HeaderParameterSubSchema": _parameter_fields(allow_empty_value=False),
    "PrimitivesItems": _primitive_fields(1),
    "Response": {
        "description": (1, _string),
        "schema": (2, _schema_item),
        "examples": (4, _wrapped(_named(_any))),
    },
    "FileSchema": {
        "format": (1, _string),
        "title": (2, _string),
        "description": (3, _string),
        "default": (4, _any),
        "required": (5, _strings),
        "type": (6, _string),
        "readOnly": (7, _bool),
        "externalDocs": (8, _message("ExternalDocs")),
        "example": (9, _any),
    },
    "Schema": {
        "$ref": (1, _string),
        "format": (2, _string),
        "title": (3, _string),
        "description": (4, _string),
        "default": (5, _any),
        "multipleOf": (6, _double),
        "maximum": (7, _double),
        "exclusiveMaximum": (8, _bool),
        "minimum": (9, _double),
        "exclusiveMinimum": (10, _bool),
        "maxLength": (11, _int64),
        "minLength": (12, _int64),
        "pattern": (13, _string),
        "maxItems": (14, _int64),
        "minItems": (15, _int64),
        "uniqueItems": (16, _bool),
        "maxProperties": (17, _int64),
        "minProperties": (18, _int64),
        "required": (19, _strings),
        "enum": (20, _anys),
        "additionalProperties": (21, _additional_properties),
        "type": (22, _type_item),
        "items": (23, _items_item),
        "allOf": (24, _messages("Schema")),
        "properties": (25, _wrapped(_named(_SCHEMA))),
        "discriminator": (26, _string),
        "readOnly": (27, _bool),
        "externalDocs": (29, _message("ExternalDocs")),
        "example": (30, _any),
    },
}

VENDOR: dict[str, int] = {
    "Document": 16,
    "Info": 7,
    "Tag": 4,
    "ExternalDocs": 3,
    "Paths": 1,
    "PathItem": 10,
    "Operation": 13,
    "BodyParameter": 6,
    "QueryParameterSubSchema": 23,
    "FormDataParameterSubSchema": 23,
    "PathParameterSubSchema": 22,
    "HeaderParameterSubSchema": 22,
    "PrimitivesItems": 18,
    "Response": 5,
    "FileSchema": 10,
    "Schema": 31,
}

_PATH_ITEM = _message("PathItem")


def encode_message(name: str, value: Mapping[str, Any]) -> bytes:
    """One gnostic message from its JSON object, fields in field-number order."""
    if not isinstance(value, Mapping):
        raise ValueError(f"{name}: expected an object, got {value!r}")
    table = MESSAGES[name]
    fields: list[tuple[int, bytes]] = []
    for key, item in value.items():
        if key.startswith("x-") and name in VENDOR:
            entry = _string(1, key) + _any(2, item)
            fields.append((VENDOR[name], _length_delimited(VENDOR[name], entry)))
        elif name == "Paths":
            # Paths{repeated NamedPathItem path = 2}: every non-extension key is a path.
            fields.append((2, _length_delimited(2, _string(1, key) + _PATH_ITEM(2, item))))
        elif key in table:
            number, writer = table[key]
            try:
                fields.append((number, writer(number, item)))
            except ValueError as exc:
                raise ValueError(f"{name}.{key}: {exc}") from exc
        else:
            raise ValueError(f"{name} has no field for {key!r}")
    # NB: a stable sort keeps repeated fields (extensions, named entries) in order.
    fields.sort(key=lambda field: field[0])
    return b"".join(payload for _, payload in fields)


def encode(document: Mapping[str, Any]) -> bytes:
    """The ``openapi.v2.Document`` bytes of a Swagger 2.0 document given as JSON."""
    return encode_message("Document", document)
