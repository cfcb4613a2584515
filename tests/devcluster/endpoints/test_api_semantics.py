"""API-server semantics over plain HTTP: versions, generation, status, watch, paging, CRDs."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp

from tests.fixtures import apihttp, crdbodies
from tests.fixtures import devcluster as fixtures

JSON = {"Content-Type": "application/json"}
MERGE = {"Content-Type": "application/merge-patch+json"}


# Every test here runs against a server without the simulated controllers.
devcluster = fixtures.bare_devcluster


async def _namespace(http: aiohttp.ClientSession, name: str) -> str:
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    async with http.post("/api/v1/namespaces", json=body) as response:
        await apihttp.expect_json(response, 201)
    return name


def _deployment(name: str, image: str = "nginx:1.27") -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": image}]},
            },
        },
    }


async def test_generation_and_status_subresource(http: aiohttp.ClientSession) -> None:
    ns = await _namespace(http, "gen")
    base = f"/apis/apps/v1/namespaces/{ns}/deployments"
    async with http.post(base, json=_deployment("d")) as response:
        created = await apihttp.expect_json(response, 201)
    assert created["metadata"]["generation"] == 1
    assert created["spec"]["replicas"] == 1  # defaulted
    label = {"metadata": {"labels": {"x": "y"}}}
    async with http.patch(f"{base}/d", data=json.dumps(label), headers=MERGE) as response:
        labelled = await apihttp.expect_json(response, 200)
    assert labelled["metadata"]["generation"] == 1
    spec = {"spec": {"replicas": 3}}
    async with http.patch(f"{base}/d", data=json.dumps(spec), headers=MERGE) as response:
        scaled = await apihttp.expect_json(response, 200)
    assert scaled["metadata"]["generation"] == 2
    status = {"status": {"replicas": 3}, "spec": {"replicas": 9}}
    async with http.patch(f"{base}/d/status", data=json.dumps(status), headers=MERGE) as response:
        after_status = await apihttp.expect_json(response, 200)
    assert after_status["status"]["replicas"] == 3
    assert after_status["spec"]["replicas"] == 3  # /status ignores spec
    assert after_status["metadata"]["generation"] == 2
    ignored = {"status": {"replicas": 7}}
    async with http.patch(f"{base}/d", data=json.dumps(ignored), headers=MERGE) as response:
        main = await apihttp.expect_json(response, 200)
    assert main["status"]["replicas"] == 3  # the main resource ignores status


async def test_optimistic_concurrency(http: aiohttp.ClientSession) -> None:
    ns = await _namespace(http, "occ")
    base = f"/api/v1/namespaces/{ns}/configmaps"
    async with http.post(base, json={"metadata": {"name": "c"}, "data": {"a": "1"}}) as response:
        created = await apihttp.expect_json(response, 201)
    stale = dict(created, data={"a": "2"})
    async with http.put(f"{base}/c", json=stale) as response:
        await apihttp.expect_json(response, 200)
    async with http.put(f"{base}/c", json=stale) as response:
        conflict = await apihttp.expect_json(response, 409)
    assert conflict["reason"] == "Conflict"
    assert "the object has been modified" in conflict["message"]
    other_uid = {"metadata": {"name": "c", "uid": "not-the-uid"}, "data": {"a": "9"}}
    async with http.put(f"{base}/c", json=other_uid) as response:
        assert "Precondition failed: UID" in (await apihttp.expect_json(response, 409))["message"]
    unconditional = {"metadata": {"name": "c"}, "data": {"a": "3"}}
    async with http.put(f"{base}/c", json=unconditional) as response:
        assert (await apihttp.expect_json(response, 200))["data"] == {"a": "3"}
    guarded = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": "1"},
        {"op": "replace", "path": "/data/a", "value": "4"},
    ]
    headers = {"Content-Type": "application/json-patch+json"}
    async with http.patch(f"{base}/c", data=json.dumps(guarded), headers=headers) as response:
        assert response.status == 422
    precondition = {"metadata": {"resourceVersion": created["metadata"]["resourceVersion"]}}
    async with http.patch(f"{base}/c", data=json.dumps(precondition), headers=MERGE) as response:
        assert (await apihttp.expect_json(response, 409))["reason"] == "Conflict"


async def test_nulls_in_builtin_objects_are_dropped(http: aiohttp.ClientSession) -> None:
    ns = await _namespace(http, "nulls")
    body = {"metadata": {"name": "c", "annotations": None}, "data": {"a": "1"}, "immutable": None}
    async with http.post(f"/api/v1/namespaces/{ns}/configmaps", json=body) as response:
        created = await apihttp.expect_json(response, 201)
    assert "annotations" not in created["metadata"]
    assert "immutable" not in created


async def test_dry_run_changes_nothing(http: aiohttp.ClientSession) -> None:
    ns = await _namespace(http, "dry")
    base = f"/api/v1/namespaces/{ns}/configmaps"
    params = {"dryRun": "All"}
    async with http.post(base, json={"metadata": {"name": "c"}}, params=params) as response:
        await apihttp.expect_json(response, 201)
    async with http.get(f"{base}/c") as response:
        assert response.status == 404
    async with http.post(base, json={"metadata": {"name": "c"}, "data": {"a": "1"}}) as response:
        created = await apihttp.expect_json(response, 201)
    body = json.dumps({"data": {"a": "2"}})
    async with http.patch(f"{base}/c", data=body, headers=MERGE, params=params) as response:
        assert (await apihttp.expect_json(response, 200))["data"] == {"a": "2"}
    async with http.delete(f"{base}/c", params=params) as response:
        await apihttp.expect_json(response, 200)
    async with http.get(f"{base}/c") as response:
        stored = await apihttp.expect_json(response, 200)
    assert stored == created


async def _events(
    http: aiohttp.ClientSession, path: str, params: dict[str, str], count: int
) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    async with http.get(path, params={"watch": "true", **params}) as response:
        assert response.status == 200
        async for line in response.content:
            events.append(json.loads(line))
            if len(events) == count:
                break
    return events


async def test_watch_initial_events_bookmark_and_selectors(http: aiohttp.ClientSession) -> None:
    ns = await _namespace(http, "wat")
    base = f"/api/v1/namespaces/{ns}/configmaps"
    for name, tier in (("a", "web"), ("b", "db")):
        body = {"metadata": {"name": name, "labels": {"tier": tier}}}
        async with http.post(base, json=body) as response:
            await apihttp.expect_json(response, 201)
    params = {
        "sendInitialEvents": "true",
        "resourceVersionMatch": "NotOlderThan",
        "allowWatchBookmarks": "true",
        "labelSelector": "tier in (web)",
    }
    events = await _events(http, base, params, 2)
    assert [(e["type"], e["object"]["metadata"].get("name")) for e in events] == [
        ("ADDED", "a"),
        ("BOOKMARK", None),
    ]
    annotations = events[1]["object"]["metadata"]["annotations"]
    assert annotations == {"k8s.io/initial-events-end": "true"}


async def test_watch_from_version_and_timeout(http: aiohttp.ClientSession) -> None:
    ns = await _namespace(http, "wat2")
    base = f"/api/v1/namespaces/{ns}/configmaps"
    async with http.get(base) as response:
        version = (await apihttp.expect_json(response, 200))["metadata"]["resourceVersion"]

    async def writes() -> None:
        for name in ("x", "y"):
            async with http.post(base, json={"metadata": {"name": name}}) as response:
                await apihttp.expect_json(response, 201)

    task = asyncio.create_task(writes())
    params = {"resourceVersion": version, "fieldSelector": "metadata.name=y"}
    events = await _events(http, base, params, 1)
    await task
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "y")]
    started = time.monotonic()
    async with http.get(base, params={"watch": "1", "timeoutSeconds": "1"}) as response:
        lines = [line async for line in response.content]
    assert time.monotonic() - started < 5
    assert [json.loads(line)["type"] for line in lines] == ["ADDED", "ADDED"]


async def test_delete_collection_by_label(http: aiohttp.ClientSession) -> None:
    ns = await _namespace(http, "coll")
    base = f"/api/v1/namespaces/{ns}/configmaps"
    for name, doomed in (("a", "yes"), ("b", "yes"), ("c", "no")):
        body = {"metadata": {"name": name, "labels": {"doomed": doomed}}}
        async with http.post(base, json=body) as response:
            await apihttp.expect_json(response, 201)
    async with http.delete(base, params={"labelSelector": "doomed=yes"}) as response:
        await apihttp.expect_json(response, 200)
    async with http.get(base) as response:
        names = [
            item["metadata"]["name"] for item in (await apihttp.expect_json(response, 200))["items"]
        ]
    assert names == ["c"]


async def test_pagination(http: aiohttp.ClientSession) -> None:
    ns = await _namespace(http, "page")
    base = f"/api/v1/namespaces/{ns}/configmaps"
    for index in range(5):
        async with http.post(base, json={"metadata": {"name": f"c{index}"}}) as response:
            await apihttp.expect_json(response, 201)
    names: list[str] = []
    token = ""
    pages = 0
    while True:
        params = {"limit": "2", **({"continue": token} if token else {})}
        async with http.get(base, params=params) as response:
            page = await apihttp.expect_json(response, 200)
        names += [item["metadata"]["name"] for item in page["items"]]
        pages += 1
        token = page["metadata"].get("continue", "")
        if not token:
            break
    assert names == [f"c{i}" for i in range(5)]
    assert pages == 3


CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
GROUP = "sem.example.com"
SIZE = {"type": "integer", "default": 1}


def _crd(plural: str, kind: str, **parts: Any) -> dict[str, Any]:
    """A cluster-scoped CRD of ``sem.example.com`` (``parts``: as ``crdbodies.crd`` takes)."""
    return crdbodies.crd(group=GROUP, plural=plural, kind=kind, scope="Cluster", **parts)


CRD = _crd(
    "gizmos", "Gizmo", categories=["all"], spec={"type": "object", "properties": {"size": SIZE}}
)


async def test_crd_lifecycle(http: aiohttp.ClientSession) -> None:
    async with http.post(CRDS, json=CRD) as response:
        created = await apihttp.expect_json(response, 201)
    conditions = {c["type"]: c["status"] for c in created["status"]["conditions"]}
    assert conditions == {"NamesAccepted": "True", "Established": "True"}
    aggregated = {"Accept": "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"}
    async with http.get("/apis", headers=aggregated) as response:
        assert response.headers["Content-Type"] == aggregated["Accept"]
        groups = [
            item["metadata"]["name"] for item in (await apihttp.expect_json(response, 200))["items"]
        ]
    assert "sem.example.com" in groups
    async with http.get("/openapi/v3") as response:
        assert "apis/sem.example.com/v1" in (await apihttp.expect_json(response, 200))["paths"]
    gizmo = {
        "apiVersion": "sem.example.com/v1",
        "kind": "Gizmo",
        "metadata": {"name": "g"},
        "spec": {},
    }
    async with http.post("/apis/sem.example.com/v1/gizmos", json=gizmo) as response:
        assert (await apihttp.expect_json(response, 201))["spec"] == {"size": 1}
    nulled = dict(gizmo, metadata={"name": "n"}, spec={"size": None})
    async with http.post("/apis/sem.example.com/v1/gizmos", json=nulled) as response:
        assert (await apihttp.expect_json(response, 201))["spec"] == {
            "size": 1
        }  # null pruned, then defaulted
    unknown = dict(gizmo, metadata={"name": "h"}, spec={"size": 2, "extra": True})
    params = {"fieldValidation": "Ignore"}
    async with http.post(
        "/apis/sem.example.com/v1/gizmos", json=unknown, params=params
    ) as response:
        assert (await apihttp.expect_json(response, 201))["spec"] == {"size": 2}  # pruned
    async with http.delete(f"{CRDS}/gizmos.sem.example.com") as response:
        await apihttp.expect_json(response, 200)
    async with http.get("/apis/sem.example.com/v1/gizmos") as response:
        assert response.status == 404
    async with http.post(CRDS, json=CRD) as response:
        await apihttp.expect_json(response, 201)
    async with http.get("/apis/sem.example.com/v1/gizmos") as response:
        assert (await apihttp.expect_json(response, 200))[
            "items"
        ] == []  # objects went with the CRD


async def test_non_structural_crd_is_422(http: aiohttp.ClientSession) -> None:
    bad = _crd("bads", "Bad", spec={"properties": {"x": {"type": "string"}}})
    async with http.post(CRDS, json=bad) as response:
        status = await apihttp.expect_json(response, 422)
    assert status["details"]["causes"]


async def test_crd_cel_rules_are_enforced(http: aiohttp.ClientSession) -> None:
    rule = {
        "rule": "!has(self.max) || self.size <= self.max",
        "message": "size must not exceed max",
    }
    properties = {"size": SIZE, "max": {"type": "integer"}}
    spec = {"type": "object", "properties": properties, "x-kubernetes-validations": [rule]}
    crd = _crd("ruled", "Ruled", spec=spec)
    async with http.post(CRDS, json=crd) as response:
        await apihttp.expect_json(response, 201)
    base = "/apis/sem.example.com/v1/ruled"
    good = {"apiVersion": "sem.example.com/v1", "kind": "Ruled", "metadata": {"name": "ok"}}
    async with http.post(base, json={**good, "spec": {"size": 2, "max": 3}}) as response:
        await apihttp.expect_json(response, 201)
    bad = {**good, "metadata": {"name": "bad"}, "spec": {"size": 5, "max": 3}}
    async with http.post(base, json=bad) as response:
        status = await apihttp.expect_json(response, 422)
    assert status["details"]["causes"][0]["field"] == "spec"
    assert "size must not exceed max" in status["message"]


async def test_crd_transition_rule_refuses_changing_an_immutable_field(
    http: aiohttp.ClientSession,
) -> None:
    immutable = [{"rule": "self == oldSelf", "message": "size is immutable"}]
    properties = {
        "size": {**SIZE, "x-kubernetes-validations": immutable},
        "note": {"type": "string"},
    }
    crd = _crd("fixeds", "Fixed", spec={"type": "object", "properties": properties})
    async with http.post(CRDS, json=crd) as response:
        await apihttp.expect_json(response, 201)
    base = "/apis/sem.example.com/v1/fixeds"
    body = {"apiVersion": "sem.example.com/v1", "kind": "Fixed", "metadata": {"name": "f"}}
    async with http.post(base, json={**body, "spec": {"size": 2}}) as response:
        await apihttp.expect_json(response, 201)
    other = json.dumps({"spec": {"note": "changed", "size": 2}})
    async with http.patch(f"{base}/f", data=other, headers=MERGE) as response:
        assert (await apihttp.expect_json(response, 200))["spec"] == {"note": "changed", "size": 2}
    resize = json.dumps({"spec": {"size": 3}})
    async with http.patch(f"{base}/f", data=resize, headers=MERGE) as response:
        status = await apihttp.expect_json(response, 422)
    assert status["details"]["causes"][0]["field"] == "spec.size"
    assert "size is immutable" in status["message"]
    async with http.get(f"{base}/f") as response:
        assert (await apihttp.expect_json(response, 200))["spec"]["size"] == 2


async def test_crd_with_kubebuilder_int_or_string_fields(http: aiohttp.ClientSession) -> None:
    int_or_string = {
        "x-kubernetes-int-or-string": True,
        "anyOf": [{"type": "integer"}, {"type": "string"}],
    }
    crd = _crd(
        "ports",
        "Port",
        spec={"type": "object", "properties": {"size": SIZE, "target": int_or_string}},
    )
    async with http.post(CRDS, json=crd) as response:
        await apihttp.expect_json(response, 201)
    base = "/apis/sem.example.com/v1/ports"
    for name, target in (("number", 8080), ("name", "http")):
        body = {"apiVersion": "sem.example.com/v1", "kind": "Port", "metadata": {"name": name}}
        async with http.post(base, json={**body, "spec": {"target": target}}) as response:
            assert (await apihttp.expect_json(response, 201))["spec"]["target"] == target
    body = {"apiVersion": "sem.example.com/v1", "kind": "Port", "metadata": {"name": "bad"}}
    async with http.post(base, json={**body, "spec": {"target": True}}) as response:
        status = await apihttp.expect_json(response, 422)
    assert status["details"]["causes"][0]["field"] == "spec.target"


async def test_null_map_values_and_list_items_decode_to_go_zero_values(
    http: aiohttp.ClientSession,
) -> None:
    ns = await _namespace(http, "zeros")
    body = {
        "metadata": {"name": "n", "labels": {"l": None}, "annotations": {"a": None}},
        "data": {"empty": None, "kept": "x"},
    }
    async with http.post(f"/api/v1/namespaces/{ns}/configmaps", json=body) as response:
        created = await apihttp.expect_json(response, 201)
    assert created["metadata"]["labels"] == {"l": ""}
    assert created["metadata"]["annotations"] == {"a": ""}
    assert created["data"] == {"empty": "", "kept": "x"}


async def test_watch_with_selector_sees_objects_enter_and_leave(
    http: aiohttp.ClientSession,
) -> None:
    ns = await _namespace(http, "wat3")
    base = f"/api/v1/namespaces/{ns}/configmaps"
    async with http.post(
        base, json={"metadata": {"name": "m", "labels": {"on": "no"}}}
    ) as response:
        version = (await apihttp.expect_json(response, 201))["metadata"]["resourceVersion"]

    async def relabel() -> None:
        for value in ("yes", "no"):
            body = json.dumps({"metadata": {"labels": {"on": value}}})
            async with http.patch(f"{base}/m", data=body, headers=MERGE) as response:
                await apihttp.expect_json(response, 200)

    task = asyncio.create_task(relabel())
    events = await _events(http, base, {"resourceVersion": version, "labelSelector": "on=yes"}, 2)
    await task
    assert [e["type"] for e in events] == ["ADDED", "DELETED"]


async def test_generation_of_custom_objects_without_status_subresource(
    http: aiohttp.ClientSession,
) -> None:
    crd = _crd(
        "plain",
        "Plain",
        spec={"type": "object", "properties": {"size": SIZE}},
        status={"type": "object", "x-kubernetes-preserve-unknown-fields": True},
    )
    async with http.post(CRDS, json=crd) as response:
        await apihttp.expect_json(response, 201)
    body = {"apiVersion": "sem.example.com/v1", "kind": "Plain", "metadata": {"name": "p"}}
    base = "/apis/sem.example.com/v1/plain"
    async with http.post(base, json={**body, "spec": {}, "status": {"x": 1}}) as response:
        created = await apihttp.expect_json(response, 201)
    assert created["status"] == {"x": 1}  # no status subresource: status is written as sent
    patch = json.dumps({"status": {"x": 2}})
    async with http.patch(f"{base}/p", data=patch, headers=MERGE) as response:
        assert (await apihttp.expect_json(response, 200))["metadata"]["generation"] == 2


async def test_list_resource_version_semantics(http: aiohttp.ClientSession) -> None:
    base = "/api/v1/namespaces/default/configmaps"
    async with http.get(base) as response:
        current = int((await apihttp.expect_json(response, 200))["metadata"]["resourceVersion"])
    params = {"resourceVersion": str(current), "resourceVersionMatch": "NotOlderThan"}
    async with http.get(base, params=params) as response:
        await apihttp.expect_json(response, 200)
    async with http.get(base, params={"resourceVersion": str(current + 1000)}) as response:
        assert (await apihttp.expect_json(response, 504))["reason"] == "Timeout"
    exact = {"resourceVersion": "1", "resourceVersionMatch": "Exact"}
    async with http.get(base, params=exact) as response:
        assert (await apihttp.expect_json(response, 410))["reason"] == "Expired"


async def test_access_reviews_are_allowed_and_not_stored(http: aiohttp.ClientSession) -> None:
    base = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": {"verb": "get", "resource": "pods"}},
    }
    async with http.post(base, json=review) as response:
        answer = await apihttp.expect_json(response, 201)
    assert answer["status"]["allowed"] is True
    assert answer["spec"] == review["spec"]
    async with http.get(base) as response:
        assert response.status == 405


async def test_services_get_cluster_ips_and_node_ports(http: aiohttp.ClientSession) -> None:
    ns = await _namespace(http, "svc")
    base = f"/api/v1/namespaces/{ns}/services"
    made = []
    for name, kind in (("a", "ClusterIP"), ("b", "NodePort")):
        body = {"metadata": {"name": name}, "spec": {"type": kind, "ports": [{"port": 80}]}}
        async with http.post(base, json=body) as response:
            made.append((await apihttp.expect_json(response, 201))["spec"])
    assert made[0]["clusterIP"] != made[1]["clusterIP"]
    assert made[0]["clusterIPs"] == [made[0]["clusterIP"]]
    assert 30000 <= made[1]["ports"][0]["nodePort"] <= 32767
    replaced = {"metadata": {"name": "a"}, "spec": {"ports": [{"port": 81}]}}
    async with http.put(f"{base}/a", json=replaced) as response:
        assert (await apihttp.expect_json(response, 200))["spec"]["clusterIP"] == made[0][
            "clusterIP"
        ]


async def test_immutable_fields_are_422(http: aiohttp.ClientSession) -> None:
    ns = await _namespace(http, "immut")
    deployments = f"/apis/apps/v1/namespaces/{ns}/deployments"
    async with http.post(deployments, json=_deployment("d")) as response:
        await apihttp.expect_json(response, 201)
    moved = json.dumps({"spec": {"selector": {"matchLabels": {"app": "other"}}}})
    async with http.patch(f"{deployments}/d", data=moved, headers=MERGE) as response:
        status = await apihttp.expect_json(response, 422)
    # As kube-apiserver: the selector no longer matches the labels, and is immutable.
    fields = [cause["field"] for cause in status["details"]["causes"]]
    assert fields == ["spec.template.metadata.labels", "spec.selector"]
    assert "field is immutable" in status["message"]
    scaled = json.dumps({"spec": {"replicas": 2}})
    async with http.patch(f"{deployments}/d", data=scaled, headers=MERGE) as response:
        await apihttp.expect_json(response, 200)
    configmaps = f"/api/v1/namespaces/{ns}/configmaps"
    frozen = {"metadata": {"name": "f"}, "data": {"a": "1"}, "immutable": True}
    async with http.post(configmaps, json=frozen) as response:
        await apihttp.expect_json(response, 201)
    change = json.dumps({"data": {"a": "2"}})
    async with http.patch(f"{configmaps}/f", data=change, headers=MERGE) as response:
        assert "immutable" in (await apihttp.expect_json(response, 422))["message"]
    relabel = json.dumps({"metadata": {"labels": {"x": "y"}}})
    async with http.patch(f"{configmaps}/f", data=relabel, headers=MERGE) as response:
        await apihttp.expect_json(response, 200)
