"""Inventory refs, ordering, stages and diffs."""

from __future__ import annotations

from typing import Any

import pytest

from shared.api import kustomize
from shared.kube import inventory


def _obj(api_version: str, kind: str, name: str, namespace: str | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    return {"apiVersion": api_version, "kind": kind, "metadata": metadata}


def _ids(objects: list[Any]) -> list[str]:
    return [str(inventory.Ref.of(obj)) for obj in objects]


@pytest.mark.parametrize(
    ("obj", "entry", "text"),
    [
        (
            _obj("apps/v1", "Deployment", "web", "dev"),
            {"id": "dev_web_apps_Deployment", "v": "v1"},
            "Deployment/dev/web",
        ),
        (_obj("v1", "Namespace", "dev"), {"id": "_dev__Namespace", "v": "v1"}, "Namespace/dev"),
        (
            _obj("rbac.authorization.k8s.io/v1", "ClusterRole", "system:ctl"),
            {"id": "_system__ctl_rbac.authorization.k8s.io_ClusterRole", "v": "v1"},
            "ClusterRole/system:ctl",
        ),
    ],
    ids=["namespaced", "cluster-scoped core", "rbac colon"],
)
def test_refs_round_trip_through_flux_ids(
    obj: dict[str, Any], entry: dict[str, str], text: str
) -> None:
    ref = inventory.Ref.of(obj)

    assert inventory.to_entries([ref]) == [entry]
    assert inventory.from_entries([entry]) == [ref]
    assert str(ref) == text
    assert ref.api_version == obj["apiVersion"]


def test_malformed_entry_is_rejected() -> None:
    with pytest.raises(kustomize.InvalidInventoryIdError):
        inventory.from_entries([{"id": "nounderscores", "v": "v1"}])


def test_apply_order_puts_dependencies_first() -> None:
    objects = [
        _obj("example.com/v1", "Widget", "w", "dev"),
        _obj("apps/v1", "Deployment", "b", "dev"),
        _obj("apps/v1", "Deployment", "a", "dev"),
        _obj("v1", "Service", "s", "dev"),
        _obj("v1", "ConfigMap", "c", "dev"),
        _obj("v1", "Namespace", "dev"),
        _obj("apiextensions.k8s.io/v1", "CustomResourceDefinition", "widgets.example.com"),
        _obj("apps/v1", "DaemonSet", "d", "dev"),
    ]

    assert _ids(inventory.sort_for_apply(objects)) == [
        "CustomResourceDefinition/widgets.example.com",
        "Namespace/dev",
        "ConfigMap/dev/c",
        "Service/dev/s",
        "Deployment/dev/a",
        "Deployment/dev/b",
        "DaemonSet/dev/d",
        "Widget/dev/w",
    ]


def test_stages_split_definitions_classes_and_the_rest() -> None:
    objects = [
        _obj("v1", "ConfigMap", "c", "dev"),
        _obj("storage.k8s.io/v1", "StorageClass", "fast"),
        _obj("rbac.authorization.k8s.io/v1", "ClusterRole", "reader"),
        _obj("networking.k8s.io/v1", "IngressClass", "nginx"),
        _obj("v1", "Namespace", "dev"),
    ]

    assert [_ids(stage) for stage in inventory.stages(objects)] == [
        ["Namespace/dev", "ClusterRole/reader"],
        ["StorageClass/fast", "IngressClass/nginx"],
        ["ConfigMap/dev/c"],
    ]


def test_stages_omit_empty_stages() -> None:
    assert [_ids(s) for s in inventory.stages([_obj("v1", "ConfigMap", "c", "dev")])] == [
        ["ConfigMap/dev/c"]
    ]


def test_stale_ignores_version_and_orders_for_prune() -> None:
    old = [
        inventory.Ref.of(o)
        for o in (
            _obj("v1", "Namespace", "dev"),
            _obj("apps/v1", "Deployment", "web", "dev"),
            _obj("autoscaling/v2", "HorizontalPodAutoscaler", "web", "dev"),
            _obj("v1", "ConfigMap", "gone", "dev"),
        )
    ]
    new = [inventory.Ref.of(_obj("autoscaling/v1", "HorizontalPodAutoscaler", "web", "dev"))]

    assert [str(r) for r in inventory.stale(old, new)] == [
        "Deployment/dev/web",
        "ConfigMap/dev/gone",
        "Namespace/dev",
    ]


def test_merge_keeps_survivors_once() -> None:
    a, b, c = (inventory.Ref.of(_obj("v1", "ConfigMap", n, "dev")) for n in "abc")

    assert inventory.merge([a, b], [b, c]) == [a, b, c]


def test_grown_records_new_objects_after_the_old_ones() -> None:
    a, b, c = (inventory.Ref.of(_obj("v1", "ConfigMap", n, "dev")) for n in "abc")
    assert inventory.grown([a, b], [c, a]) == [a, b, c]


@pytest.mark.parametrize(
    "desired",
    [
        [],
        [inventory.Ref.of(_obj("v1", "ConfigMap", "a", "dev"))],
        [inventory.Ref.of(_obj("v2", "ConfigMap", "a", "dev"))],
    ],
    ids=["nothing desired", "a subset", "only the version differs"],
)
def test_grown_is_none_when_nothing_new_is_desired(desired: list[inventory.Ref]) -> None:
    recorded = [inventory.Ref.of(_obj("v1", "ConfigMap", n, "dev")) for n in "ab"]
    assert inventory.grown(recorded, desired) is None


def test_cluster_definitions_are_known_by_group_and_kind() -> None:
    objects = [
        _obj("servicebus.azure.com/v1beta20210101preview", "Namespace", "bus", "dev"),
        _obj("v1", "Namespace", "dev"),
        _obj("apiextensions.k8s.io/v1", "CustomResourceDefinition", "namespaces.servicebus"),
        _obj("example.com/v1", "ClusterRole", "fake"),
    ]

    assert [_ids(stage) for stage in inventory.stages(objects)] == [
        ["CustomResourceDefinition/namespaces.servicebus", "Namespace/dev"],
        ["ClusterRole/fake", "Namespace/dev/bus"],
    ]
    refs = [inventory.Ref.of(obj) for obj in objects]
    assert [str(r) for r in refs if inventory.is_definition_ref(r)] == [
        "Namespace/dev",
        "CustomResourceDefinition/namespaces.servicebus",
    ]
    # The custom Namespace is pruned with the other objects, before its CRD.
    assert [str(r) for r in inventory.sort_for_prune(refs)][-2:] == [
        "Namespace/dev",
        "CustomResourceDefinition/namespaces.servicebus",
    ]


def test_custom_stage_kinds_come_after_classes_and_before_the_rest() -> None:
    kinds = inventory.parse_group_kinds("rbac.authorization.k8s.io/Role, ServiceAccount")
    objects = [
        _obj("v1", "ConfigMap", "c", "dev"),
        _obj("rbac.authorization.k8s.io/v1", "Role", "r", "dev"),
        _obj("v1", "ServiceAccount", "sa", "dev"),
        _obj("storage.k8s.io/v1", "StorageClass", "fast"),
        _obj("example.com/v1", "Role", "other", "dev"),
    ]

    assert kinds == {("rbac.authorization.k8s.io", "Role"), ("", "ServiceAccount")}
    assert [_ids(stage) for stage in inventory.stages(objects, custom_kinds=kinds)] == [
        ["StorageClass/fast"],
        ["ServiceAccount/dev/sa", "Role/dev/r"],
        ["Role/dev/other", "ConfigMap/dev/c"],
    ]


def test_a_malformed_custom_stage_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="invalid group/kind format: a/b/C"):
        inventory.parse_group_kinds("a/b/C")
