"""Reviews answered without a server: what every kind answers, and the API server's refusals."""

from __future__ import annotations

from typing import Any

import pytest

from devcluster.auth import identities, reviews
from devcluster.machinery import errors
from devcluster.schemas import resources

REGISTRY = resources.Registry()
AUTHZ = "authorization.k8s.io/v1"
SELF_ACCESS = "selfsubjectaccessreviews"
SUBJECT_ACCESS = "subjectaccessreviews"
LOCAL_ACCESS = "localsubjectaccessreviews"
RULES = "selfsubjectrulesreviews"
UNION = "exactly one of nonResourceAttributes or resourceAttributes must be specified"


def _resource(plural: str) -> resources.Resource:
    group = "authentication.k8s.io" if plural == "selfsubjectreviews" else "authorization.k8s.io"
    found = REGISTRY.lookup(group, "v1", plural)
    assert found is not None
    return found


def _answer(plural: str, body: Any, *, namespace: str = "", **kwargs: Any) -> dict[str, Any]:
    return reviews.answer(
        _resource(plural), body, namespace=namespace, user=identities.ADMIN, **kwargs
    )


def _refusal(plural: str, body: Any, *, namespace: str = "") -> errors.ApiError:
    with pytest.raises(errors.ApiError) as caught:
        _answer(plural, body, namespace=namespace)
    return caught.value


def test_self_subject_access_review_is_allowed_and_echoed() -> None:
    body = {
        "apiVersion": AUTHZ,
        "kind": "SelfSubjectAccessReview",
        "metadata": {},
        "spec": {
            "resourceAttributes": {"verb": "create", "group": "apps", "resource": "deployments"}
        },
        "status": {"allowed": False},
    }

    answer = _answer(SELF_ACCESS, body)

    assert answer == {**body, "status": {"allowed": True, "reason": reviews.REASON}}


def test_non_resource_access_review_is_allowed() -> None:
    body = {"spec": {"nonResourceAttributes": {"path": "/logs", "verb": "get"}}}

    answer = _answer(SELF_ACCESS, body)

    assert answer["apiVersion"] == AUTHZ
    assert answer["kind"] == "SelfSubjectAccessReview"
    assert answer["status"]["allowed"] is True


def test_subject_access_review_for_another_user_is_allowed() -> None:
    body = {"spec": {"user": "jane", "groups": ["devs"], "resourceAttributes": {"verb": "delete"}}}

    assert _answer(SUBJECT_ACCESS, body)["status"] == {"allowed": True, "reason": reviews.REASON}


def test_local_subject_access_review_takes_the_url_namespace() -> None:
    body = {
        "spec": {"groups": ["devs"], "resourceAttributes": {"namespace": "team", "verb": "get"}}
    }

    answer = _answer(LOCAL_ACCESS, body, namespace="team")

    assert answer["metadata"] == {"namespace": "team"}
    assert answer["status"]["allowed"] is True


def test_rules_review_lists_wildcards_and_not_its_spec() -> None:
    answer = _answer(RULES, {"spec": {"namespace": "default"}})

    assert answer == {
        "kind": "SelfSubjectRulesReview",
        "apiVersion": AUTHZ,
        "metadata": {},
        "spec": {},
        "status": {
            "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
            "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
            "incomplete": False,
        },
    }


def test_self_subject_review_reports_the_requester() -> None:
    jane = identities.UserInfo("jane", ("devs", "system:authenticated"))

    answer = reviews.answer(
        _resource("selfsubjectreviews"), {"metadata": {}}, namespace="", user=jane
    )

    assert answer["apiVersion"] == "authentication.k8s.io/v1"
    assert answer["status"] == {
        "userInfo": {"username": "jane", "groups": ["devs", "system:authenticated"]}
    }
    assert answer["metadata"]["creationTimestamp"].endswith("Z")


def test_unknown_fields_warn_or_are_refused_per_field_validation() -> None:
    body = {"spec": {"nonResourceAttributes": {"path": "/", "verb": "get", "bogus": 1}}}
    warnings: list[str] = []

    answer = _answer(SELF_ACCESS, body, warnings=warnings)

    assert answer["spec"]["nonResourceAttributes"] == {"path": "/", "verb": "get"}
    assert warnings == ['unknown field "spec.nonResourceAttributes.bogus"']
    with pytest.raises(errors.ApiError) as caught:
        _answer(SELF_ACCESS, body, field_validation="Strict")
    assert caught.value.code == 400


