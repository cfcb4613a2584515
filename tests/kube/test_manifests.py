"""YAML documents read as Go's YAML→JSON reads them, split and written back."""

from __future__ import annotations

import pytest

from shared.kube import manifests


def test_timestamps_and_equals_stay_strings() -> None:
    [doc] = manifests.load_all("a: 2024-01-02\nb: =\nc: 2024-01-02T03:04:05Z\n")
    assert doc == {"a": "2024-01-02", "b": "=", "c": "2024-01-02T03:04:05Z"}


def test_yaml_1_1_scalars_and_keys() -> None:
    [doc] = manifests.load_all("yes: on\n2: 0x10\nnull: ~\nf: 1.5\n")
    assert doc == {"true": True, "2": 16, "null": None, "f": 1.5}


def test_empty_documents_are_skipped() -> None:
    assert manifests.load_all("---\n---\na: 1\n---\n") == [{"a": 1}]


@pytest.mark.parametrize("text", ["- a\n- b\n", "just a string\n", "a: [\n"])
def test_non_mappings_and_bad_yaml_fail(text: str) -> None:
    with pytest.raises(manifests.ManifestError):
        manifests.load_all(text)


def test_split_keeps_each_document_text() -> None:
    text = "a: 1\n---\nb: |\n  ---\n  x\n---\n\n--- \nc: 3\n"
    assert manifests.split(text) == ["a: 1\n", "b: |\n  ---\n  x\n", "c: 3\n"]


def test_dump_round_trips_in_order() -> None:
    objects = [{"z": 1, "a": {"y": [1, "two"], "b": None}}, {"k": "v: w"}]
    text = manifests.dump_all(objects)
    assert text.index("z:") < text.index("a:")
    assert manifests.load_all(text) == objects
