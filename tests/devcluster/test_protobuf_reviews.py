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

from headwater.devcluster import protobuf
from tests.devcluster.protobodies import capture

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


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _ld(number: int, payload: bytes | str) -> bytes:
    data = payload.encode() if isinstance(payload, str) else payload
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def _bool(number: int, value: bool) -> bytes:
    return _varint(number << 3) + _varint(int(value))


def _envelope(raw: bytes, *, kind: str, api_version: str = AUTHZ) -> bytes:
    type_meta = _ld(1, api_version) + _ld(2, kind)
    return protobuf.MAGIC + _ld(1, type_meta) + _ld(2, raw)


def test_subject_access_review_with_extra_and_uid() -> None:
    extra = _ld(1, "scopes") + _ld(2, _ld(1, "view") + _ld(1, "edit"))
    spec = (
        _ld(2, _ld(1, "/healthz") + _ld(2, "get"))
        + _ld(3, "jane")
        + _ld(4, "devs")
        + _ld(4, "ops")
        + _ld(5, extra)
        + _ld(6, "u-1")
    )
    body = _envelope(_ld(1, b"") + _ld(2, spec), kind="SubjectAccessReview")

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
    field_selector = _ld(2, _ld(1, "spec.nodeName") + _ld(2, "In") + _ld(3, "n1"))
    label_selector = _ld(1, "app=web")
    attributes = _ld(1, "team") + _ld(2, "list") + _ld(5, "pods") + _ld(8, field_selector)
    attributes += _ld(9, label_selector)
    status = _bool(1, True) + _ld(2, "because") + _bool(4, False)
    raw = _ld(1, _ld(3, "team")) + _ld(2, _ld(1, attributes) + _ld(3, "jane")) + _ld(3, status)

    decoded = protobuf.decode(_envelope(raw, kind="LocalSubjectAccessReview"))

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
    rule = _ld(1, "get") + _ld(2, "") + _ld(3, "pods") + _ld(4, "web")
    status = _ld(1, rule) + _ld(2, _ld(1, "get") + _ld(2, "/healthz")) + _bool(3, True)
    raw = _ld(2, _ld(1, "default")) + _ld(3, status)

    decoded = protobuf.decode(_envelope(raw, kind="SelfSubjectRulesReview"))

    assert decoded["status"] == {
        "resourceRules": [
            {"verbs": ["get"], "apiGroups": [""], "resources": ["pods"], "resourceNames": ["web"]}
        ],
        "nonResourceRules": [{"verbs": ["get"], "nonResourceURLs": ["/healthz"]}],
        "incomplete": True,
    }


def test_self_subject_review_with_user_info_decodes() -> None:
    info = _ld(1, "jane") + _ld(2, "u") + _ld(3, "devs") + _ld(4, _ld(1, "k") + _ld(2, _ld(1, "v")))
    raw = _ld(1, b"") + _ld(2, _ld(1, info))

    decoded = protobuf.decode(
        _envelope(raw, kind="SelfSubjectReview", api_version="authentication.k8s.io/v1")
    )

    assert decoded["status"] == {
        "userInfo": {"username": "jane", "uid": "u", "groups": ["devs"], "extra": {"k": ["v"]}}
    }


@pytest.mark.parametrize(
    ("kind", "raw", "message", "number"),
    [
        # ResourceAttributes has no field 10.
        ("SelfSubjectAccessReview", _ld(2, _ld(1, _ld(10, "x"))), "ResourceAttributes", 10),
        # ExtraValue has only items = 1.
        (
            "SubjectAccessReview",
            _ld(2, _ld(5, _ld(1, "k") + _ld(2, _ld(2, "x")))),
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
        protobuf.decode(_envelope(raw, kind=kind))

    assert (caught.value.kind, caught.value.number) == (message, number)
