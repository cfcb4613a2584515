"""JSON encoding of response bodies and watch lines, and fast decoding of them.

``to_json`` gives compact JSON as UTF-8 bytes, the wire form every reply and
watch event uses. It is pydantic-core's serializer (several times faster than
``json.dumps`` on API objects, which matters because every write is encoded
once for its reply and once per distinct watch line). Non-ASCII text is sent
as UTF-8, as the Go API server does, rather than ``\\u`` escapes; the decoded
values are the same. Text the fast serializer cannot write as UTF-8 (a lone
surrogate, which a JSON body may carry as ``"\\ud800"``) falls back to
``json.dumps`` with ``\\u`` escapes, so such a value still round-trips.

``from_json`` is the matching decoder for what the server sent (the controller
manager process reads every watch event): pydantic-core's parser, with ``json``
for what it refuses (those escaped lone surrogates). It keeps the last of
repeated keys and reports none, so request bodies, whose duplicates
``fieldValidation`` must see, are not decoded with it.
"""

from __future__ import annotations

import json
from typing import Any

import pydantic_core


def to_json(value: Any) -> bytes:
    """``value`` (plain dicts, lists, strings, numbers, booleans, None) as compact JSON."""
    try:
        return pydantic_core.to_json(value)
    except pydantic_core.PydanticSerializationError:
        return json.dumps(value, separators=(",", ":")).encode()


def from_json(raw: bytes | str) -> Any:
    """The value of the JSON text ``raw`` (``ValueError`` when it is not JSON)."""
    try:
        return pydantic_core.from_json(raw)
    except ValueError:
        return json.loads(raw)
