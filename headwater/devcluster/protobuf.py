"""Kubernetes protobuf *request* bodies, decoded into the dicts a JSON body gives.

client-go (Helm's release storage) sends Secrets, ConfigMaps and DeleteOptions as
``application/vnd.kubernetes.protobuf`` and never falls back to JSON (kubectl's
typed commands, e.g. ``kubectl create namespace``, do the same; Namespaces are
decoded too). The body is the 4-byte magic ``k8s\\0`` followed by a
``runtime.Unknown`` message whose ``typeMeta`` names the kind and whose ``raw``
holds the typed message.

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
  (k8s.io/api core/v1, k8s.io/apimachinery meta/v1 and runtime). Unknown fields
  are skipped, as a protobuf decoder must.

A small wire-format reader plus declarative message tables; no generated code and
no protobuf dependency. Pure: no I/O.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import enum
import json
from collections.abc import Callable, Mapping
from typing import Any

MAGIC = b"k8s\x00"
CONTENT_TYPE = "application/vnd.kubernetes.protobuf"


class ProtobufError(ValueError):
    """The body is not a well-formed Kubernetes protobuf message."""


class UnsupportedKindError(ProtobufError):
    """The envelope is well formed but names a kind this module does not decode."""

    def __init__(self, api_version: str, kind: str) -> None:
        super().__init__(f"protobuf request bodies of kind {api_version}/{kind} are not supported")
        self.api_version = api_version
        self.kind = kind


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


# --- message tables ----------------------------------------------------------


class Kind(enum.Enum):
    """How a field's wire value becomes a JSON value."""

    STRING = "string"
    BYTES = "bytes"  # base64 in JSON
    BOOL = "bool"
    INT = "int"  # int32/int64 varint, two's complement when negative
    TIME = "time"  # metav1.Time → RFC 3339, seconds precision
    RAW_JSON = "raw_json"  # FieldsV1: its Raw bytes are JSON
    MESSAGE = "message"
    MAP_STRING = "map_string"  # map<string, string>
    MAP_BYTES = "map_bytes"  # map<string, bytes>


@dataclasses.dataclass(frozen=True)
class Field:
    """One field of a message table.

    ``keep_empty`` marks fields Go marshals to JSON even when empty: pointer
    fields (present on the wire only when set) and required fields without
    ``omitempty``. Others are dropped when empty, as ``omitempty`` drops them.
    """

    name: str
    kind: Kind
    repeated: bool = False
    message: str | None = None
    keep_empty: bool = False


Message = Mapping[int, Field]

# Field numbers from the generated.proto files named in the module docstring.
_MESSAGES: dict[str, Message] = {
    "Unknown": {
        1: Field("typeMeta", Kind.MESSAGE, message="TypeMeta"),
        2: Field("raw", Kind.BYTES),
        3: Field("contentEncoding", Kind.STRING),
        4: Field("contentType", Kind.STRING),
    },
    "TypeMeta": {
        1: Field("apiVersion", Kind.STRING),
        2: Field("kind", Kind.STRING),
    },
    "ObjectMeta": {
        1: Field("name", Kind.STRING),
        2: Field("generateName", Kind.STRING),
        3: Field("namespace", Kind.STRING),
        4: Field("selfLink", Kind.STRING),
        5: Field("uid", Kind.STRING),
        6: Field("resourceVersion", Kind.STRING),
        7: Field("generation", Kind.INT),
        8: Field("creationTimestamp", Kind.TIME),
        9: Field("deletionTimestamp", Kind.TIME),
        10: Field("deletionGracePeriodSeconds", Kind.INT, keep_empty=True),
        11: Field("labels", Kind.MAP_STRING),
        12: Field("annotations", Kind.MAP_STRING),
        13: Field("ownerReferences", Kind.MESSAGE, repeated=True, message="OwnerReference"),
        14: Field("finalizers", Kind.STRING, repeated=True),
        17: Field("managedFields", Kind.MESSAGE, repeated=True, message="ManagedFieldsEntry"),
    },
    "OwnerReference": {
        1: Field("kind", Kind.STRING, keep_empty=True),
        3: Field("name", Kind.STRING, keep_empty=True),
        4: Field("uid", Kind.STRING, keep_empty=True),
        5: Field("apiVersion", Kind.STRING, keep_empty=True),
        6: Field("controller", Kind.BOOL, keep_empty=True),
        7: Field("blockOwnerDeletion", Kind.BOOL, keep_empty=True),
    },
    "ManagedFieldsEntry": {
        1: Field("manager", Kind.STRING),
        2: Field("operation", Kind.STRING),
        3: Field("apiVersion", Kind.STRING),
        4: Field("time", Kind.TIME),
        6: Field("fieldsType", Kind.STRING),
        7: Field("fieldsV1", Kind.RAW_JSON),
        8: Field("subresource", Kind.STRING),
    },
    "Secret": {
        1: Field("metadata", Kind.MESSAGE, message="ObjectMeta", keep_empty=True),
        2: Field("data", Kind.MAP_BYTES),
        3: Field("type", Kind.STRING),
        4: Field("stringData", Kind.MAP_STRING),
        5: Field("immutable", Kind.BOOL, keep_empty=True),
    },
    "ConfigMap": {
        1: Field("metadata", Kind.MESSAGE, message="ObjectMeta", keep_empty=True),
        2: Field("data", Kind.MAP_STRING),
        3: Field("binaryData", Kind.MAP_BYTES),
        4: Field("immutable", Kind.BOOL, keep_empty=True),
    },
    "Namespace": {
        1: Field("metadata", Kind.MESSAGE, message="ObjectMeta", keep_empty=True),
        2: Field("spec", Kind.MESSAGE, message="NamespaceSpec", keep_empty=True),
        3: Field("status", Kind.MESSAGE, message="NamespaceStatus", keep_empty=True),
    },
    "NamespaceSpec": {
        1: Field("finalizers", Kind.STRING, repeated=True),
    },
    "NamespaceStatus": {
        1: Field("phase", Kind.STRING),
        2: Field("conditions", Kind.MESSAGE, repeated=True, message="NamespaceCondition"),
    },
    "NamespaceCondition": {
        1: Field("type", Kind.STRING, keep_empty=True),
        2: Field("status", Kind.STRING, keep_empty=True),
        4: Field("lastTransitionTime", Kind.TIME),
        5: Field("reason", Kind.STRING),
        6: Field("message", Kind.STRING),
    },
    "DeleteOptions": {
        1: Field("gracePeriodSeconds", Kind.INT, keep_empty=True),
        2: Field("preconditions", Kind.MESSAGE, message="Preconditions", keep_empty=True),
        3: Field("orphanDependents", Kind.BOOL, keep_empty=True),
        4: Field("propagationPolicy", Kind.STRING, keep_empty=True),
        5: Field("dryRun", Kind.STRING, repeated=True),
        6: Field("ignoreStoreReadErrorWithClusterBreakingPotential", Kind.BOOL, keep_empty=True),
    },
    "Preconditions": {
        1: Field("uid", Kind.STRING, keep_empty=True),
        2: Field("resourceVersion", Kind.STRING, keep_empty=True),
    },
}

