"""Review bodies as protobuf: what ``kubectl auth`` 1.37 really sent, and hand-built ones.

The ``can-i*`` and ``whoami`` fixtures in ``protobodies/`` are the captured
bodies (``capture.py``); each decodes to the object kubectl built, exactly as
its JSON form reads. Kinds kubectl never sends (SubjectAccessReview with extra
values, selectors, an echoed status) are built here with the wire helpers.
"""

from __future__ import annotations

import pathlib
from typing import Any

import pytest

from devcluster.serializers import protobuf
from tests.devcluster.serializers.protobodies import capture, wire

FIXTURES = pathlib.Path(capture.__file__).parent
AUTHZ = "authorization.k8s.io/v1"


def _load(name: str) -> dict[str, Any]:
    return protobuf.decode((FIXTURES / f"{name}.pb").read_bytes())


def _access(spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": "SelfSubjectAccessReview",
        "apiVersion": AUTHZ,
        "metadata": {},
        "spec": spec,
        "status": {"allowed": False},
    }


@pytest.mark.parametrize(
    ("name", "want"),
    [
        (
            "can-i",
            _access(
                {
                    "resourceAttributes": {
                        "namespace": "default",
                        "verb": "create",
                        "group": "apps",
                        "resource": "deployments",
                    }
                }
            ),
        ),
        (
            "can-i-subresource",
            _access(
                {
                    "resourceAttributes": {
                        "namespace": "default",
                        "verb": "get",
                        "resource": "pods",
                        "subresource": "log",
                        "name": "web",
                    }
                }
            ),
        ),
        (
            "can-i-all-namespaces",
            _access({"resourceAttributes": {"verb": "list", "resource": "secrets"}}),
        ),
        ("can-i-nonresource", _access({"nonResourceAttributes": {"path": "/logs", "verb": "get"}})),
        (
            "can-i-list",
            {
                "kind": "SelfSubjectRulesReview",
                "apiVersion": AUTHZ,
                "metadata": {},
                "spec": {"namespace": "default"},
                "status": {"incomplete": False},
            },
        ),
        (
            "whoami",
            {
                "kind": "SelfSubjectReview",
                "apiVersion": "authentication.k8s.io/v1",
                "metadata": {},
                "status": {"userInfo": {}},
            },
        ),
    ],
)
def test_captured_kubectl_auth_body_decodes(name: str, want: dict[str, Any]) -> None:
    assert _load(name) == want


# --- hand-built bodies --------------------------------------------------------


def test_subject_access_review_with_extra_and_uid() -> None:
    extra = wire.ld(1, "scopes") + wire.ld(2, wire.ld(1, "view") + wire.ld(1, "edit"))
    spec = (
        wire.ld(2, wire.ld(1, "/healthz") + wire.ld(2, "get"))
        + wire.ld(3, "jane")
        + wire.ld(4, "devs")
        + wire.ld(4, "ops")
        + wire.ld(5, extra)
        + wire.ld(6, "u-1")
    )
    body = wire.envelope(
        wire.ld(1, b"") + wire.ld(2, spec), api_version=AUTHZ, kind="SubjectAccessReview"
    )

    assert protobuf.decode(body) == {
        "kind": "SubjectAccessReview",
        "apiVersion": AUTHZ,
        "metadata": {},
        "spec": {
            "nonResourceAttributes": {"path": "/healthz", "verb": "get"},
            "user": "jane",
            "groups": ["devs", "ops"],
            "extra": {"scopes": ["view", "edit"]},
            "uid": "u-1",
        },
    }


def test_local_review_with_selectors_and_an_echoed_status() -> None:
    field_selector = wire.ld(2, wire.ld(1, "spec.nodeName") + wire.ld(2, "In") + wire.ld(3, "n1"))
    label_selector = wire.ld(1, "app=web")
    attributes = (
        wire.ld(1, "team") + wire.ld(2, "list") + wire.ld(5, "pods") + wire.ld(8, field_selector)
    )
    attributes += wire.ld(9, label_selector)
    status = wire.boolean(1, True) + wire.ld(2, "because") + wire.boolean(4, False)
    raw = (
        wire.ld(1, wire.ld(3, "team"))
        + wire.ld(2, wire.ld(1, attributes) + wire.ld(3, "jane"))
        + wire.ld(3, status)
    )

    decoded = protobuf.decode(
        wire.envelope(raw, api_version=AUTHZ, kind="LocalSubjectAccessReview")
    )

    assert decoded["metadata"] == {"namespace": "team"}
    assert decoded["spec"]["resourceAttributes"] == {
        "namespace": "team",
        "verb": "list",
        "resource": "pods",
        "fieldSelector": {
            "requirements": [{"key": "spec.nodeName", "operator": "In", "values": ["n1"]}]
        },
        "labelSelector": {"rawSelector": "app=web"},
    }
    assert decoded["status"] == {"allowed": True, "reason": "because"}


def test_rules_review_status_with_rules_decodes() -> None:
    rule = wire.ld(1, "get") + wire.ld(2, "") + wire.ld(3, "pods") + wire.ld(4, "web")
    status = (
        wire.ld(1, rule)
        + wire.ld(2, wire.ld(1, "get") + wire.ld(2, "/healthz"))
        + wire.boolean(3, True)
    )
    raw = wire.ld(2, wire.ld(1, "default")) + wire.ld(3, status)

    decoded = protobuf.decode(wire.envelope(raw, api_version=AUTHZ, kind="SelfSubjectRulesReview"))

    assert decoded["status"] == {
        "resourceRules": [
            {"verbs": ["get"], "apiGroups": [""], "resources": ["pods"], "resourceNames": ["web"]}
        ],
        "nonResourceRules": [{"verbs": ["get"], "nonResourceURLs": ["/healthz"]}],
        "incomplete": True,
    }


def test_self_subject_review_with_user_info_decodes() -> None:
    info = (
        wire.ld(1, "jane")
        + wire.ld(2, "u")
        + wire.ld(3, "devs")
        + wire.ld(4, wire.ld(1, "k") + wire.ld(2, wire.ld(1, "v")))
    )
    raw = wire.ld(1, b"") + wire.ld(2, wire.ld(1, info))

    decoded = protobuf.decode(
        wire.envelope(raw, api_version="authentication.k8s.io/v1", kind="SelfSubjectReview")
    )

    assert decoded["status"] == {
        "userInfo": {"username": "jane", "uid": "u", "groups": ["devs"], "extra": {"k": ["v"]}}
    }


@pytest.mark.parametrize(
    ("kind", "raw", "message", "number"),
    [
        # ResourceAttributes has no field 10.
        (
            "SelfSubjectAccessReview",
            wire.ld(2, wire.ld(1, wire.ld(10, "x"))),
            "ResourceAttributes",
            10,
        ),
        # ExtraValue has only items = 1.
        (
            "SubjectAccessReview",
            wire.ld(2, wire.ld(5, wire.ld(1, "k") + wire.ld(2, wire.ld(2, "x")))),
            "ExtraValue",
            2,
        ),
    ],
    ids=["resource-attributes-10", "extra-value-2"],
)
def test_unknown_review_field_with_a_value_is_refused(
    kind: str, raw: bytes, message: str, number: int
) -> None:
    with pytest.raises(protobuf.UnsupportedFieldError) as caught:
        protobuf.decode(wire.envelope(raw, api_version=AUTHZ, kind=kind))

    assert (caught.value.kind, caught.value.number) == (message, number)