@pytest.mark.parametrize(
    ("plural", "namespace", "body", "causes"),
    [
        (SELF_ACCESS, "", {"spec": {}}, [("spec", f"Invalid value: null: {UNION}")]),
        (
            SELF_ACCESS,
            "",
            {
                "spec": {
                    "resourceAttributes": {"verb": "get"},
                    "nonResourceAttributes": {"verb": "get", "path": "/logs"},
                }
            },
            [("spec", f'Invalid value: {{"path":"/logs","verb":"get"}}: {UNION}')],
        ),
        (
            SELF_ACCESS,
            "",
            {"metadata": {"name": "x"}, "spec": {"resourceAttributes": {}}},
            [("metadata", 'Invalid value: {"name":"x"}: must be empty')],
        ),
        (
            SUBJECT_ACCESS,
            "",
            {"spec": {"resourceAttributes": {"verb": "get"}}},
            [("spec.user", 'Invalid value: "": at least one of user or group must be specified')],
        ),
        (
            SUBJECT_ACCESS,
            "",
            {"spec": {}},
            [
                ("spec", f"Invalid value: null: {UNION}"),
                ("spec.user", 'Invalid value: "": at least one of user or group must be specified'),
            ],
        ),
        (
            LOCAL_ACCESS,
            "team",
            {"spec": {"user": "jane", "resourceAttributes": {"namespace": "other"}}},
            [
                (
                    "spec.resourceAttributes.namespace",
                    'Invalid value: "other": must match metadata.namespace',
                )
            ],
        ),
        (
            LOCAL_ACCESS,
            "team",
            {"spec": {"user": "jane", "nonResourceAttributes": {"path": "/healthz"}}},
            [
                (
                    "spec.nonResourceAttributes",
                    'Invalid value: {"path":"/healthz"}: disallowed on this kind of request',
                )
            ],
        ),
        (
            LOCAL_ACCESS,
            "team",
            {
                "metadata": {"labels": {"a": "b"}},
                "spec": {"user": "j", "resourceAttributes": {"namespace": "team"}},
            },
            [
                (
                    "metadata",
                    'Invalid value: {"labels":{"a":"b"},"namespace":"team"}: '
                    "must be empty except for namespace",
                )
            ],
        ),
        (
            SELF_ACCESS,
            "",
            {"spec": {"resourceAttributes": {"fieldSelector": {}}}},
            [
                (
                    "spec.resourceAttributes.fieldSelector.requirements",
                    "Required value: when spec.resourceAttributes.fieldSelector is specified, "
                    "requirements or rawSelector is required",
                )
            ],
        ),
        (
            SELF_ACCESS,
            "",
            {
                "spec": {
                    "resourceAttributes": {
                        "labelSelector": {
                            "rawSelector": "a=b",
                            "requirements": [
                                {"key": "a", "operator": "In"},
                                {"key": "b", "operator": "Exists", "values": ["x"]},
                                {"key": "c", "operator": "Newer"},
                            ],
                        }
                    }
                }
            },
            [
                (
                    "spec.resourceAttributes.labelSelector.rawSelector",
                    'Invalid value: "a=b": may not specified at the same time as requirements',
                ),
                (
                    "spec.resourceAttributes.labelSelector.requirements[0].values",
                    "Required value: must be specified when `operator` is 'In' or 'NotIn'",
                ),
                (
                    "spec.resourceAttributes.labelSelector.requirements[1].values",
                    "Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                ),
            ],
        ),
        (
            SELF_ACCESS,
            "",
            {
                "spec": {
                    "resourceAttributes": {
                        "fieldSelector": {"requirements": [{"operator": "Exists"}]}
                    }
                }
            },
            [
                (
                    "spec.resourceAttributes.fieldSelector.requirements[0].key",
                    "Required value: must be specified",
                )
            ],
        ),
    ],
    ids=[
        "neither-attributes",
        "both-attributes",
        "self-metadata-not-empty",
        "no-subject",
        "neither-attributes-nor-subject",
        "local-namespace-mismatch",
        "local-non-resource",
        "local-metadata-beyond-namespace",
        "empty-field-selector",
        "label-selector-requirements",
        "field-requirement-without-key",
    ],
)
def test_invalid_reviews_get_the_api_servers_422(
    plural: str, namespace: str, body: dict[str, Any], causes: list[tuple[str, str]]
) -> None:
    refusal = _refusal(plural, body, namespace=namespace)

    assert (refusal.code, refusal.reason) == (422, "Invalid")
    summary = "; ".join(f"{field}: {message}" for field, message in causes)
    if len(causes) > 1:
        summary = "[" + ", ".join(f"{field}: {message}" for field, message in causes) + "]"
    assert refusal.message == f'.authorization.k8s.io "" is invalid: {summary}'
    assert refusal.details is not None
    assert [(c["field"], c["message"]) for c in refusal.details["causes"]] == causes


@pytest.mark.parametrize(
    ("plural", "namespace", "body", "message"),
    [
        (RULES, "", {"spec": {}}, "no namespace on request"),
        (
            LOCAL_ACCESS,
            "team",
            {"metadata": {"namespace": "other"}, "spec": {"user": "j"}},
            "the namespace of the provided object does not match the namespace sent on the request",
        ),
        (
            SELF_ACCESS,
            "",
            {"kind": "SubjectAccessReview", "spec": {}},
            "the kind in the data (SubjectAccessReview) does not match the expected kind "
            "(SelfSubjectAccessReview)",
        ),
        (SELF_ACCESS, "", ["not", "an", "object"], "the body of the request must be a JSON object"),
    ],
    ids=["rules-without-namespace", "local-namespace-conflict", "wrong-kind", "not-an-object"],
)
def test_malformed_reviews_are_400(plural: str, namespace: str, body: Any, message: str) -> None:
    refusal = _refusal(plural, body, namespace=namespace)

    assert (refusal.code, refusal.reason, refusal.message) == (400, "BadRequest", message)


def test_wrongly_typed_attributes_are_400() -> None:
    refusal = _refusal(SELF_ACCESS, {"spec": {"resourceAttributes": "pods"}})

    assert refusal.code == 400
    assert "cannot be handled as a SelfSubjectAccessReview" in refusal.message
