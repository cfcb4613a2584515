"""Schema type information from kubernetes-validate and from CRD schemas."""

from __future__ import annotations

import pytest

from devcluster.structuredmerge import typeinfo
from tests.fixtures import crdbodies


@pytest.fixture(scope="module")
def catalog() -> typeinfo.Catalog:
    return typeinfo.load_builtin()


def _pod_spec(catalog: typeinfo.Catalog) -> typeinfo.Struct:
    node = catalog.definition("io.k8s.api.core.v1.PodSpec")
    assert isinstance(node, typeinfo.Struct)
    return node


def test_builtin_kinds_are_indexed_by_gvk(catalog: typeinfo.Catalog) -> None:
    kinds = catalog.kinds()
    assert ("apps", "v1", "Deployment") in kinds
    assert ("", "v1", "ConfigMap") in kinds
    assert catalog.object_type(group="apps", version="v1", kind="Nope") is None
    deployment = catalog.object_type(group="apps", version="v1", kind="Deployment")
    assert deployment is not None
    assert isinstance(deployment.field("spec"), typeinfo.Struct)
    assert deployment.field("nope") is None


def test_list_kinds_keys_and_defaults(catalog: typeinfo.Catalog) -> None:
    containers = _pod_spec(catalog).field("containers")
    assert isinstance(containers, typeinfo.ListType)
    assert (containers.kind, containers.keys) == ("map", ("name",))
    assert containers.patch_strategy == "merge"
    assert containers.patch_merge_key == "name"
    item = containers.items
    assert isinstance(item, typeinfo.Struct)
    ports = item.field("ports")
    assert isinstance(ports, typeinfo.ListType)
    assert ports.keys == ("containerPort", "protocol")
    assert dict(ports.key_defaults) == {"protocol": "TCP"}
    args = item.field("args")
    assert isinstance(args, typeinfo.ListType)
    assert args.kind == "atomic"
    assert isinstance(item.field("env"), typeinfo.ListType)


def test_atomic_structs_maps_and_scalars(catalog: typeinfo.Catalog) -> None:
    deployment = catalog.object_type(group="apps", version="v1", kind="Deployment")
    assert deployment is not None
    spec = deployment.field("spec")
    assert isinstance(spec, typeinfo.Struct)
    selector = spec.field("selector")
    assert isinstance(selector, typeinfo.Struct)
    assert selector.atomic
    strategy = spec.field("strategy")
    assert strategy is not None
    assert strategy.patch_strategy == "retainKeys"
    meta = deployment.field("metadata")
    assert isinstance(meta, typeinfo.Struct)
    labels = meta.field("labels")
    assert isinstance(labels, typeinfo.MapType)
    assert not labels.atomic
    finalizers = meta.field("finalizers")
    assert isinstance(finalizers, typeinfo.ListType)
    assert finalizers.kind == "set"
    owners = meta.field("ownerReferences")
    assert isinstance(owners, typeinfo.ListType)
    assert owners.keys == ("uid",)
    port = catalog.definition("io.k8s.api.core.v1.ServicePort")
    assert isinstance(port, typeinfo.Struct)
    assert isinstance(port.field("targetPort"), typeinfo.Scalar)  # IntOrString


def test_crd_schema(catalog: typeinfo.Catalog) -> None:
    schema = {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "properties": {
                    "items": crdbodies.array({"type": "string"}),
                    "tags": crdbodies.array({"type": "string"}, list_type="set"),
                    "rules": crdbodies.array(
                        {"type": "object", "properties": {"name": {"type": "string"}}},
                        list_type="map",
                        map_keys=["name"],
                    ),
                    "env": {"type": "object", "additionalProperties": {"type": "string"}},
                    "ref": {
                        "type": "object",
                        "x-kubernetes-map-type": "atomic",
                        "properties": {"name": {"type": "string"}},
                    },
                    "port": {"x-kubernetes-int-or-string": True},
                    "raw": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                },
            }
        },
    }
    meta = catalog.definition("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta")
    top = typeinfo.from_crd_schema(schema, object_meta=meta)
    assert top.field("metadata") is meta
    assert isinstance(top.field("apiVersion"), typeinfo.Scalar)
    spec = top.field("spec")
    assert isinstance(spec, typeinfo.Struct)
    kinds = {}
    for name in ("items", "tags", "rules"):
        node = spec.field(name)
        assert isinstance(node, typeinfo.ListType)
        kinds[name] = (node.kind, node.keys)
    assert kinds == {"items": ("atomic", ()), "tags": ("set", ()), "rules": ("map", ("name",))}
    assert isinstance(spec.field("env"), typeinfo.MapType)
    ref = spec.field("ref")
    assert isinstance(ref, typeinfo.Struct)
    assert ref.atomic
    assert isinstance(spec.field("port"), typeinfo.Scalar)
    assert isinstance(spec.field("raw"), typeinfo.Untyped)
