"""Reviews over HTTP: only POST is served, the API server's refusals, discovery and OpenAPI."""

from __future__ import annotations

import pathlib
from typing import Any

import aiohttp
import pytest

from devcluster.auth import reviews
from tests.devcluster.serializers.protobodies import capture, wire
from tests.fixtures import apihttp
from tests.fixtures import devcluster as fixtures

AUTHZ = "/apis/authorization.k8s.io/v1"
SELF_ACCESS = f"{AUTHZ}/selfsubjectaccessreviews"
LOCAL_ACCESS = f"{AUTHZ}/namespaces/team/localsubjectaccessreviews"
RULES = f"{AUTHZ}/selfsubjectrulesreviews"
WHOAMI = "/apis/authentication.k8s.io/v1/selfsubjectreviews"
PROTOBUF = {"Content-Type": "application/vnd.kubernetes.protobuf"}
FIXTURES = pathlib.Path(capture.__file__).parent
UNION = "exactly one of nonResourceAttributes or resourceAttributes must be specified"


# Every test here runs against a server without the simulated controllers.
devcluster = fixtures.bare_devcluster


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", SELF_ACCESS),
        ("GET", SELF_ACCESS + "?watch=true"),
        ("GET", SELF_ACCESS + "/mine"),
        ("PUT", SELF_ACCESS + "/mine"),
        ("PATCH", SELF_ACCESS + "/mine"),
        ("DELETE", SELF_ACCESS),
        ("DELETE", SELF_ACCESS + "/mine"),
        ("POST", SELF_ACCESS + "/mine"),
        ("GET", LOCAL_ACCESS),
        ("GET", RULES),
        ("GET", WHOAMI),
        ("GET", f"{AUTHZ}/subjectaccessreviews"),
    ],
)
async def test_only_a_post_to_the_collection_is_served(
    http: aiohttp.ClientSession, method: str, path: str
) -> None:
    async with http.request(method, path, json={}) as response:
        status = await apihttp.expect_json(response, 405)

    assert status["reason"] == "MethodNotAllowed"
    assert status["message"] == "the server does not allow this method on the requested resource"


async def test_local_review_outside_a_namespace_does_not_exist(
    http: aiohttp.ClientSession,
) -> None:
    async with http.post(f"{AUTHZ}/localsubjectaccessreviews", json={}) as response:
        assert response.status == 404


async def test_captured_protobuf_can_i_is_allowed(http: aiohttp.ClientSession) -> None:
    body = (FIXTURES / "can-i.pb").read_bytes()

    async with http.post(SELF_ACCESS, data=body, headers=PROTOBUF) as response:
        answer = await apihttp.expect_json(response, 201)

    assert answer["spec"]["resourceAttributes"]["resource"] == "deployments"
    assert answer["status"] == {"allowed": True, "reason": reviews.REASON}


async def test_yaml_review_is_allowed(http: aiohttp.ClientSession) -> None:
    text = (
        "kind: SelfSubjectAccessReview\nspec:\n  nonResourceAttributes: {path: /logs, verb: get}\n"
    )

    async with http.post(
        SELF_ACCESS, data=text, headers={"Content-Type": "application/yaml"}
    ) as response:
        answer = await apihttp.expect_json(response, 201)

    assert answer["apiVersion"] == "authorization.k8s.io/v1"
    assert answer["status"]["allowed"] is True


async def test_missing_attributes_are_422(http: aiohttp.ClientSession) -> None:
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": {},
    }

    async with http.post(SELF_ACCESS, json=review) as response:
        status = await apihttp.expect_json(response, 422)

    assert status["reason"] == "Invalid"
    assert (
        status["message"]
        == f'.authorization.k8s.io "" is invalid: spec: Invalid value: null: {UNION}'
    )
    assert status["details"]["group"] == "authorization.k8s.io"
    assert status["details"]["causes"] == [
        {"reason": "FieldValueInvalid", "message": f"Invalid value: null: {UNION}", "field": "spec"}
    ]


async def test_both_attributes_in_protobuf_are_422(http: aiohttp.ClientSession) -> None:
    spec = wire.ld(1, wire.ld(2, "get")) + wire.ld(2, wire.ld(1, "/logs") + wire.ld(2, "get"))
    body = wire.envelope(
        wire.ld(2, spec), api_version="authorization.k8s.io/v1", kind="SelfSubjectAccessReview"
    )

    async with http.post(SELF_ACCESS, data=body, headers=PROTOBUF) as response:
        status = await apihttp.expect_json(response, 422)

    assert status["details"]["causes"][0]["message"] == (
        f'Invalid value: {{"path":"/logs","verb":"get"}}: {UNION}'
    )


async def test_subject_access_review_needs_a_subject(http: aiohttp.ClientSession) -> None:
    review: dict[str, Any] = {"spec": {"resourceAttributes": {"verb": "get", "resource": "pods"}}}

    async with http.post(f"{AUTHZ}/subjectaccessreviews", json=review) as response:
        status = await apihttp.expect_json(response, 422)
    review["spec"]["user"] = "jane"
    async with http.post(f"{AUTHZ}/subjectaccessreviews", json=review) as response:
        answer = await apihttp.expect_json(response, 201)

    assert [c["field"] for c in status["details"]["causes"]] == ["spec.user"]
    assert answer["status"]["allowed"] is True


