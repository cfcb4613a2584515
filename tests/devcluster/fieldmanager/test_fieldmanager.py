"""Field-manager behaviour beyond the conformance table: CRDs, list merging, subresources."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from devcluster.fieldmanager import fieldmanager
from devcluster.structuredmerge import typedvalues, typeinfo
from tests.fixtures import crdbodies

NOW = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
LATER = NOW + datetime.timedelta(minutes=1)
CRD_SCHEMA = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "properties": {
                "items": crdbodies.array({"type": "string"}),
                "rules": crdbodies.array(
                    {
                        "type": "object",
                        "properties": {"name": {"type": "string"}, "v": {"type": "integer"}},
                    },
                    list_type="map",
                    map_keys=["name"],
                ),
                "ref": {
                    "type": "object",
                    "x-kubernetes-map-type": "atomic",
                    "additionalProperties": {"type": "string"},
                },
            },
        },
        "status": {"type": "object", "properties": {"phase": {"type": "string"}}},
    },
}


@pytest.fixture(scope="module")
def catalog() -> typeinfo.Catalog:
    return typeinfo.load_builtin()


@pytest.fixture(scope="module")
def widget(catalog: typeinfo.Catalog) -> typeinfo.Struct:
    return typeinfo.from_crd_schema(
        CRD_SCHEMA,
        object_meta=catalog.definition("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"),
    )


@pytest.fixture(scope="module")
def deployment(catalog: typeinfo.Catalog) -> typeinfo.Struct:
    node = catalog.object_type(group="apps", version="v1", kind="Deployment")
    assert node is not None
    return node


def cr(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w"},
        "spec": spec,
    }


def entries(obj: dict[str, Any]) -> dict[str, Any]:
    return {
        f"{e['manager']}:{e['operation']}{':' + e['subresource'] if 'subresource' in e else ''}": e
        for e in obj["metadata"].get("managedFields", [])
    }


def test_crd_atomic_list_conflicts_as_a_whole(widget: typeinfo.Struct) -> None:
    live = fieldmanager.apply(None, cr(items=["x", "y"]), manager="a", schema=widget, now=NOW)
    with pytest.raises(fieldmanager.ConflictError) as caught:
        fieldmanager.apply(live, cr(items=["x"]), manager="b", schema=widget, now=NOW)
    assert caught.value.message == 'Apply failed with 1 conflict: conflict with "a": .spec.items'


def test_crd_atomic_map_conflicts_as_a_whole(widget: typeinfo.Struct) -> None:
    live = fieldmanager.apply(None, cr(ref={"a": "1"}), manager="a", schema=widget, now=NOW)
    with pytest.raises(fieldmanager.ConflictError) as caught:
        fieldmanager.apply(live, cr(ref={"b": "1"}), manager="b", schema=widget, now=NOW)
    assert [c.get("field") for c in caught.value.causes()] == [".spec.ref"]


def test_crd_list_map_items_are_owned_separately(widget: typeinfo.Struct) -> None:
    live = fieldmanager.apply(None, cr(rules=[{"name": "r1"}]), manager="a", schema=widget, now=NOW)
    live = fieldmanager.apply(live, cr(rules=[{"name": "r2"}]), manager="b", schema=widget, now=NOW)
    assert [r["name"] for r in live["spec"]["rules"]] == ["r1", "r2"]
    bare = {k: v for k, v in cr().items() if k != "spec"}
    live = fieldmanager.apply(live, bare, manager="a", schema=widget, now=LATER)
    assert live["spec"]["rules"] == [{"name": "r2"}]
    assert list(entries(live)) == ["b:Apply"]


def test_empty_map_in_config_owns_the_field(widget: typeinfo.Struct) -> None:
    live = fieldmanager.apply(None, cr(items=["x"]), manager="b", schema=widget, now=NOW)
    live = fieldmanager.apply(live, cr(), manager="a", schema=widget, now=NOW)
    assert entries(live)["a:Apply"]["fieldsV1"] == {"f:spec": {}}
    assert live["spec"] == {"items": ["x"]}


def test_crd_create_by_update_owns_spec_itself(widget: typeinfo.Struct) -> None:
    created = fieldmanager.update(None, cr(items=["x"]), manager="u", schema=widget, now=NOW)
    assert entries(created)["u:Update"]["fieldsV1"] == {"f:spec": {".": {}, "f:items": {}}}


def test_associative_list_order_follows_structured_merge_diff(
    catalog: typeinfo.Catalog,
) -> None:
    node = catalog.definition("io.k8s.api.core.v1.PodSpec")
    assert isinstance(node, typeinfo.Struct)
    live = {"containers": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}
    merged = typedvalues.merge(live, {"containers": [{"name": "c"}, {"name": "a"}]}, node)
    assert [c["name"] for c in merged["containers"]] == ["b", "c", "a"]
    merged = typedvalues.merge(live, {"containers": [{"name": "d"}]}, node)
    assert [c["name"] for c in merged["containers"]] == ["a", "b", "c", "d"]


def _deploy(env: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d"},
        "spec": {"template": {"spec": {"containers": [{"name": "web", "image": "i", "env": env}]}}},
    }


def test_env_items_of_two_appliers_merge(deployment: typeinfo.Struct) -> None:
    e1, e2 = {"name": "E1", "value": "1"}, {"name": "E2", "value": "2"}
    live = fieldmanager.apply(None, _deploy([e1]), manager="a", schema=deployment, now=NOW)
    live = fieldmanager.apply(live, _deploy([e2]), manager="b", schema=deployment, now=NOW)
    container = live["spec"]["template"]["spec"]["containers"][0]
    assert container["env"] == [e1, e2]
    live = fieldmanager.apply(live, _deploy([]), manager="a", schema=deployment, now=LATER)
    container = live["spec"]["template"]["spec"]["containers"][0]
    assert container["env"] == [e2]
    assert container["image"] == "i"


def test_status_updates_get_their_own_entry(deployment: typeinfo.Struct) -> None:
    live = fieldmanager.apply(
        None, _deploy([]), manager="a", schema=deployment, now=NOW, status_subresource=True
    )
    with_status = {**live, "status": {"replicas": 1}}
    updated = fieldmanager.update(
        live,
        with_status,
        manager="kubelet",
        schema=deployment,
        now=LATER,
        subresource="status",
        status_subresource=True,
    )
    got = entries(updated)
    assert got["kubelet:Update:status"]["fieldsV1"] == {"f:status": {".": {}, "f:replicas": {}}}
    assert got["kubelet:Update:status"]["time"] == "2026-01-02T03:05:05Z"
    # A main-resource update does not track status (it is reset there).
    main = fieldmanager.update(
        live, with_status, manager="u", schema=deployment, now=LATER, status_subresource=True
    )
    assert "u:Update" not in entries(main)


def test_apply_to_status_ignores_spec(deployment: typeinfo.Struct) -> None:
    live = fieldmanager.apply(
        None, _deploy([]), manager="a", schema=deployment, now=NOW, status_subresource=True
    )
    body = {**_deploy([{"name": "X", "value": "1"}]), "status": {"replicas": 2}}
    out = fieldmanager.apply(
        live,
        body,
        manager="s",
        schema=deployment,
        now=LATER,
        subresource="status",
        status_subresource=True,
    )
    assert out["spec"] == live["spec"]
    assert out["status"] == {"replicas": 2}
    assert entries(out)["s:Apply:status"]["fieldsV1"] == {"f:status": {"f:replicas": {}}}


def test_unchanged_update_entry_keeps_its_time(deployment: typeinfo.Struct) -> None:
    created = fieldmanager.update(None, _deploy([]), manager="u", schema=deployment, now=NOW)
    again = fieldmanager.update(created, created, manager="u", schema=deployment, now=LATER)
    assert again["metadata"]["managedFields"] == created["metadata"]["managedFields"]


def test_duplicate_keys_in_apply_body_are_rejected(deployment: typeinfo.Struct) -> None:
    body = _deploy([{"name": "E", "value": "1"}, {"name": "E", "value": "2"}])
    with pytest.raises(fieldmanager.FieldManagerError) as caught:
        fieldmanager.apply(None, body, manager="a", schema=deployment, now=NOW)
    assert caught.value.code == 400
    assert "duplicate entries" in caught.value.message


@pytest.mark.parametrize(
    ("agent", "manager"),
    [
        ("kubectl/v1.37.0 (linux/amd64) kubernetes/abc", "kubectl"),
        ("Go-http-client/1.1", "Go-http-client"),
        (None, "unknown"),
        ("", "unknown"),
        ("a\tb/1", "ab"),
        ("x" * 200, "x" * 128),
    ],
)
def test_manager_from_user_agent(agent: str | None, manager: str) -> None:
    assert fieldmanager.manager_from_user_agent(agent) == manager


def test_manager_checks() -> None:
    fieldmanager.check_manager(None, apply=False)
    fieldmanager.check_manager("ok", apply=True)
    for bad in (None, "x" * 129, "bad\x00name"):
        with pytest.raises(fieldmanager.FieldManagerError) as caught:
            fieldmanager.check_manager(bad, apply=True)
        assert caught.value.code == 422
        assert caught.value.status()["reason"] == "Invalid"
