"""Kubernetes protobuf *request* bodies, decoded into the dicts a JSON body gives.

client-go (Helm's release storage) sends Secrets, ConfigMaps and DeleteOptions as
``application/vnd.kubernetes.protobuf`` and never falls back to JSON; kubectl's
typed commands (``kubectl create role|cronjob|ingress|quota|token|…``) do the
same for the kinds they build. The body is the 4-byte magic ``k8s\\0`` followed
by a ``runtime.Unknown`` message whose ``typeMeta`` names the kind and whose
``raw`` holds the typed message. The kinds decoded are the ``TOP_LEVEL`` keys
of ``protomessages``, ``protokinds`` and ``protoreviews``.

Contract:

- ``decode(body)`` returns exactly what ``json.loads`` of the equivalent JSON
  body would return: ``apiVersion``/``kind`` from the envelope, camelCase keys,
  ``[]byte`` values base64-encoded, times as RFC 3339 strings, fields that Go
  marshals with ``omitempty`` left out when empty, optional (pointer) fields kept
  whenever they were sent, even as ``false``/``0``/``""``.
- Malformed input raises ``ProtobufError`` (answer 400 BadRequest); a
  well-formed body of a kind this module cannot decode raises
  ``UnsupportedKindError`` (answer 415 UnsupportedMediaType).
- Field numbers are those of the Kubernetes ``generated.proto`` files
  (k8s.io/api, k8s.io/apimachinery meta/v1 and runtime). A field missing from
  a table is accepted only when empty (gogo writes every non-pointer field,
  set or not); one with a value raises ``UnsupportedFieldError`` (415), so
  client data is refused, never silently dropped.

A small wire-format reader plus declarative message tables; no generated code and
no protobuf dependency. Pure: no I/O.
"""

from __future__ import annotations

import base64
import datetime
import json
from collections.abc import Callable
from typing import Any

from devcluster.serializers import protokinds, protomessages, protoreviews

MAGIC = b"k8s\x00"
CONTENT_TYPE = "application/vnd.kubernetes.protobuf"

# Read-only merges of the two table modules (message names are unique across them).
MESSAGES: dict[str, protomessages.Message] = {
    **protomessages.MESSAGES,
    **protokinds.MESSAGES,
    **protoreviews.MESSAGES,
}
TOP_LEVEL: dict[tuple[str | None, str], str] = {
    **protomessages.TOP_LEVEL,
    **protokinds.TOP_LEVEL,
    **protoreviews.TOP_LEVEL,
}


class ProtobufError(ValueError):
    """The body is not a well-formed Kubernetes protobuf message."""


class UnsupportedKindError(ProtobufError):
    """The envelope is well formed but names a kind this module does not decode."""

    def __init__(self, api_version: str, kind: str) -> None:
        super().__init__(f"protobuf request bodies of kind {api_version}/{kind} are not supported")
        self.api_version = api_version
        self.kind = kind


class UnsupportedFieldError(UnsupportedKindError):
    """A field this decoder has no table entry for arrived with a value.

    Known kinds are decoded field by field; a field left out of a table is
    accepted only empty, so no client data is ever silently dropped.
    """

    def __init__(self, message: str, number: int) -> None:
        ProtobufError.__init__(
            self, f"field {number} of {message} is not supported in protobuf bodies; send JSON"
        )
        self.api_version = ""
        self.kind = message
        self.number = number


def is_protobuf(content_type: str | None) -> bool:
    """Whether a Content-Type header names the Kubernetes protobuf encoding."""
    if not content_type:
        return False
    return content_type.split(";", 1)[0].strip().lower() == CONTENT_TYPE


# --- wire format -------------------------------------------------------------

_VARINT, _FIXED64, _LENGTH, _START_GROUP, _END_GROUP, _FIXED32 = 0, 1, 2, 3, 4, 5


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while True:
        if pos >= len(data):
            raise ProtobufError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise ProtobufError("varint longer than 10 bytes")


