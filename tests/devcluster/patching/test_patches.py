"""JSON merge patch, JSON patch and strategic merge patch."""

from __future__ import annotations

from typing import Any

import pytest

from devcluster.patching import patches
from devcluster.structuredmerge import typeinfo


@pytest.fixture(scope="module")
def catalog() -> typeinfo.Catalog:
    return typeinfo.load_builtin()


@pytest.fixture(scope="module")
def deployment(catalog: typeinfo.Catalog) -> typeinfo.Struct:
    node = catalog.object_type(group="apps", version="v1", kind="Deployment")
    assert node is not None
    return node


# --- RFC 7386 ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "patch", "result"),
    [  # the examples of RFC 7386 appendix A
        ({"a": "b"}, {"a": "c"}, {"a": "c"}),
        ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
        ({"a": "b"}, {"a": None}, {}),
        ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
        ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
        ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
        ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
        ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
        (["a", "b"], ["c", "d"], ["c", "d"]),
        ({"a": "b"}, ["c"], ["c"]),
        ({"a": "foo"}, None, None),
        ({"a": "foo"}, "bar", "bar"),
        ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
        ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
        ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
    ],
)
def test_merge_patch_rfc_examples(target: Any, patch: Any, result: Any) -> None:
    assert patches.merge_patch(target, patch) == result


def test_merge_patch_does_not_mutate() -> None:
    target = {"a": {"b": 1}}
    patches.merge_patch(target, {"a": {"b": 2}})
    assert target == {"a": {"b": 1}}


# --- RFC 6902 ----------------------------------------------------------------


def test_json_patch_operations() -> None:
    doc = {"metadata": {"labels": {"a/b": "1"}}, "list": [1, 2]}
    ops = [
        {"op": "add", "path": "/list/-", "value": 3},
        {"op": "add", "path": "/list/0", "value": 0},
        {"op": "replace", "path": "/metadata/labels/a~1b", "value": "2"},
        {"op": "copy", "from": "/list", "path": "/copy"},
        {"op": "move", "from": "/copy/0", "path": "/first"},
        {"op": "remove", "path": "/list/1"},
        {"op": "test", "path": "/first", "value": 0},
        {"op": "add", "path": "/metadata/annotations", "value": {"~x": "y"}},
        {"op": "test", "path": "/metadata/annotations/~0x", "value": "y"},
    ]
    assert patches.json_patch(doc, ops) == {
        "metadata": {"labels": {"a/b": "2"}, "annotations": {"~x": "y"}},
        "list": [0, 2, 3],
        "copy": [1, 2, 3],
        "first": 0,
    }
    assert doc == {"metadata": {"labels": {"a/b": "1"}}, "list": [1, 2]}


@pytest.mark.parametrize(
    "ops",
    [
        [{"op": "test", "path": "/a", "value": 2}],
        [{"op": "test", "path": "/a", "value": True}],
        [{"op": "remove", "path": "/missing"}],
        [{"op": "replace", "path": "/missing", "value": 1}],
        [{"op": "add", "path": "/x/y", "value": 1}],
        [{"op": "add", "path": "/l/5", "value": 1}],
    ],
)
def test_json_patch_apply_errors(ops: list[dict[str, Any]]) -> None:
    with pytest.raises(patches.PatchApplyError):
        patches.json_patch({"a": 1, "l": []}, ops)


@pytest.mark.parametrize(
    "ops",
    [{"op": "add"}, [{"op": "frobnicate", "path": "/a"}], [{"op": "add", "path": "/a"}], ["x"]],
)
def test_json_patch_malformed(ops: Any) -> None:
    with pytest.raises(patches.MalformedPatchError):
        patches.json_patch({"a": 1}, ops)


# --- strategic merge patch ------------------------------------------------------


def _deploy(containers: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d", "finalizers": ["a"]},
        "spec": {"template": {"spec": {"containers": containers}}, **spec},
    }


def _containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = obj["spec"]["template"]["spec"]["containers"]
    return result


