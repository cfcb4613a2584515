"""Hand-built Kubernetes protobuf bodies: the wire-format writer the tests share.

Written independently of the decoder under test (``devcluster.serializers.protobuf``)
and of the gnostic encoder, so a test's bytes do not come from the code it
checks. Fields are written the way client-go's gogo marshaller writes them:
the caller decides what is present, and ``integer``/``boolean`` write even a
zero. ``envelope`` adds the ``runtime.Unknown`` wrapper, with its
``contentEncoding`` and ``contentType`` always written, empty or not, as in
the bodies kubectl sends (see the captured ``*.pb`` files). Pure: no I/O.
"""

from __future__ import annotations

MAGIC = b"k8s\x00"


def varint(value: int) -> bytes:
    """Base-128 varint; a negative value as its 64-bit two's complement (int64 fields)."""
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


def key(number: int, wire: int) -> bytes:
    """A field's key: its number and wire type (0 varint, 1 fixed64, 2 length-delimited)."""
    return varint(number << 3 | wire)


def ld(number: int, payload: bytes | str) -> bytes:
    """A length-delimited field: bytes, a string (as UTF-8) or an embedded message."""
    data = payload.encode() if isinstance(payload, str) else payload
    return key(number, 2) + varint(len(data)) + data


def integer(number: int, value: int) -> bytes:
    """A varint field, written even when zero."""
    return key(number, 0) + varint(value)


def boolean(number: int, value: bool) -> bytes:
    """A bool field, written even when false."""
    return integer(number, 1 if value else 0)


def envelope(
    raw: bytes, *, api_version: str, kind: str, content_type: str = "", encoding: str = ""
) -> bytes:
    """``k8s\\0`` and a ``runtime.Unknown`` whose ``raw`` is the typed message ``raw``."""
    type_meta = ld(1, api_version) + ld(2, kind)
    return MAGIC + ld(1, type_meta) + ld(2, raw) + ld(3, encoding) + ld(4, content_type)
