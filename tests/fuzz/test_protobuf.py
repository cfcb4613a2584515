"""Properties of the devcluster's Kubernetes protobuf decoder (bodies from client-go and kubectl).

- Round trip: for every kind the decoder supports, a JSON-shaped object
  generated from the message tables, written in gogo's wire format by the
  tests' own writer (``protobodies.wire``), decodes back to that object:
  strings, bytes (base64), bools, int64 (negatives too), times, quantities,
  int-or-strings, maps, repeated and nested and inline messages, raw JSON.
- Errors: any bytes after the ``k8s\\0`` prefix, a valid body cut short or
  with a byte changed, and messages nested thousands deep decode or raise
  ``ProtobufError`` (a 400, or 415 for ``UnsupportedKindError``), never
  another exception.
"""

from __future__ import annotations

import base64
import datetime
import json
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from devcluster.serializers import protobuf, protomessages
from tests.devcluster.serializers.protobodies import wire

pytestmark = pytest.mark.fuzz

Kind = protomessages.Kind
_MAX_DEPTH = 4
_text = st.text(st.characters(blacklist_categories=["Cs"]), max_size=8)
_int64 = st.integers(min_value=-(1 << 63), max_value=(1 << 63) - 1)
_times = st.datetimes(
    min_value=datetime.datetime(1970, 1, 1), max_value=datetime.datetime(2200, 1, 1)
).map(lambda moment: moment.strftime("%Y-%m-%dT%H:%M:%SZ"))
_b64 = st.binary(max_size=8).map(lambda data: base64.b64encode(data).decode())
_json_objects = st.dictionaries(_text, st.one_of(st.none(), st.booleans(), _text), max_size=3)

_SCALARS: dict[Kind, st.SearchStrategy[Any]] = {
    Kind.STRING: _text,
    Kind.BYTES: _b64,
    Kind.BOOL: st.booleans(),
    Kind.INT: _int64,
    Kind.TIME: _times,
    Kind.QUANTITY: _text,
    Kind.INT_OR_STRING: st.one_of(_int64, _text),
    Kind.RAW_JSON: _json_objects,
    Kind.MAP_STRING: st.dictionaries(_text, _text, max_size=3),
    Kind.MAP_BYTES: st.dictionaries(_text, _b64, max_size=3),
    Kind.MAP_QUANTITY: st.dictionaries(_text, _text, max_size=3),
    Kind.MAP_STRINGS: st.dictionaries(_text, st.lists(_text, max_size=3), max_size=3),
}


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == 0 or value is False or value in ({}, [])


def _draw_message(draw: st.DrawFn, message: str, depth: int) -> dict[str, Any]:
    """A JSON object of ``message`` as decoded: empty non-pointer fields left out."""
    out: dict[str, Any] = {}
    for field in protobuf.MESSAGES[message].values():
        if not draw(st.booleans()):
            continue
        value: Any
        if field.kind is Kind.MESSAGE:
            assert field.message is not None
            if depth >= _MAX_DEPTH:
                continue
            if field.repeated:
                count = draw(st.integers(min_value=1, max_value=2))
                value = [_draw_message(draw, field.message, depth + 1) for _ in range(count)]
            else:
                value = _draw_message(draw, field.message, depth + 1)
                if field.inline:
                    out.update(value)
                    continue
        elif field.repeated:
            value = draw(st.lists(_SCALARS[field.kind], min_size=1, max_size=3))
        else:
            value = draw(_SCALARS[field.kind])
        if field.keep_empty or not _empty(value):
            out[field.name] = value
    return out


def _encode_scalar(number: int, kind: Kind, value: Any) -> bytes:
    if kind is Kind.STRING:
        return wire.ld(number, value)
    if kind is Kind.BYTES:
        return wire.ld(number, base64.b64decode(value))
    if kind is Kind.BOOL:
        return wire.boolean(number, value)
    if kind is Kind.INT:
        return wire.integer(number, value)
    if kind is Kind.TIME:
        moment = datetime.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ")
        seconds = int(moment.replace(tzinfo=datetime.UTC).timestamp())
        return wire.ld(number, wire.integer(1, seconds) + wire.integer(2, 0))
    if kind is Kind.QUANTITY:
        return wire.ld(number, wire.ld(1, value))
    if kind is Kind.INT_OR_STRING:
        if isinstance(value, str):
            return wire.ld(number, wire.integer(1, 1) + wire.integer(2, 0) + wire.ld(3, value))
        return wire.ld(number, wire.integer(1, 0) + wire.integer(2, value) + wire.ld(3, ""))
    if kind is Kind.RAW_JSON:
        return wire.ld(number, wire.ld(1, json.dumps(value).encode()))
    out = b""
    for key, item in value.items():
        if kind is Kind.MAP_BYTES:
            encoded = wire.ld(2, base64.b64decode(item))
        elif kind is Kind.MAP_QUANTITY:
            encoded = wire.ld(2, wire.ld(1, item))
        elif kind is Kind.MAP_STRINGS:
            encoded = wire.ld(2, b"".join(wire.ld(1, text) for text in item))
        else:
            encoded = wire.ld(2, item)
        out += wire.ld(number, wire.ld(1, key) + encoded)
    return out