def test_smp_merges_containers_by_name(deployment: typeinfo.Struct) -> None:
    live = _deploy([{"name": "a", "image": "1"}, {"name": "b", "image": "1"}])
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "b", "image": "2"}]}}}}
    out = patches.strategic_merge_patch(live, patch, schema=deployment)
    assert _containers(out) == [{"name": "a", "image": "1"}, {"name": "b", "image": "2"}]
    assert _containers(live)[1]["image"] == "1"


def test_smp_delete_directive_in_list(deployment: typeinfo.Struct) -> None:
    live = _deploy([{"name": "a", "image": "1"}, {"name": "b", "image": "1"}])
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "a", "$patch": "delete"}]}}}}
    out = patches.strategic_merge_patch(live, patch, schema=deployment)
    assert _containers(out) == [{"name": "b", "image": "1"}]


def test_smp_replace_directive_in_list_and_map(deployment: typeinfo.Struct) -> None:
    live = _deploy([{"name": "a", "image": "1"}], strategy={"type": "Recreate"})
    patch = {
        "spec": {
            "template": {
                "spec": {"containers": [{"name": "c", "image": "3"}, {"$patch": "replace"}]}
            },
            "selector": {"$patch": "replace", "matchLabels": {"x": "y"}},
        }
    }
    out = patches.strategic_merge_patch(live, patch, schema=deployment)
    assert _containers(out) == [{"name": "c", "image": "3"}]
    assert out["spec"]["selector"] == {"matchLabels": {"x": "y"}}


def test_smp_retain_keys_on_strategy(deployment: typeinfo.Struct) -> None:
    live = _deploy([], strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}})
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}
    out = patches.strategic_merge_patch(live, patch, schema=deployment)
    assert out["spec"]["strategy"] == {"type": "Recreate"}


def test_smp_primitive_set_list_merges_and_deletes(deployment: typeinfo.Struct) -> None:
    live = _deploy([])
    live["metadata"]["finalizers"] = ["a", "b"]
    out = patches.strategic_merge_patch(
        live,
        {"metadata": {"finalizers": ["c", "a"], "$deleteFromPrimitiveList/finalizers": ["b"]}},
        schema=deployment,
    )
    assert out["metadata"]["finalizers"] == ["a", "c"]


def test_smp_set_element_order(deployment: typeinfo.Struct) -> None:
    live = _deploy([{"name": "a"}, {"name": "b"}])
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "b"}, {"name": "a"}],
                    "containers": [{"name": "a", "image": "x"}],
                }
            }
        }
    }
    out = patches.strategic_merge_patch(live, patch, schema=deployment)
    assert _containers(out) == [{"name": "b"}, {"name": "a", "image": "x"}]


def test_smp_null_deletes_and_atomic_lists_replace(deployment: typeinfo.Struct) -> None:
    live = _deploy([{"name": "a", "args": ["1", "2"], "workingDir": "/w"}])
    patch = {
        "spec": {
            "template": {"spec": {"containers": [{"name": "a", "args": ["3"], "workingDir": None}]}}
        }
    }
    out = patches.strategic_merge_patch(live, patch, schema=deployment)
    assert _containers(out) == [{"name": "a", "args": ["3"]}]


def test_smp_untyped_lists_replace() -> None:
    schema = typeinfo.from_crd_schema(
        {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    )
    out = patches.strategic_merge_patch(
        {"spec": {"l": [1, 2], "m": {"a": 1}}},
        {"spec": {"l": [3], "m": {"b": 2}}},
        schema=schema,
    )
    assert out == {"spec": {"l": [3], "m": {"a": 1, "b": 2}}}


def test_smp_bad_directive(deployment: typeinfo.Struct) -> None:
    with pytest.raises(patches.MalformedPatchError):
        patches.strategic_merge_patch(
            _deploy([]), {"spec": {"$patch": "explode"}}, schema=deployment
        )
    with pytest.raises(patches.MalformedPatchError):
        patches.strategic_merge_patch(
            _deploy([]),
            {"spec": {"template": {"spec": {"containers": [{"image": "no-name"}]}}}},
            schema=deployment,
        )