def _fields(data: bytes) -> list[tuple[int, int, int | bytes]]:
    """Split a message into ``(field number, wire type, value)`` in wire order.

    Varints come back as unsigned ints, length-delimited fields as bytes; fixed
    32/64-bit values as little-endian unsigned ints (none of our kinds has them,
    but a decoder must be able to skip them).
    """
    out: list[tuple[int, int, int | bytes]] = []
    pos = 0
    while pos < len(data):
        key, pos = _read_varint(data, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise ProtobufError("field number 0")
        value: int | bytes
        if wire == _VARINT:
            value, pos = _read_varint(data, pos)
        elif wire == _LENGTH:
            length, pos = _read_varint(data, pos)
            if pos + length > len(data):
                raise ProtobufError(f"field {number}: length {length} runs past the end")
            value = data[pos : pos + length]
            pos += length
        elif wire == _FIXED64:
            if pos + 8 > len(data):
                raise ProtobufError(f"field {number}: truncated fixed64")
            value = int.from_bytes(data[pos : pos + 8], "little")
            pos += 8
        elif wire == _FIXED32:
            if pos + 4 > len(data):
                raise ProtobufError(f"field {number}: truncated fixed32")
            value = int.from_bytes(data[pos : pos + 4], "little")
            pos += 4
        else:
            # NB: groups (3/4) are proto1 relics that go-to-protobuf never emits.
            raise ProtobufError(f"field {number}: unsupported wire type {wire}")
        out.append((number, wire, value))
    return out


def _string(value: int | bytes, field: protomessages.Field) -> str:
    raw = _bytes(value, field)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtobufError(f"{field.name}: not valid UTF-8") from exc


def _bytes(value: int | bytes, field: protomessages.Field) -> bytes:
    if not isinstance(value, bytes):
        raise ProtobufError(f"{field.name}: expected a length-delimited value")
    return value


def _int(value: int | bytes, field: protomessages.Field) -> int:
    if not isinstance(value, int):
        raise ProtobufError(f"{field.name}: expected a varint")
    # int32 and int64 both encode negatives as 10-byte two's complement varints.
    return value - (1 << 64) if value >= 1 << 63 else value


def _time(value: int | bytes, field: protomessages.Field) -> str | None:
    raw = _bytes(value, field)
    if not raw:
        # A zero metav1.Time marshals as an empty message; JSON gives null.
        return None
    seconds = 0
    for number, _, inner in _fields(raw):
        if number == 1:
            seconds = _int(inner, field)
    try:
        moment = datetime.datetime.fromtimestamp(seconds, tz=datetime.UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise ProtobufError(f"{field.name}: time out of range") from exc
    # metav1.Time's JSON form has seconds precision; nanos are dropped like Go does.
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _map(value: int | bytes, field: protomessages.Field) -> tuple[str, str | list[str]]:
    """One map entry (key = 1, value = 2) as JSON gives it."""
    key = ""
    item: str | list[str] = [] if field.kind is protomessages.Kind.MAP_STRINGS else ""
    for number, _, inner in _fields(_bytes(value, field)):
        if number == 1:
            key = _string(inner, field)
        elif number == 2:
            if field.kind is protomessages.Kind.MAP_BYTES:
                item = base64.b64encode(_bytes(inner, field)).decode("ascii")
            elif field.kind is protomessages.Kind.MAP_QUANTITY:
                item = _quantity(inner, field)
            elif field.kind is protomessages.Kind.MAP_STRINGS:
                item = _strings(inner, field)
            else:
                item = _string(inner, field)
    return key, item


def _strings(value: int | bytes, field: protomessages.Field) -> list[str]:
    """An ``ExtraValue`` message (``repeated string items = 1``): JSON has the bare list."""
    items: list[str] = []
    for number, _, inner in _fields(_bytes(value, field)):
        if number == 1:
            items.append(_string(inner, field))
        elif not _wire_empty(inner):
            raise UnsupportedFieldError("ExtraValue", number)
    return items


def _quantity(value: int | bytes, field: protomessages.Field) -> str:
    """resource.Quantity's protobuf form is its canonical string in field 1, as in JSON."""
    text = ""
    for number, _, inner in _fields(_bytes(value, field)):
        if number == 1:
            text = _string(inner, field)
        elif not _wire_empty(inner):
            raise UnsupportedFieldError("Quantity", number)
    return text


def _scalar(value: int | bytes, field: protomessages.Field) -> Any:
    convert: dict[protomessages.Kind, Callable[[int | bytes, protomessages.Field], Any]] = {
        protomessages.Kind.STRING: _string,
        protomessages.Kind.BYTES: lambda v, f: base64.b64encode(_bytes(v, f)).decode("ascii"),
        protomessages.Kind.BOOL: lambda v, f: _int(v, f) != 0,
        protomessages.Kind.INT: _int,
        protomessages.Kind.TIME: _time,
        protomessages.Kind.QUANTITY: _quantity,
    }
    return convert[field.kind](value, field)


def _int_or_string(value: int | bytes, field: protomessages.Field) -> int | str:
    """intstr.IntOrString: JSON has the number or the string, per ``type``."""
    kind, number, text = 0, 0, ""
    for tag, _, inner in _fields(_bytes(value, field)):
        if tag == 1:
            kind = _int(inner, field)
        elif tag == 2:
            number = _int(inner, field)
        elif tag == 3:
            text = _string(inner, field)
    return text if kind == 1 else number


def _wire_empty(value: int | bytes) -> bool:
    """Whether a wire value is a zero: 0, or bytes that are empty or an
    embedded message of zeros only (how gogo writes an unset struct)."""
    # NB: iterative: a hostile body can nest messages thousands deep in a field
    # no table names, deeper than Python's stack.
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, int):
            if item != 0:
                return False
            continue
        if not item:
            continue
        try:
            pending.extend(inner for _, _, inner in _fields(item))
        except ProtobufError:
            return False
    return True


def _raw_json(value: int | bytes, field: protomessages.Field) -> Any:
    raw = b""
    for number, _, inner in _fields(_bytes(value, field)):
        if number == 1:
            raw = _bytes(inner, field)
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ProtobufError(f"{field.name}: not JSON") from exc


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or value == 0 or value is False or value in ({}, [])


_MAPS = (
    protomessages.Kind.MAP_STRING,
    protomessages.Kind.MAP_BYTES,
    protomessages.Kind.MAP_QUANTITY,
    protomessages.Kind.MAP_STRINGS,
)


def decode_message(data: bytes, message: str) -> dict[str, Any]:
    """Decode one message of the tables into its JSON-shaped dict.

    Repeated occurrences of a singular message field are merged, as protobuf
    specifies, by decoding their concatenated bytes. An ``inline`` field's
    keys go into this message's dict, as Go's ``json:",inline"`` puts them.
    """
    table = MESSAGES[message]
    out: dict[str, Any] = {}
    pending: dict[int, bytes] = {}
    for number, _, value in _fields(data):
        field = table.get(number)
        if field is None:
            if not _wire_empty(value):
                raise UnsupportedFieldError(message, number)
            continue
        if field.kind is protomessages.Kind.MESSAGE:
            assert field.message is not None
            raw = _bytes(value, field)
            if field.repeated:
                out.setdefault(field.name, []).append(decode_message(raw, field.message))
            else:
                pending[number] = pending.get(number, b"") + raw
        elif field.kind in _MAPS:
            key, item = _map(value, field)
            out.setdefault(field.name, {})[key] = item
        elif field.kind is protomessages.Kind.INT_OR_STRING:
            out[field.name] = _int_or_string(value, field)
        elif field.kind is protomessages.Kind.RAW_JSON:
            out[field.name] = _raw_json(value, field)
        elif field.repeated:
            out.setdefault(field.name, []).append(_scalar(value, field))
        else:
            out[field.name] = _scalar(value, field)
    inlined: dict[str, Any] = {}
    for number, raw in pending.items():
        field = table[number]
        assert field.message is not None
        decoded = decode_message(raw, field.message)
        if field.inline:
            inlined.update(decoded)
        else:
            out[field.name] = decoded
    keep = {f.name for f in table.values() if f.keep_empty}
    # NB: a zero time is null in Go's JSON; it is left out here, which every
    # reader treats the same as null. Inline keys were already filtered by
    # their own table (which alone knows their pointer fields).
    return {
        name: value
        for name, value in out.items()
        if value is not None and (name in keep or not _is_empty(value))
    } | inlined


def decode(body: bytes) -> dict[str, Any]:
    """Decode a ``k8s\\0`` protobuf request body into the equivalent JSON object."""
    if not body.startswith(MAGIC):
        raise ProtobufError("missing the k8s\\0 protobuf prefix")
    envelope = MESSAGES["Unknown"]
    type_meta: dict[str, Any] = {}
    raw = b""
    encoding = content_type = ""
    for number, _, value in _fields(body[len(MAGIC) :]):
        if number == 1:
            type_meta.update(decode_message(_bytes(value, envelope[1]), "TypeMeta"))
        elif number == 2:
            raw = _bytes(value, envelope[2])
        elif number == 3:
            encoding = _string(value, envelope[3])
        elif number == 4:
            content_type = _string(value, envelope[4])
    api_version = str(type_meta.get("apiVersion", ""))
    kind = str(type_meta.get("kind", ""))
    if not kind:
        raise ProtobufError("the protobuf envelope names no kind")
    if encoding:
        raise ProtobufError(f"unsupported content encoding {encoding!r}")
    if content_type and not is_protobuf(content_type):
        if content_type.split(";", 1)[0].strip().lower() != "application/json":
            raise ProtobufError(f"unsupported raw content type {content_type!r}")
        return _decode_json(raw, api_version=api_version, kind=kind)
    message = TOP_LEVEL.get((api_version, kind)) or TOP_LEVEL.get((None, kind))
    if message is None:
        raise UnsupportedKindError(api_version, kind)
    obj: dict[str, Any] = {"kind": kind}
    if api_version:
        obj["apiVersion"] = api_version
    obj.update(decode_message(raw, message))
    return obj


def _decode_json(raw: bytes, *, api_version: str, kind: str) -> dict[str, Any]:
    try:
        obj = json.loads(raw)
    except ValueError as exc:
        raise ProtobufError("raw JSON inside the protobuf envelope is malformed") from exc
    if not isinstance(obj, dict):
        raise ProtobufError("raw JSON inside the protobuf envelope is not an object")
    obj.setdefault("kind", kind)
    if api_version:
        obj.setdefault("apiVersion", api_version)
    return obj