def _encode_message(message: str, obj: dict[str, Any]) -> bytes:
    """gogo's writing of ``obj``: fields in number order, inline messages from the parent's keys."""
    out = b""
    for number, field in sorted(protobuf.MESSAGES[message].items()):
        if field.kind is Kind.MESSAGE and field.inline:
            assert field.message is not None
            names = {f.name for f in protobuf.MESSAGES[field.message].values()}
            inner = {name: value for name, value in obj.items() if name in names}
            out += wire.ld(number, _encode_message(field.message, inner))
            continue
        if field.name not in obj:
            continue
        value = obj[field.name]
        if field.kind is Kind.MESSAGE:
            assert field.message is not None
            for item in value if field.repeated else [value]:
                out += wire.ld(number, _encode_message(field.message, item))
        elif field.repeated:
            out += b"".join(_encode_scalar(number, field.kind, item) for item in value)
        else:
            out += _encode_scalar(number, field.kind, value)
    return out


@st.composite
def bodies(draw: st.DrawFn) -> tuple[bytes, dict[str, Any]]:
    """A protobuf request body of a supported kind and the object it must decode to."""
    (api_version, kind), message = draw(
        st.sampled_from(sorted(protobuf.TOP_LEVEL.items(), key=str))
    )
    api_version = api_version or draw(st.sampled_from(["v1", "meta.k8s.io/v1"]))
    fields = _draw_message(draw, message, depth=0)
    expected = {"kind": kind, "apiVersion": api_version, **fields}
    body = wire.envelope(_encode_message(message, fields), api_version=api_version, kind=kind)
    return body, expected


_INGRESS_WITH_EMPTY_HTTP = {  # "http" is a pointer in the inline IngressRuleValue
    "kind": "Ingress",
    "apiVersion": "networking.k8s.io/v1",
    "spec": {"rules": [{"http": {}}]},
}


@given(body=bodies())
@example(
    body=(
        wire.envelope(
            _encode_message("Ingress", {"spec": _INGRESS_WITH_EMPTY_HTTP["spec"]}),
            api_version="networking.k8s.io/v1",
            kind="Ingress",
        ),
        _INGRESS_WITH_EMPTY_HTTP,
    )
)
def test_bodies_decode_to_the_object_they_encode(body: tuple[bytes, dict[str, Any]]) -> None:
    raw, expected = body
    assert protobuf.decode(raw) == expected


def _decodes_or_refuses(raw: bytes) -> None:
    try:
        decoded = protobuf.decode(raw)
    except protobuf.ProtobufError:
        return
    assert isinstance(decoded, dict)
    assert decoded["kind"]


def _nested(depth: int, number: int) -> bytes:
    inner = wire.integer(1, 1)
    for _ in range(depth):
        inner = wire.ld(number, inner)
    return inner


_SECRET = wire.ld(1, wire.ld(1, "v1") + wire.ld(2, "Secret"))


@given(tail=st.one_of(st.binary(max_size=300), st.binary(max_size=300).map(_SECRET.__add__)))
@example(tail=_SECRET + wire.ld(2, wire.ld(99, _nested(3000, 1))))
@example(tail=_SECRET + wire.ld(2, _nested(3000, 1)))
@example(tail=b"\x0a\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01")
def test_any_bytes_decode_or_raise_protobuf_error(tail: bytes) -> None:
    _decodes_or_refuses(protobuf.MAGIC + tail)


@given(body=bodies(), cut=st.floats(0, 1), flip=st.one_of(st.none(), st.floats(0, 1)))
def test_damaged_bodies_decode_or_raise_protobuf_error(
    body: tuple[bytes, dict[str, Any]], cut: float, flip: float | None
) -> None:
    raw = body[0]
    if flip is not None:
        at = len(protobuf.MAGIC) + int(flip * (len(raw) - len(protobuf.MAGIC) - 1))
        raw = raw[:at] + bytes([raw[at] ^ 0xA5]) + raw[at + 1 :]
    _decodes_or_refuses(raw[: max(len(protobuf.MAGIC), int(cut * len(raw)))])
