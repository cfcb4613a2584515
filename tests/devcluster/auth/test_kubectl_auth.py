"""``kubectl auth can-i`` and ``kubectl auth whoami`` against the devcluster.

kubectl 1.37 posts protobuf SelfSubjectAccessReviews (``--list``: a
SelfSubjectRulesReview) and SelfSubjectReviews; the devcluster authorizes
everything, so every question is answered ``yes``, and ``whoami`` names the
fixed admin user or whom ``--as`` impersonates.
"""

from __future__ import annotations

import json

import pytest
import yaml

from tests.fixtures import devcluster as fixtures

Devcluster = fixtures.Devcluster


@pytest.mark.parametrize(
    "args",
    [
        ("create", "deployments"),
        ("create", "deployments", "-n", "kube-system"),
        ("list", "secrets", "--all-namespaces"),
        ("get", "pods/web", "--subresource=log"),
        ("delete", "namespaces"),
        ("get", "/logs"),
        ("post", "/healthz/ping"),
        ("*", "*"),
        ("create", "deployments", "--as=jane"),
        ("get", "pods", "--as=system:serviceaccount:default:robot", "--as-group=devs"),
    ],
    ids=[
        "create-deployments",
        "in-namespace",
        "all-namespaces",
        "subresource-and-name",
        "cluster-scoped",
        "non-resource-url",
        "non-resource-post",
        "everything",
        "as-user",
        "as-service-account-and-group",
    ],
)
def test_can_i_says_yes(devcluster: Devcluster, args: tuple[str, ...]) -> None:
    result = devcluster.kubectl("auth", "can-i", *args)

    assert (result.returncode, result.stdout) == (0, "yes\n")


def test_can_i_quiet_exits_zero_and_prints_nothing(devcluster: Devcluster) -> None:
    result = devcluster.kubectl("auth", "can-i", "create", "pods", "--quiet")

    assert (result.returncode, result.stdout) == (0, "")


def test_can_i_list_shows_the_wildcard_rules(devcluster: Devcluster, namespace: str) -> None:
    result = devcluster.kubectl("auth", "can-i", "--list", "-n", namespace)

    lines = [line.split() for line in result.stdout.splitlines()]
    assert lines == [
        ["Resources", "Non-Resource", "URLs", "Resource", "Names", "Verbs"],
        ["*.*", "[]", "[]", "[*]"],
        ["[*]", "[]", "[*]"],
    ]


def test_whoami_names_the_admin(devcluster: Devcluster) -> None:
    result = devcluster.kubectl("auth", "whoami")

    assert result.stdout.splitlines() == [
        "ATTRIBUTE   VALUE",
        "Username    kubernetes-admin",
        "Groups      [system:masters system:authenticated]",
    ]


def test_whoami_as_json(devcluster: Devcluster) -> None:
    review = json.loads(devcluster.kubectl("auth", "whoami", "-o", "json").stdout)

    assert review["kind"] == "SelfSubjectReview"
    assert review["apiVersion"] == "authentication.k8s.io/v1"
    assert review["status"]["userInfo"] == {
        "username": "kubernetes-admin",
        "groups": ["system:masters", "system:authenticated"],
    }


def test_whoami_as_an_impersonated_user(devcluster: Devcluster) -> None:
    out = devcluster.kubectl(
        "auth", "whoami", "--as=jane", "--as-group=devs", "--as-uid=1234", "-o", "yaml"
    ).stdout

    assert yaml.safe_load(out)["status"]["userInfo"] == {
        "username": "jane",
        "uid": "1234",
        "groups": ["devs", "system:authenticated"],
    }


def test_whoami_as_a_service_account(devcluster: Devcluster) -> None:
    out = devcluster.kubectl(
        "auth", "whoami", "--as=system:serviceaccount:ci:deployer", "-o", "json"
    ).stdout

    assert json.loads(out)["status"]["userInfo"]["groups"] == [
        "system:serviceaccounts",
        "system:serviceaccounts:ci",
        "system:authenticated",
    ]


def test_create_subject_access_review_from_a_file(devcluster: Devcluster) -> None:
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {"user": "jane", "resourceAttributes": {"verb": "delete", "resource": "pods"}},
    }

    out = devcluster.kubectl("create", "-f", "-", "-o", "json", input=json.dumps(review)).stdout

    answer = json.loads(out)
    assert answer["spec"] == review["spec"]
    assert answer["status"]["allowed"] is True


def test_create_local_subject_access_review_in_a_namespace(
    devcluster: Devcluster, namespace: str
) -> None:
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "LocalSubjectAccessReview",
        "spec": {
            "groups": ["devs"],
            "resourceAttributes": {"namespace": namespace, "verb": "get", "resource": "secrets"},
        },
    }

    out = devcluster.kubectl(
        "create", "-n", namespace, "-f", "-", "-o", "json", input=json.dumps(review)
    ).stdout

    answer = json.loads(out)
    assert answer["metadata"]["namespace"] == namespace
    assert answer["status"]["allowed"] is True


def test_invalid_review_from_a_file_is_refused(devcluster: Devcluster) -> None:
    # NB: with a spec (even empty) kubectl's client-side schema check passes it on.
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": {},
    }

    result = devcluster.kubectl("create", "-f", "-", input=json.dumps(review), check=False)

    assert result.returncode == 1
    # The Status names no kind (as the API server's), so kubectl words it so.
    assert result.stderr == (
        "The request is invalid: spec: Invalid value: null: exactly one of "
        "nonResourceAttributes or resourceAttributes must be specified\n"
    )


@pytest.mark.parametrize(
    "resource", ["selfsubjectaccessreviews", "subjectaccessreviews", "selfsubjectreviews"]
)
def test_reviews_cannot_be_listed(devcluster: Devcluster, resource: str) -> None:
    result = devcluster.kubectl("get", resource, check=False)

    assert result.returncode == 1
    assert "Error from server (MethodNotAllowed)" in result.stderr


def test_api_resources_lists_reviews_with_the_create_verb(devcluster: Devcluster) -> None:
    out = devcluster.kubectl(
        "api-resources", "--api-group=authorization.k8s.io", "-o", "wide"
    ).stdout

    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
    assert set(rows) == {
        "localsubjectaccessreviews",
        "selfsubjectaccessreviews",
        "selfsubjectrulesreviews",
        "subjectaccessreviews",
    }
    assert {row[-1] for row in rows.values()} == {"create"}
