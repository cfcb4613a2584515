"""The wire JSON encoder: same values as ``json``, UTF-8 text, surrogates survive."""

from __future__ import annotations

import json
from typing import Any

import pytest

from devcluster.serializers import encoding

VALUES: list[Any] = [
    {},
    [],
    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "labels": {"x": "y"}}},
    {"data": {"text": "grüße, 東京, emoji 🚀", "quote": 'a"b\\c\n\t', "empty": ""}},
    {"numbers": [0, -1, 2**63 - 1, 2**70, -(2**80), 1.5, -0.25, 1e100, 3.0]},
    {"nested": [{"a": [None, True, False, [[]]]}]},
]


@pytest.mark.parametrize("value", VALUES, ids=range(len(VALUES)))
def test_decodes_to_the_same_value_as_json(value: Any) -> None:
    encoded = encoding.to_json(value)
    assert json.loads(encoded) == value
    assert json.loads(encoded) == json.loads(json.dumps(value))


def test_is_compact_and_keeps_key_order() -> None:
    assert encoding.to_json({"b": 1, "a": [1, 2]}) == b'{"b":1,"a":[1,2]}'


def test_non_ascii_text_is_utf8_not_escaped() -> None:
    assert encoding.to_json({"k": "é"}) == '{"k":"é"}'.encode()


def test_lone_surrogate_from_a_json_body_round_trips_escaped() -> None:
    value = json.loads('{"k": "\\ud800x"}')
    encoded = encoding.to_json(value)
    assert encoded == b'{"k":"\\ud800x"}'
    assert json.loads(encoded) == value


@pytest.mark.parametrize("value", VALUES, ids=range(len(VALUES)))
def test_from_json_reads_what_to_json_wrote(value: Any) -> None:
    assert encoding.from_json(encoding.to_json(value)) == value


def test_from_json_reads_escaped_lone_surrogates_and_refuses_non_json() -> None:
    assert encoding.from_json(b'{"k":"\\ud800x"}') == {"k": "\ud800x"}
    with pytest.raises(json.JSONDecodeError):
        encoding.from_json(b"{not json")
