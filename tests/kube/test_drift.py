"""Projections of live objects onto the fields we apply, and the paths that differ."""

from __future__ import annotations

from typing import Any

import pytest

from shared.kube import drift

DESIRED = {
    "metadata": {"name": "web", "labels": {"app": "web"}},
    "spec": {
        "replicas": 2,
        "template": {
            "spec": {
                "containers": [
                    {"name": "app", "image": "nginx:1", "ports": [{"containerPort": 80}]},
                    {"name": "side", "image": "envoy:1"},
                ]
            }
        },
    },
}


def _live(**changes: Any) -> dict[str, Any]:
    containers = [
        {"name": "side", "image": "envoy:1", "imagePullPolicy": "IfNotPresent"},
        {
            "name": "app",
            "image": changes.get("image", "nginx:1"),
            "ports": [{"containerPort": 80, "protocol": "TCP"}],
            "imagePullPolicy": "IfNotPresent",
        },
    ]
    if changes.get("drop_side"):
        containers = containers[1:]
    return {
        "metadata": {
            "name": "web",
            "labels": {"app": "web", **changes.get("labels", {})},
            "resourceVersion": "7",
        },
        "spec": {
            "replicas": changes.get("replicas", 2),
            "template": {"spec": {"containers": containers}},
        },
        "status": {"replicas": 2},
    }


def test_fields_others_add_are_left_out() -> None:
    assert drift.project(_live(labels={"team": "x"}), DESIRED) == DESIRED


@pytest.mark.parametrize(
    ("live", "fields"),
    [
        (_live(replicas=5), ["spec.replicas"]),
        (_live(image="nginx:2"), ["spec.template.spec.containers[name=app].image"]),
        (_live(drop_side=True), ["spec.template.spec.containers[name=side]"]),
    ],
    ids=["scalar", "list item by name", "missing list item"],
)
def test_changed_fields_name_the_paths(live: dict[str, Any], fields: list[str]) -> None:
    assert drift.changed_fields(DESIRED, drift.project(live, DESIRED)) == fields


def test_missing_map_key_is_reported() -> None:
    projected = drift.project({"data": {}}, {"data": {"a": "1"}})

    assert projected == {"data": {"a": drift.MISSING}}
    assert drift.changed_fields({"data": {"a": "1"}}, projected) == ["data.a"]


def test_lists_without_keys_compare_by_position() -> None:
    shape = {"args": ["--a", "--b"]}

    assert drift.project({"args": ["--a", "--b"]}, shape) == shape
    assert drift.changed_fields(shape, drift.project({"args": ["--b", "--a"]}, shape)) == [
        "args[0]",
        "args[1]",
    ]


def test_digest_ignores_key_order() -> None:
    assert drift.digest({"a": 1, "b": [1, 2]}) == drift.digest({"b": [1, 2], "a": 1})
    assert drift.digest({"a": 1}) != drift.digest({"a": 2})
