"""Acceptance: bad input gets the right Status error and the server keeps serving."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from tests.fixtures import crdbodies

CRD = crdbodies.crd(
    group="bad.example.com",
    plural="probes",
    singular="probe",
    kind="Probe",
    spec={
        "type": "object",
        "required": ["target"],
        "properties": {
            "target": {"type": "string", "minLength": 1},
            "port": {"type": "integer", "minimum": 1, "maximum": 65535},
            "mode": {"type": "string", "enum": ["tcp", "http"]},
        },
    },
)
CMS = "/api/v1/namespaces/default/configmaps"


async def _status(response: aiohttp.ClientResponse) -> dict[str, Any]:
    body: dict[str, Any] = await response.json(content_type=None)
    assert body["kind"] == "Status"
    assert body["status"] == "Failure"
    assert body["code"] == response.status
    return body


async def _still_serving(http: aiohttp.ClientSession) -> None:
    async with http.get("/version") as response:
        assert response.status == 200


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", b'{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {'),
        ("application/yaml", b"apiVersion: v1\nkind: ConfigMap\nmetadata: [unclosed\n  name: x"),
        ("application/yaml", b"apiVersion: v1\nkind: ConfigMap\n{a: 1}: mapping as a key\n"),
        ("application/yaml", b"apiVersion: v1\nkind: ConfigMap\ndata: 0b_\n"),
    ],
)
async def test_malformed_body_is_400(
    http: aiohttp.ClientSession, content_type: str, body: bytes
) -> None:
    async with http.post(CMS, data=body, headers={"Content-Type": content_type}) as response:
        assert response.status == 400
        assert (await _status(response))["reason"] == "BadRequest"
    await _still_serving(http)


async def test_malformed_apply_patch_is_400(http: aiohttp.ClientSession) -> None:
    headers = {"Content-Type": "application/apply-patch+yaml"}
    async with http.patch(
        f"{CMS}/x", params={"fieldManager": "t"}, data=b"a: [b\n", headers=headers
    ) as response:
        assert response.status == 400
    await _still_serving(http)


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/namespaces/default/nothings",
        "/apis/nowhere.example.com/v1/things",
        "/apis/apps/v9/deployments",
    ],
)
async def test_unknown_resource_is_404(http: aiohttp.ClientSession, path: str) -> None:
    async with http.get(path) as response:
        assert response.status == 404
        assert (await _status(response))["reason"] == "NotFound"


async def test_invalid_name_is_422(http: aiohttp.ClientSession) -> None:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "Not_Valid!"}}
    async with http.post(CMS, json=body) as response:
        assert response.status == 422
        status = await _status(response)
    assert status["reason"] == "Invalid"
    assert status["details"]["causes"][0]["field"] == "metadata.name"
    assert "RFC 1123" in status["message"]
    await _still_serving(http)


async def test_body_over_3_mib_is_413(http: aiohttp.ClientSession) -> None:
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "huge"},
        "data": {"k": "x" * (3 * 1024 * 1024 + 10)},
    }
    async with http.post(
        CMS, data=json.dumps(body), headers={"Content-Type": "application/json"}
    ) as response:
        assert response.status == 413
        assert (await _status(response))["reason"] == "RequestEntityTooLarge"
    await _still_serving(http)
    async with http.get(f"{CMS}/huge") as response:
        assert response.status == 404


async def test_schema_violations_are_422_listing_each_field(http: aiohttp.ClientSession) -> None:
    async with http.post(
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", json=CRD
    ) as response:
        assert response.status in (201, 409), await response.text()
    bad = {
        "apiVersion": "bad.example.com/v1",
        "kind": "Probe",
        "metadata": {"name": "p"},
        "spec": {"port": 70000, "mode": "udp"},
    }
    async with http.post(
        "/apis/bad.example.com/v1/namespaces/default/probes", json=bad
    ) as response:
        assert response.status == 422
        status = await _status(response)
    fields = sorted(cause["field"] for cause in status["details"]["causes"])
    assert fields == ["spec.mode", "spec.port", "spec.target"]
    for field in fields:
        assert field in status["message"]
    assert status["details"]["kind"] == "Probe"
    assert status["details"]["group"] == "bad.example.com"
    await _still_serving(http)


async def test_wrong_type_in_builtin_is_400(http: aiohttp.ClientSession) -> None:
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "typed"},
        "data": {"n": 5},
    }
    async with http.post(CMS, json=body) as response:
        assert response.status == 400
        assert "data" in (await _status(response))["message"]


async def test_unsupported_media_type_is_415(http: aiohttp.ClientSession) -> None:
    async with http.patch(
        f"{CMS}/x", data=b"{}", headers={"Content-Type": "text/plain"}
    ) as response:
        assert response.status == 415


async def test_namespace_mismatch_is_400_and_missing_namespace_404(
    http: aiohttp.ClientSession,
) -> None:
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "m", "namespace": "other"},
    }
    async with http.post(CMS, json=body) as response:
        assert response.status == 400
    async with http.post(
        "/api/v1/namespaces/absent/configmaps", json={"metadata": {"name": "m"}}
    ) as response:
        assert response.status == 404
        assert (await _status(response))["details"]["kind"] == "namespaces"


async def test_strict_field_validation_lists_unknown_fields(http: aiohttp.ClientSession) -> None:
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "strict"},
        "bogus": 1,
        "data": {"a": "b"},
    }
    async with http.post(CMS, json=body, params={"fieldValidation": "Strict"}) as response:
        assert response.status == 400
        assert 'unknown field "bogus"' in (await _status(response))["message"]
    async with http.post(CMS, json=body, params={"fieldValidation": "Warn"}) as response:
        assert response.status == 201
        assert response.headers.get("Warning") == '299 - "unknown field \\"bogus\\""'


async def test_strict_field_validation_lists_duplicate_fields(
    http: aiohttp.ClientSession,
) -> None:
    raw = (
        b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"dup"},"data":{"a":"1","a":"2"}}'
    )
    headers = {"Content-Type": "application/json"}
    strict = {"fieldValidation": "Strict"}
    async with http.post(CMS, data=raw, headers=headers, params=strict) as response:
        assert response.status == 400
        assert 'duplicate field "a"' in (await _status(response))["message"]
    yaml_body = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: dupy\n  name: dupy\n"
    yaml_headers = {"Content-Type": "application/yaml"}
    async with http.post(CMS, data=yaml_body, headers=yaml_headers, params=strict) as response:
        assert response.status == 400
    async with http.post(CMS, data=raw, headers=headers) as response:
        assert response.status == 201
        assert response.headers.get("Warning") == '299 - "duplicate field \\"a\\""'


async def test_invalid_labels_are_422(http: aiohttp.ClientSession) -> None:
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "labelled", "labels": {"bad key!": "x", "ok": "not valid value"}},
    }
    async with http.post(CMS, json=body) as response:
        assert response.status == 422
        status = await _status(response)
    assert [c["field"] for c in status["details"]["causes"]] == ["metadata.labels"] * 2
