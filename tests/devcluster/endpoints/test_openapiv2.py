"""The ``/openapi/v2`` document: conversions, completeness, content negotiation."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from devcluster.apiextensions import crds
from devcluster.endpoints import openapiv2
from devcluster.schemas import resources
from tests.fixtures import crdbodies

DOCUMENT = openapiv2.document(resources.Registry())


def _nodes(node: Any) -> Iterator[dict[str, Any]]:
    """Every schema node below ``node`` (extension values and enums are data, not schemas)."""
    if isinstance(node, list):
        for item in node:
            yield from _nodes(item)
    elif isinstance(node, dict):
        yield node
        for key, value in node.items():
            if key == "properties":
                for child in value.values():
                    yield from _nodes(child)
            elif not key.startswith("x-") and key not in ("enum", "default", "example"):
                yield from _nodes(value)


def test_every_reference_names_a_definition_and_stands_alone() -> None:
    definitions = DOCUMENT["definitions"]
    references = [n for n in _nodes([definitions, DOCUMENT["paths"]]) if "$ref" in n]

    assert references
    for node in references:
        assert node["$ref"].removeprefix("#/definitions/") in definitions
        # kube-openapi refuses a reference with a type or properties of its own.
        assert {k for k in node if k != "$ref" and not k.startswith("x-")} <= {"description"}


def test_types_are_single_swagger_types() -> None:
    types = {n["type"] for n in _nodes(list(DOCUMENT["definitions"].values())) if "type" in n}

    assert types == {"array", "boolean", "integer", "number", "object", "string"}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "io.k8s.apimachinery.pkg.util.intstr.IntOrString",
            {"type": "string", "format": "int-or-string"},
        ),
        ("io.k8s.apimachinery.pkg.api.resource.Quantity", {"type": "string"}),
    ],
)
def test_primitive_unions_become_strings(name: str, expected: dict[str, Any]) -> None:
    assert DOCUMENT["definitions"][name] == expected


def test_served_kinds_carry_their_group_version_kind() -> None:
    deployment = DOCUMENT["definitions"]["io.k8s.api.apps.v1.Deployment"]
    strategy = DOCUMENT["definitions"]["io.k8s.api.apps.v1.DeploymentSpec"]["properties"][
        "strategy"
    ]

    assert deployment["x-kubernetes-group-version-kind"] == [
        {"group": "apps", "kind": "Deployment", "version": "v1"}
    ]
    # Extensions beside a reference survive: kubectl's v2 strategic merge reads them.
    assert strategy["x-kubernetes-patch-strategy"] == "retainKeys"


def test_paths_follow_the_verbs_each_resource_serves() -> None:
    paths = DOCUMENT["paths"]
    review = paths["/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"]
    namespaced = "/api/v1/namespaces/{namespace}/configmaps"

    assert set(review) == {"post", "parameters"}
    assert "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews/{name}" not in paths
    assert set(paths[namespaced]) == {"get", "post", "delete", "parameters"}
    assert set(paths[namespaced + "/{name}"]) == {"get", "put", "patch", "delete", "parameters"}
    assert set(paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/status"]) == {
        "get",
        "put",
        "patch",
        "parameters",
    }


CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "junctors-dropped",
        {"type": "string", "anyOf": [{"format": "a"}], "allOf": [{}], "oneOf": [{}], "not": {}},
        {"type": "string"},
    ),
    (
        "nullable-drops-type-items-properties-and-its-required-entry",
        {
            "type": "object",
            "required": ["a", "b"],
            "properties": {
                "a": {"type": "object", "nullable": True, "properties": {"x": {"type": "string"}}},
                "b": {"type": "array", "nullable": True, "items": {"type": "string"}},
                "c": {"type": "string"},
            },
        },
        {"type": "object", "properties": {"a": {}, "b": {}, "c": {"type": "string"}}},
    ),
    (
        "preserve-unknown-fields-drops-items-and-properties",
        {
            "type": "object",
            "x-kubernetes-preserve-unknown-fields": True,
            "properties": {"a": {"type": "string"}},
        },
        {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
    ),
    (
        "array-without-items-is-untyped",
        {"type": "array", "x-kubernetes-preserve-unknown-fields": True, "items": {}},
        {"x-kubernetes-preserve-unknown-fields": True},
    ),
    (
        "nullable-map-values-drop-required",
        {
            "type": "object",
            "required": ["a"],
            "additionalProperties": {"type": "string", "nullable": True},
        },
        {"type": "object", "additionalProperties": {}},
    ),
    (
        "validation-and-extensions-kept",
        {
            "type": "integer",
            "minimum": 1,
            "maximum": 9,
            "default": 3,
            "description": "d",
            "x-kubernetes-validations": [{"rule": "self > 0"}],
        },
        {
            "type": "integer",
            "minimum": 1,
            "maximum": 9,
            "default": 3,
            "description": "d",
            "x-kubernetes-validations": [{"rule": "self > 0"}],
        },
    ),
    (
        "int-or-string-stays-untyped",
        {"x-kubernetes-int-or-string": True, "anyOf": [{"type": "integer"}, {"type": "string"}]},
        {"x-kubernetes-int-or-string": True},
    ),
]


@pytest.mark.parametrize(("name", "schema", "expected"), CASES, ids=[c[0] for c in CASES])
def test_structural_schema_in_v2(name: str, schema: dict[str, Any], expected: Any) -> None:
    assert openapiv2.structural_v2(schema) == expected


def test_crd_kinds_get_definitions_and_paths() -> None:
    crd = crdbodies.crd(
        group="example.com",
        plural="gadgets",
        singular="gadget",
        kind="Gadget",
        scope="Cluster",
        schema={"type": "object"},
    )
    registry = resources.Registry()
    registry.set_crd("gadgets.example.com", crds.served_resources(crd))

    document = openapiv2.document(registry)

    gadget = document["definitions"]["com.example.v1.Gadget"]
    assert set(gadget["properties"]) == {"apiVersion", "kind", "metadata"}
    assert document["definitions"]["com.example.v1.GadgetList"]["properties"]["items"] == {
        "type": "array",
        "items": {"$ref": "#/definitions/com.example.v1.Gadget"},
    }
    assert "/apis/example.com/v1/gadgets/{name}" in document["paths"]


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, openapiv2.JSON),
        ("*/*", openapiv2.JSON),
        ("application/json", openapiv2.JSON),
        ("application/com.github.proto-openapi.spec.v2@v1.0+protobuf", openapiv2.PROTOBUF),
        ("application/com.github.proto-openapi.spec.v2.v1.0+protobuf", openapiv2.PROTOBUF),
        ("application/json;q=0.5, application/com.github.proto-openapi.spec.v2@v1.0+protobuf",
         openapiv2.PROTOBUF),
        ("*/*;q=0.1, application/json", openapiv2.JSON),
        ("application/yaml, */*;q=0.2", openapiv2.JSON),
        ("application/yaml", None),
        ("text/html", None),
        ("application/json;q=0", None),
    ],
)  # fmt: skip
def test_negotiate(accept: str | None, expected: str | None) -> None:
    assert openapiv2.negotiate(accept) == expected
