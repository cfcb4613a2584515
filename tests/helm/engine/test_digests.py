"""Flux's config and snapshot digests, pinned to the values Flux's own tests expect."""

from __future__ import annotations

from typing import Any

import pytest

from controllers.helm.engine import digests, records


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"foo": "bar"}, "sha256:1dabc4e3cbbd6a0818bd460f3a6c9855bfe95d506c74726bc0f2edb0aecb1f4e"),
        # Helm's Values.Encode of no values is YAML "null".
        ({}, "sha256:38e0b9de817f645c4bec37c0d4a3e58baecccb040f5718dc069a72c7385a0bed"),
        (None, "sha256:38e0b9de817f645c4bec37c0d4a3e58baecccb040f5718dc069a72c7385a0bed"),
    ],
)
def test_values_digest_is_fluxs_config_digest(values: dict[str, Any] | None, expected: str) -> None:
    assert digests.values_digest(values) == expected


def test_values_digest_ignores_key_order_and_integral_floats() -> None:
    a = digests.values_digest({"b": {"y": 1, "x": [1, 2]}, "a": "z"})
    b = digests.values_digest({"a": "z", "b": {"x": [1.0, 2], "y": 1}})

    assert a == b != digests.values_digest({"a": "z", "b": {"x": [2, 1], "y": 1}})


def test_snapshot_digest_of_a_bare_observation_is_fluxs() -> None:
    expected = "sha256:f1498f27a16a09cd7e1ee610d924df065c03d30035638babc95dd9a8d412ce4d"

    assert digests.snapshot_digest({"name": "foo"}) == expected


def test_go_json_escapes_html_and_keeps_struct_order() -> None:
    assert digests.go_json({"b": "<a&b>", "a": 1}) == b'{"b":"\\u003ca\\u0026b\\u003e","a":1}\n'


def record(**changes: Any) -> records.ReleaseRecord:
    base: dict[str, Any] = {
        "name": "web",
        "namespace": "apps",
        "version": 1,
        "status": records.Status.DEPLOYED,
        "chart": {"metadata": {"name": "web", "version": "1.0.0"}},
        "config": {"a": 1},
        "manifest": "kind: ConfigMap\n",
    }
    return records.ReleaseRecord(**{**base, **changes})


def test_snapshot_digest_ignores_test_hooks_only() -> None:
    test_hook = records.Hook(name="t", kind="Pod", path="p", manifest="m", events=("test",))
    install_hook = records.Hook(
        name="i", kind="Job", path="p", manifest="m", events=("post-install",)
    )

    plain = record().digest()

    assert record(hooks=(test_hook,)).digest() == plain
    assert record(hooks=(install_hook,)).digest() != plain
    assert record(status=records.Status.SUPERSEDED).digest() != plain
    assert record(labels={"x": "y"}).digest() == plain
    assert record().digest(oci_digest="sha256:abc") != plain


def test_config_digest_is_the_values_digest_of_the_config() -> None:
    assert record().config_digest() == digests.values_digest({"a": 1})
