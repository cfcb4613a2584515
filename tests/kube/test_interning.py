"""``interning.compact``: equal values, with keys and short strings shared between objects."""

from __future__ import annotations

import json

from shared.kube import interning

TEXT = json.dumps(
    {
        "apiVersion": "apps/v1",
        "metadata": {"labels": {"app": "web"}, "annotations": {"note": "x" * 300}},
        "spec": {"containers": [{"name": "app", "image": "ghcr.io/example/app:1.0.0"}]},
    }
)


def test_compact_is_equal_and_shares_keys_and_short_strings() -> None:
    first, second = (interning.compact(json.loads(TEXT)) for _ in range(2))

    assert first == json.loads(TEXT)
    assert next(iter(first["metadata"])) is next(iter(second["metadata"]))
    assert first["apiVersion"] is second["apiVersion"]
    assert first["spec"]["containers"][0]["image"] is second["spec"]["containers"][0]["image"]


def test_long_strings_are_left_alone() -> None:
    first, second = (interning.compact(json.loads(TEXT)) for _ in range(2))

    note = first["metadata"]["annotations"]["note"]
    assert len(note) > interning.SHORT_STRING
    assert note is not second["metadata"]["annotations"]["note"]
