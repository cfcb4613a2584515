"""``/openapi/v2`` with the real kubectl: ``kind: List`` files, client-side validation, explain.

kubectl validates a ``kind: List`` on the client with the OpenAPI v2 document
(the v3 documents have no PATCH operation for List's GVK, so it cannot leave
validation to the server), fetched as gnostic protobuf; without the document
every ``apply|create -f`` of a List fails.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from tests.fixtures import crdbodies
from tests.fixtures import devcluster as fixtures

Devcluster = fixtures.Devcluster
PROTOBUF_ACCEPT = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"


def _list(*items: dict[str, Any]) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": list(items)})


def _config_map(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name},
        "data": {"k": name},
        **extra,
    }


def _deployment(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
            },
        },
    }


LIST = _list(_config_map("one"), _config_map("two"), _deployment("web"))


def _names(devcluster: Devcluster, namespace: str) -> set[str]:
    out = devcluster.kubectl("get", "configmaps,deployments", "-n", namespace, "-o", "json")
    return {item["metadata"]["name"] for item in json.loads(out.stdout)["items"]} - {
        "kube-root-ca.crt"
    }


@pytest.mark.parametrize(
    ("args", "verb"),
    [
        (("apply",), "created"),
        (("apply", "--server-side"), "serverside-applied"),
        (("create",), "created"),
    ],
    ids=["apply", "apply-server-side", "create"],
)
def test_list_file_creates_every_item(
    devcluster: Devcluster, namespace: str, args: tuple[str, ...], verb: str
) -> None:
    result = devcluster.kubectl(*args, "-n", namespace, "-f", "-", input=LIST)

    assert result.stdout.splitlines() == [
        f"configmap/one {verb}",
        f"configmap/two {verb}",
        f"deployment.apps/web {verb}",
    ]
    assert _names(devcluster, namespace) == {"one", "two", "web"}


def test_client_side_apply_of_a_list_is_idempotent(devcluster: Devcluster, namespace: str) -> None:
    devcluster.kubectl("apply", "-n", namespace, "-f", "-", input=LIST)

    again = devcluster.kubectl("apply", "-n", namespace, "-f", "-", input=LIST)

    assert again.stdout.splitlines() == [
        "configmap/one unchanged",
        "configmap/two unchanged",
        "deployment.apps/web unchanged",
    ]


def test_unknown_field_in_a_list_item_is_reported_and_nothing_created(
    devcluster: Devcluster, namespace: str
) -> None:
    bad = _list(_config_map("good"), _config_map("bad", bogus=1))

    result = devcluster.kubectl("apply", "-n", namespace, "-f", "-", input=bad, check=False)

    assert result.returncode == 1
    # What kubectl prints against a real API server: its own v2 validation.
    assert result.stderr.strip() == (
        'error: error validating "STDIN": error validating data: ValidationError(ConfigMap): '
        'unknown field "bogus" in io.k8s.api.core.v1.ConfigMap; if you choose to ignore these '
        "errors, turn validation off with --validate=false"
    )
    assert _names(devcluster, namespace) == set()


def test_nested_unknown_field_and_validate_false(devcluster: Devcluster, namespace: str) -> None:
    deployment = _deployment("web")
    deployment["spec"]["template"]["spec"]["containers"][0]["extra"] = "x"
    bad = _list(deployment)

    refused = devcluster.kubectl("create", "-n", namespace, "-f", "-", input=bad, check=False)
    accepted = devcluster.kubectl(
        "create", "-n", namespace, "-f", "-", "--validate=false", input=bad
    )

    assert (
        'ValidationError(Deployment.spec.template.spec.containers[0]): unknown field "extra" in '
        "io.k8s.api.core.v1.Container" in refused.stderr
    )
    assert accepted.stdout.strip() == "deployment.apps/web created"


def test_explain_with_the_v2_document(devcluster: Devcluster) -> None:
    out = devcluster.kubectl(
        "explain", "deployment.spec", "--output=plaintext-openapiv2"
    ).stdout.splitlines()

    assert out[:4] == ["KIND:     Deployment", "VERSION:  apps/v1", "", "RESOURCE: spec <Object>"]
    assert "   replicas\t<integer>" in out
    assert "   selector\t<Object> -required-" in out
    surge = devcluster.kubectl(
        "explain",
        "deployment.spec.strategy.rollingUpdate.maxSurge",
        "--output=plaintext-openapiv2",
    ).stdout
    # IntOrString is a string in v2, as the API server publishes it.
    assert "FIELD:    maxSurge <string>" in surge


GADGETS = crdbodies.crd(
    group="v2.example.com",
    plural="gadgets",
    singular="gadget",
    kind="Gadget",
    spec={
        "type": "object",
        "required": ["size"],
        "properties": {
            "size": {"type": "integer", "minimum": 1},
            "port": {"x-kubernetes-int-or-string": True},
            "note": {"type": "string", "nullable": True},
            "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        },
    },
)


async def _document(http: aiohttp.ClientSession) -> dict[str, Any]:
    async with http.get("/openapi/v2", headers={"Accept": "application/json"}) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "application/json"
        document: dict[str, Any] = json.loads(await response.read())
    return document


async def test_json_document_has_builtin_definitions_and_paths(
    http: aiohttp.ClientSession,
) -> None:
    document = await _document(http)

    assert document["swagger"] == "2.0"
    config_map = document["definitions"]["io.k8s.api.core.v1.ConfigMap"]
    assert config_map["x-kubernetes-group-version-kind"] == [
        {"group": "", "kind": "ConfigMap", "version": "v1"}
    ]
    assert config_map["properties"]["metadata"]["$ref"] == (
        "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    )
    patch = document["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {
        "group": "apps",
        "version": "v1",
        "kind": "Deployment",
    }
    assert {"dryRun", "fieldManager", "fieldValidation", "force"} <= {
        p["name"] for p in patch["parameters"]
    }


async def test_document_follows_crds(
    devcluster: Devcluster, namespace: str, http: aiohttp.ClientSession
) -> None:
    before = await _document(http)
    assert "com.example.v2.v1.Gadget" not in before["definitions"]

    devcluster.kubectl("apply", "-f", "-", input=json.dumps(GADGETS))
    devcluster.kubectl(
        "wait", "--for=condition=Established", "crd/gadgets.v2.example.com", "--timeout=30s"
    )
    after = await _document(http)

    gadget = after["definitions"]["com.example.v2.v1.Gadget"]
    assert gadget["x-kubernetes-group-version-kind"] == [
        {"group": "v2.example.com", "version": "v1", "kind": "Gadget"}
    ]
    spec = gadget["properties"]["spec"]["properties"]
    # Converted as the API server converts structural schemas for v2.
    assert spec["note"] == {}
    assert spec["port"] == {"x-kubernetes-int-or-string": True}
    assert spec["size"] == {"type": "integer", "minimum": 1}
    assert "/apis/v2.example.com/v1/namespaces/{namespace}/gadgets/{name}" in after["paths"]
    # kubectl sees the new kind in its own validation of a List.
    items = [
        {
            "apiVersion": "v2.example.com/v1",
            "kind": "Gadget",
            "metadata": {"name": "g1"},
            "spec": {"size": 2, "port": "http", "note": None, "extra": {"a": {"b": 1}}},
        },
        {
            "apiVersion": "v2.example.com/v1",
            "kind": "Gadget",
            "metadata": {"name": "g2"},
            "spec": {"size": 2, "colour": "red"},
        },
    ]
    refused = devcluster.kubectl(
        "apply", "-n", namespace, "-f", "-", input=_list(*items), check=False
    )
    assert (
        'ValidationError(Gadget.spec): unknown field "colour" in com.example.v2.v1.Gadget.spec'
        in refused.stderr
    )
    created = devcluster.kubectl("apply", "-n", namespace, "-f", "-", input=_list(items[0]))
    assert created.stdout.strip() == "gadget.v2.example.com/g1 created"

    devcluster.kubectl("delete", "crd", "gadgets.v2.example.com")
    gone = await _document(http)
    assert "com.example.v2.v1.Gadget" not in gone["definitions"]


async def test_protobuf_form_etag_and_negotiation(http: aiohttp.ClientSession) -> None:
    async with http.get("/openapi/v2", headers={"Accept": PROTOBUF_ACCEPT}) as response:
        assert response.status == 200
        # NB: the dotted spelling: Go's mime parser refuses "@" in a Content-Type.
        assert response.headers["Content-Type"] == (
            "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
        )
        body = await response.read()
        etag = response.headers["ETag"]
    # openapi.v2.Document field 1 (swagger) = "2.0" comes first.
    assert body.startswith(b"\x0a\x032.0")

    headers = {"Accept": PROTOBUF_ACCEPT, "If-None-Match": etag}
    async with http.get("/openapi/v2", headers=headers) as response:
        assert response.status == 304
    async with http.get("/openapi/v2", headers={"Accept": "application/yaml"}) as response:
        assert response.status == 406