async def test_local_review_must_match_its_namespace(http: aiohttp.ClientSession) -> None:
    def review(namespace: str) -> dict[str, Any]:
        return {
            "spec": {"user": "jane", "resourceAttributes": {"namespace": namespace, "verb": "get"}}
        }

    async with http.post(LOCAL_ACCESS, json=review("team")) as response:
        allowed = await apihttp.expect_json(response, 201)
    async with http.post(LOCAL_ACCESS, json=review("other")) as response:
        invalid = await apihttp.expect_json(response, 422)
    conflicting = {**review("team"), "metadata": {"namespace": "other"}}
    async with http.post(LOCAL_ACCESS, json=conflicting) as response:
        refused = await apihttp.expect_json(response, 400)

    assert allowed["metadata"] == {"namespace": "team"}
    assert allowed["status"]["allowed"] is True
    assert invalid["details"]["causes"][0]["field"] == "spec.resourceAttributes.namespace"
    assert refused["reason"] == "BadRequest"


async def test_rules_review_needs_a_namespace(http: aiohttp.ClientSession) -> None:
    async with http.post(RULES, json={"spec": {}}) as response:
        status = await apihttp.expect_json(response, 400)
    async with http.post(RULES, json={"spec": {"namespace": "default"}}) as response:
        answer = await apihttp.expect_json(response, 201)

    assert status["message"] == "no namespace on request"
    assert answer["status"]["incomplete"] is False
    assert answer["status"]["resourceRules"] == [
        {"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}
    ]


async def test_whoami_follows_impersonation(http: aiohttp.ClientSession) -> None:
    headers = {"Impersonate-User": "jane", "Impersonate-Group": "devs"}

    async with http.post(WHOAMI, json={}) as response:
        admin = await apihttp.expect_json(response, 201)
    async with http.post(WHOAMI, json={}, headers=headers) as response:
        jane = await apihttp.expect_json(response, 201)

    assert admin["status"]["userInfo"] == {
        "username": "kubernetes-admin",
        "groups": ["system:masters", "system:authenticated"],
    }
    assert jane["status"]["userInfo"] == {
        "username": "jane",
        "groups": ["devs", "system:authenticated"],
    }


async def test_impersonating_a_group_without_a_user_is_500(http: aiohttp.ClientSession) -> None:
    async with http.post(WHOAMI, json={}, headers={"Impersonate-Group": "devs"}) as response:
        text = await response.text()
        assert response.status == 500
        assert response.content_type == "text/plain"

    assert text == (
        f'Internal Server Error: "{WHOAMI}": requested [{{Group  devs    }}] '
        "without impersonating a user\n"
    )


async def test_discovery_shows_reviews_with_create_only(http: aiohttp.ClientSession) -> None:
    async with http.get(AUTHZ) as response:
        authorization = {
            r["name"]: r for r in (await apihttp.expect_json(response, 200))["resources"]
        }
    async with http.get("/apis/authentication.k8s.io/v1") as response:
        authentication = {
            r["name"]: r for r in (await apihttp.expect_json(response, 200))["resources"]
        }
    aggregated_type = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    async with http.get("/apis", headers={"Accept": aggregated_type}) as response:
        groups = {
            g["metadata"]["name"]: g for g in (await apihttp.expect_json(response, 200))["items"]
        }

    assert set(authorization) == {
        "localsubjectaccessreviews",
        "selfsubjectaccessreviews",
        "selfsubjectrulesreviews",
        "subjectaccessreviews",
    }
    assert authorization["localsubjectaccessreviews"]["namespaced"] is True
    assert {tuple(r["verbs"]) for r in authorization.values()} == {("create",)}
    assert authentication["selfsubjectreviews"]["kind"] == "SelfSubjectReview"
    assert authentication["selfsubjectreviews"]["verbs"] == ["create"]
    served = groups["authentication.k8s.io"]["versions"][0]["resources"]
    assert [(r["resource"], r["verbs"]) for r in served] == [("selfsubjectreviews", ["create"])]


async def test_openapi_v3_has_only_the_post_of_each_review(http: aiohttp.ClientSession) -> None:
    async with http.get("/openapi/v3/apis/authorization.k8s.io/v1") as response:
        authorization = await apihttp.expect_json(response, 200)
    async with http.get("/openapi/v3/apis/authentication.k8s.io/v1") as response:
        authentication = await apihttp.expect_json(response, 200)

    assert {path: sorted(ops) for path, ops in authorization["paths"].items()} == {
        f"{AUTHZ}/namespaces/{{namespace}}/localsubjectaccessreviews": ["parameters", "post"],
        f"{AUTHZ}/selfsubjectaccessreviews": ["parameters", "post"],
        f"{AUTHZ}/selfsubjectrulesreviews": ["parameters", "post"],
        f"{AUTHZ}/subjectaccessreviews": ["parameters", "post"],
    }
    assert list(authentication["paths"]) == [WHOAMI]
    schemas = authentication["components"]["schemas"]
    assert "io.k8s.api.authentication.v1.SelfSubjectReview" in schemas
    assert "io.k8s.api.authentication.v1.UserInfo" in schemas