# The kinds a request body may carry: (apiVersion or None for any, kind) → message.
# NB: DeleteOptions is registered in every group version, so clients label it
# with the group version of the resource they delete ("v1", "apps/v1", …) or
# with "meta.k8s.io/v1".
_TOP_LEVEL: dict[tuple[str | None, str], str] = {
    ("v1", "Secret"): "Secret",
    ("v1", "ConfigMap"): "ConfigMap",
    ("v1", "Namespace"): "Namespace",
    (None, "DeleteOptions"): "DeleteOptions",
}

SUPPORTED_KINDS: frozenset[str] = frozenset(kind for _, kind in _TOP_LEVEL)


def _string(value: int | bytes, field: Field) -> str:
    raw = _bytes(value, field)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtobufError(f"{field.name}: not valid UTF-8") from exc


def _bytes(value: int | bytes, field: Field) -> bytes:
    if not isinstance(value, bytes):
        raise ProtobufError(f"{field.name}: expected a length-delimited value")
    return value


def _int(value: int | bytes, field: Field) -> int:
    if not isinstance(value, int):
        raise ProtobufError(f"{field.name}: expected a varint")
    # int32 and int64 both encode negatives as 10-byte two's complement varints.
    return value - (1 << 64) if value >= 1 << 63 else value


def _time(value: int | bytes, field: Field) -> str | None:
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


def _map(value: int | bytes, field: Field, *, binary: bool) -> tuple[str, str]:
    key = ""
    item: str = ""
    for number, _, inner in _fields(_bytes(value, field)):
        if number == 1:
            key = _string(inner, field)
        elif number == 2:
            item = (
                base64.b64encode(_bytes(inner, field)).decode("ascii")
                if binary
                else _string(inner, field)
            )
    return key, item


def _scalar(value: int | bytes, field: Field) -> Any:
    convert: dict[Kind, Callable[[int | bytes, Field], Any]] = {
        Kind.STRING: _string,
        Kind.BYTES: lambda v, f: base64.b64encode(_bytes(v, f)).decode("ascii"),
        Kind.BOOL: lambda v, f: _int(v, f) != 0,
        Kind.INT: _int,
        Kind.TIME: _time,
    }
    return convert[field.kind](value, field)


def _raw_json(value: int | bytes, field: Field) -> Any:
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


def decode_message(data: bytes, message: str) -> dict[str, Any]:
    """Decode one message of the tables above into its JSON-shaped dict.

    Repeated occurrences of a singular message field are merged, as protobuf
    specifies, by decoding their concatenated bytes.
    """
    table = _MESSAGES[message]
    out: dict[str, Any] = {}
    pending: dict[int, bytes] = {}
    for number, _, value in _fields(data):
        field = table.get(number)
        if field is None:
            continue
        if field.kind is Kind.MESSAGE:
            assert field.message is not None
            raw = _bytes(value, field)
            if field.repeated:
                out.setdefault(field.name, []).append(decode_message(raw, field.message))
            else:
                pending[number] = pending.get(number, b"") + raw
        elif field.kind in (Kind.MAP_STRING, Kind.MAP_BYTES):
            key, item = _map(value, field, binary=field.kind is Kind.MAP_BYTES)
            out.setdefault(field.name, {})[key] = item
        elif field.kind is Kind.RAW_JSON:
            out[field.name] = _raw_json(value, field)
        elif field.repeated:
            out.setdefault(field.name, []).append(_scalar(value, field))
        else:
            out[field.name] = _scalar(value, field)
    for number, raw in pending.items():
        field = table[number]
        assert field.message is not None
        out[field.name] = decode_message(raw, field.message)
    keep = {f.name for f in table.values() if f.keep_empty}
    # NB: a zero time is null in Go's JSON; it is left out here, which every
    # reader treats the same as null.
    return {
        name: value
        for name, value in out.items()
        if value is not None and (name in keep or not _is_empty(value))
    }


def decode(body: bytes) -> dict[str, Any]:
    """Decode a ``k8s\\0`` protobuf request body into the equivalent JSON object."""
    if not body.startswith(MAGIC):
        raise ProtobufError("missing the k8s\\0 protobuf prefix")
    envelope = _MESSAGES["Unknown"]
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
    message = _TOP_LEVEL.get((api_version, kind)) or _TOP_LEVEL.get((None, kind))
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
