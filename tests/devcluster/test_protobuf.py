"""Protobuf request bodies decode to exactly the dicts their JSON form would give.

Bodies are built by a tiny encoder below that writes what client-go's gogo
marshaller writes: every non-pointer field, even when empty (empty strings, zero
ints, an empty message for a zero time), pointer fields only when set, map
entries as key=1/value=2 messages. Field numbers are written out here
independently of the module under test, from the Kubernetes generated.proto files.
"""

from __future__ import annotations

import base64
import datetime
import json
from typing import Any

import pytest

from headwater.devcluster import protobuf

# --- a tiny gogo-style encoder -----------------------------------------------


def _varint(value: int) -> bytes:
    if value < 0:
        value += 1 << 64
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _key(number: int, wire: int) -> bytes:
    return _varint(number << 3 | wire)


def _ld(number: int, payload: bytes) -> bytes:
    return _key(number, 2) + _varint(len(payload)) + payload


def _str(number: int, value: str) -> bytes:
    return _ld(number, value.encode())


def _int(number: int, value: int) -> bytes:
    return _key(number, 0) + _varint(value)


def _bool(number: int, value: bool) -> bytes:
    return _int(number, 1 if value else 0)


def _map(number: int, items: dict[str, Any], *, binary: bool = False) -> bytes:
    out = b""
    for key in sorted(items):
        value = items[key]
        encoded = base64.b64decode(value) if binary else value.encode()
        out += _ld(number, _str(1, key) + _ld(2, encoded))
    return out


def _time(number: int, value: str | None) -> bytes:
    if value is None:
        return _ld(number, b"")
    moment = datetime.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)
    return _ld(number, _int(1, int(moment.timestamp())) + _int(2, 0))


def _owner_reference(ref: dict[str, Any]) -> bytes:
    out = _str(1, ref["kind"]) + _str(3, ref["name"]) + _str(4, ref["uid"])
    out += _str(5, ref["apiVersion"])
    if "controller" in ref:
        out += _bool(6, ref["controller"])
    if "blockOwnerDeletion" in ref:
        out += _bool(7, ref["blockOwnerDeletion"])
    return out


def _managed_fields_entry(entry: dict[str, Any]) -> bytes:
    out = _str(1, entry.get("manager", "")) + _str(2, entry.get("operation", ""))
    out += _str(3, entry.get("apiVersion", ""))
    if "time" in entry:
        out += _time(4, entry["time"])
    out += _str(6, entry.get("fieldsType", ""))
    if "fieldsV1" in entry:
        out += _ld(7, _ld(1, json.dumps(entry["fieldsV1"]).encode()))
    return out + _str(8, entry.get("subresource", ""))


def _object_meta(meta: dict[str, Any]) -> bytes:
    out = b"".join(
        _str(number, meta.get(name, ""))
        for number, name in enumerate(
            ["name", "generateName", "namespace", "selfLink", "uid", "resourceVersion"], 1
        )
    )
    out += _int(7, meta.get("generation", 0))
    out += _time(8, meta.get("creationTimestamp"))
    if "deletionTimestamp" in meta:
        out += _time(9, meta["deletionTimestamp"])
    if "deletionGracePeriodSeconds" in meta:
        out += _int(10, meta["deletionGracePeriodSeconds"])
    out += _map(11, meta.get("labels", {})) + _map(12, meta.get("annotations", {}))
    out += b"".join(_ld(13, _owner_reference(r)) for r in meta.get("ownerReferences", []))
    out += b"".join(_str(14, f) for f in meta.get("finalizers", []))
    out += b"".join(_ld(17, _managed_fields_entry(e)) for e in meta.get("managedFields", []))
    return out


def _secret(obj: dict[str, Any]) -> bytes:
    out = _ld(1, _object_meta(obj.get("metadata", {})))
    out += _map(2, obj.get("data", {}), binary=True)
    out += _str(3, obj.get("type", ""))
    out += _map(4, obj.get("stringData", {}))
    if "immutable" in obj:
        out += _bool(5, obj["immutable"])
    return out


def _config_map(obj: dict[str, Any]) -> bytes:
    out = _ld(1, _object_meta(obj.get("metadata", {})))
    out += _map(2, obj.get("data", {})) + _map(3, obj.get("binaryData", {}), binary=True)
    if "immutable" in obj:
        out += _bool(4, obj["immutable"])
    return out


def _delete_options(obj: dict[str, Any]) -> bytes:
    out = b""
    if "gracePeriodSeconds" in obj:
        out += _int(1, obj["gracePeriodSeconds"])
    if "preconditions" in obj:
        pre = obj["preconditions"]
        inner = b""
        if "uid" in pre:
            inner += _str(1, pre["uid"])
        if "resourceVersion" in pre:
            inner += _str(2, pre["resourceVersion"])
        out += _ld(2, inner)
    if "orphanDependents" in obj:
        out += _bool(3, obj["orphanDependents"])
    if "propagationPolicy" in obj:
        out += _str(4, obj["propagationPolicy"])
    return out + b"".join(_str(5, d) for d in obj.get("dryRun", []))


def _namespace(obj: dict[str, Any]) -> bytes:
    spec = b"".join(_str(1, f) for f in obj["spec"].get("finalizers", []))
    status = _str(1, obj["status"].get("phase", ""))
    for condition in obj["status"].get("conditions", []):
        status += _ld(
            2,
            _str(1, condition["type"])
            + _str(2, condition["status"])
            + _time(4, condition.get("lastTransitionTime"))
            + _str(5, condition.get("reason", ""))
            + _str(6, condition.get("message", "")),
        )
    return _ld(1, _object_meta(obj.get("metadata", {}))) + _ld(2, spec) + _ld(3, status)


def _int_or_string(number: int, value: int | str) -> bytes:
    if isinstance(value, int):
        return _ld(number, _int(1, 0) + _int(2, value) + _str(3, ""))
    return _ld(number, _int(1, 1) + _int(2, 0) + _str(3, value))


def _container(c: dict[str, Any]) -> bytes:
    out = _str(1, c["name"]) + _str(2, c.get("image", ""))
    out += b"".join(_str(3, x) for x in c.get("command", []))
    out += b"".join(_str(4, x) for x in c.get("args", []))
    out += _str(5, c.get("workingDir", ""))
    for port in c.get("ports", []):
        out += _ld(
            6,
            _str(1, port.get("name", ""))
            + _int(2, port.get("hostPort", 0))
            + _int(3, port["containerPort"])
            + _str(4, port.get("protocol", ""))
            + _str(5, ""),
        )
    out += _ld(8, b"")  # resources: an unset non-pointer struct
    out += _str(13, "") + _str(14, c.get("imagePullPolicy", ""))
    out += _bool(16, False) + _bool(17, False) + _bool(18, False) + _str(20, "")
    return out


def _pod_spec(spec: dict[str, Any]) -> bytes:
    out = b"".join(_ld(2, _container(c)) for c in spec["containers"])
    out += _str(3, spec.get("restartPolicy", ""))
    if "terminationGracePeriodSeconds" in spec:
        out += _int(4, spec["terminationGracePeriodSeconds"])
    out += _str(6, spec.get("dnsPolicy", "")) + _str(8, "") + _str(9, "") + _str(10, "")
    out += _bool(11, False) + _bool(12, False) + _bool(13, False)
    out += _str(16, "") + _str(17, "") + _str(19, "") + _str(24, "")
    return out + _str(38, "")  # a field newer than the tables, empty


def _template(t: dict[str, Any]) -> bytes:
    return _ld(1, _object_meta(t.get("metadata", {}))) + _ld(2, _pod_spec(t["spec"]))


def _deployment(obj: dict[str, Any]) -> bytes:
    spec = obj["spec"]
    inner = b""
    if "replicas" in spec:
        inner += _int(1, spec["replicas"])
    selector = spec["selector"]
    inner += _ld(2, _map(1, selector.get("matchLabels", {})))
    inner += _ld(3, _template(spec["template"]))
    strategy = spec.get("strategy", {})
    strategy_bytes = _str(1, strategy.get("type", ""))
    if "rollingUpdate" in strategy:
        rolling = strategy["rollingUpdate"]
        strategy_bytes += _ld(
            2,
            _int_or_string(1, rolling["maxUnavailable"]) + _int_or_string(2, rolling["maxSurge"]),
        )
    inner += _ld(4, strategy_bytes) + _int(5, 0) + _bool(7, False)
    status = _int(1, 0) + _int(2, 0) + _int(3, 0) + _int(4, 0) + _int(5, 0)
    return _ld(1, _object_meta(obj["metadata"])) + _ld(2, inner) + _ld(3, status)


def _pod(obj: dict[str, Any]) -> bytes:
    status = _str(1, "") + _str(3, "") + _str(4, "") + _str(5, "") + _str(6, "") + _str(9, "")
    return _ld(1, _object_meta(obj["metadata"])) + _ld(2, _pod_spec(obj["spec"])) + _ld(3, status)


def _service(obj: dict[str, Any]) -> bytes:
    spec = obj["spec"]
    inner = b""
    for port in spec.get("ports", []):
        inner += _ld(
            1,
            _str(1, port.get("name", ""))
            + _str(2, port.get("protocol", ""))
            + _int(3, port["port"])
            + _int_or_string(4, port.get("targetPort", 0))
            + _int(5, 0),
        )
    inner += _map(2, spec.get("selector", {})) + _str(3, spec.get("clusterIP", ""))
    inner += _str(4, spec.get("type", "")) + _str(7, "") + _str(8, "") + _str(10, "")
    inner += _str(11, "") + _int(12, 0) + _bool(13, False)
    status = _ld(1, b"")  # loadBalancer: {}
    return _ld(1, _object_meta(obj["metadata"])) + _ld(2, inner) + _ld(3, status)


def _service_account(obj: dict[str, Any]) -> bytes:
    return _ld(1, _object_meta(obj["metadata"]))


def _job(obj: dict[str, Any]) -> bytes:
    spec = obj["spec"]
    inner = _ld(6, _template(spec["template"]))
    if "backoffLimit" in spec:
        inner += _int(7, spec["backoffLimit"])
    if "suspend" in spec:
        inner += _bool(10, spec["suspend"])
    status = _int(4, 0) + _int(5, 0) + _int(6, 0)
    return _ld(1, _object_meta(obj["metadata"])) + _ld(2, inner) + _ld(3, status)


_ENCODERS = {
    "Job": _job,
    "Deployment": _deployment,
    "Pod": _pod,
    "Service": _service,
    "ServiceAccount": _service_account,
    "Secret": _secret,
    "ConfigMap": _config_map,
    "DeleteOptions": _delete_options,
    "Namespace": _namespace,
}


def envelope(
    raw: bytes, *, api_version: str, kind: str, content_type: str = "", encoding: str = ""
) -> bytes:
    type_meta = _str(1, api_version) + _str(2, kind)
    return (
        protobuf.MAGIC + _ld(1, type_meta) + _ld(2, raw) + _str(3, encoding) + _str(4, content_type)
    )


def encode(obj: dict[str, Any]) -> bytes:
    return envelope(_ENCODERS[obj["kind"]](obj), api_version=obj["apiVersion"], kind=obj["kind"])


# --- round trips ---------------------------------------------------------------

HELM_RELEASE = {
    "apiVersion": "v1",
    "kind": "Secret",
    "metadata": {
        "name": "sh.helm.release.v1.demo.v1",
        "namespace": "default",
        "labels": {"name": "demo", "owner": "helm", "status": "pending-install", "version": "1"},
    },
    "data": {"release": base64.b64encode(b"H4sIAAAAAAAC/+y9\x00\xff\xfe binary").decode()},
    "type": "helm.sh/release.v1",
}

ROUND_TRIPS: list[tuple[str, dict[str, Any]]] = [
    ("helm-release-secret", HELM_RELEASE),
    ("secret-minimal", {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}}),
    (
        "secret-string-data-immutable-false",
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "s", "namespace": "ns"},
            "stringData": {"password": "hunter2", "empty": ""},
            "immutable": False,
            "type": "Opaque",
        },
    ),
    (
        "configmap-data-binary-immutable",
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "c", "namespace": "default"},
            "data": {"a.txt": "héllo\nworld", "empty": ""},
            "binaryData": {"blob": base64.b64encode(bytes(range(256))).decode()},
            "immutable": True,
        },
    ),
    (
        "configmap-full-metadata",
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": "full",
                "namespace": "default",
                "uid": "8d1c2a44-1111-2222-3333-444455556666",
                "resourceVersion": "42",
                "generation": 3,
                "creationTimestamp": "2024-05-06T07:08:09Z",
                "deletionTimestamp": "2024-05-06T07:09:00Z",
                "deletionGracePeriodSeconds": 0,
                "labels": {"app.kubernetes.io/name": "x", "tier": ""},
                "annotations": {"meta.helm.sh/release-name": "demo"},
                "ownerReferences": [
                    {
                        "apiVersion": "apps/v1",
                        "kind": "Deployment",
                        "name": "web",
                        "uid": "u-1",
                        "controller": True,
                        "blockOwnerDeletion": False,
                    },
                    {"apiVersion": "v1", "kind": "ConfigMap", "name": "other", "uid": "u-2"},
                ],
                "finalizers": ["example.com/keep", "foregroundDeletion"],
                "managedFields": [
                    {
                        "manager": "python",
                        "operation": "Apply",
                        "apiVersion": "v1",
                        "time": "2024-05-06T07:08:09Z",
                        "fieldsType": "FieldsV1",
                        "fieldsV1": {"f:data": {"f:a": {}}},
                    },
                    {
                        "manager": "kubectl",
                        "operation": "Update",
                        "apiVersion": "v1",
                        "fieldsType": "FieldsV1",
                        "fieldsV1": {"f:status": {}},
                        "subresource": "status",
                    },
                ],
            },
        },
    ),
    (
        "namespace-as-kubectl-create-sends-it",
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": "tmp"},
            "spec": {},
            "status": {},
        },
    ),
    (
        "namespace-terminating",
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": "tmp", "deletionTimestamp": "2024-01-02T03:04:05Z"},
            "spec": {"finalizers": ["kubernetes"]},
            "status": {
                "phase": "Terminating",
                "conditions": [
                    {
                        "type": "NamespaceContentRemaining",
                        "status": "True",
                        "lastTransitionTime": "2024-01-02T03:04:06Z",
                        "reason": "SomeResourcesRemain",
                        "message": "Some resources are remaining: pods. has 1 resource instances",
                    }
                ],
            },
        },
    ),
    (
        "deployment-as-kubectl-create-deployment-sends-it",
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {
                        "containers": [
                            {
                                "name": "nginx",
                                "image": "nginx:1.27",
                                "ports": [{"containerPort": 80}],
                            }
                        ]
                    },
                },
            },
        },
    ),
    (
        "deployment-rolling-update-int-or-string",
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web"},
            "spec": {
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {
                        "containers": [{"name": "a", "image": "a", "args": ["--x", "1"]}],
                        "restartPolicy": "Always",
                        "terminationGracePeriodSeconds": 0,
                    },
                },
                "strategy": {
                    "type": "RollingUpdate",
                    "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": 1},
                },
            },
        },
    ),
    (
        "pod-as-kubectl-run-sends-it",
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "once", "labels": {"run": "once"}},
            "spec": {
                "containers": [
                    {"name": "once", "image": "busybox", "command": ["sh", "-c", "true"]}
                ],
                "restartPolicy": "Never",
                "dnsPolicy": "ClusterFirst",
            },
        },
    ),
    (
        "service-as-kubectl-create-service-sends-it",
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "svc", "labels": {"app": "svc"}},
            "spec": {
                "ports": [{"name": "80-8080", "protocol": "TCP", "port": 80, "targetPort": 8080}],
                "selector": {"app": "svc"},
                "type": "ClusterIP",
            },
        },
    ),
    (
        "service-named-target-port",
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "svc"},
            "spec": {"ports": [{"port": 80, "targetPort": "http"}], "clusterIP": "None"},
        },
    ),
    (
        "job-as-kubectl-create-job-sends-it",
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": "j"},
            "spec": {
                "backoffLimit": 0,
                "suspend": False,
                "template": {
                    "metadata": {},
                    "spec": {
                        "containers": [{"name": "j", "image": "busybox"}],
                        "restartPolicy": "Never",
                    },
                },
            },
        },
    ),
    (
        "serviceaccount",
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "sa"}},
    ),
    (
        "delete-options-empty",
        {"apiVersion": "v1", "kind": "DeleteOptions"},
    ),
    (
        "delete-options-everything",
        {
            "apiVersion": "meta.k8s.io/v1",
            "kind": "DeleteOptions",
            "gracePeriodSeconds": 0,
            "preconditions": {"uid": "u-1", "resourceVersion": "7"},
            "orphanDependents": False,
            "propagationPolicy": "Foreground",
            "dryRun": ["All"],
        },
    ),
    (
        "delete-options-other-group",
        {"apiVersion": "apps/v1", "kind": "DeleteOptions", "propagationPolicy": "Background"},
    ),
    (
        "delete-options-empty-preconditions",
        {"apiVersion": "v1", "kind": "DeleteOptions", "preconditions": {}},
    ),
]


@pytest.mark.parametrize(("name", "obj"), ROUND_TRIPS, ids=[n for n, _ in ROUND_TRIPS])
def test_body_decodes_to_its_json_form(name: str, obj: dict[str, Any]) -> None:
    assert protobuf.decode(encode(obj)) == obj


def test_empty_gogo_fields_are_omitted_like_omitempty() -> None:
    decoded = protobuf.decode(encode(HELM_RELEASE))

    meta = decoded["metadata"]
    for absent in ("generateName", "selfLink", "uid", "resourceVersion", "generation"):
        assert absent not in meta
    assert "creationTimestamp" not in meta
    assert "immutable" not in decoded


def test_binary_secret_data_survives_base64() -> None:
    decoded = protobuf.decode(encode(HELM_RELEASE))

    assert base64.b64decode(decoded["data"]["release"]).endswith(b"\x00\xff\xfe binary")


def test_negative_int64_is_twos_complement() -> None:
    body = envelope(_int(1, -1), api_version="v1", kind="DeleteOptions")

    assert protobuf.decode(body)["gracePeriodSeconds"] == -1


def test_empty_unknown_fields_of_every_wire_type_are_skipped() -> None:
    raw = (
        _ld(1, _str(1, "cm"))
        + _int(99, 0)
        + _key(98, 1)
        + b"\x00" * 8
        + _key(97, 5)
        + b"\x00" * 4
        + _str(96, "")
        + _ld(95, _str(1, "") + _int(2, 0))  # an unset struct, as gogo writes it
    )
    body = envelope(raw, api_version="v1", kind="ConfigMap")

    assert protobuf.decode(body) == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "cm"},
    }


@pytest.mark.parametrize(
    "unknown", [_int(99, 5), _str(99, "data"), _ld(99, _str(1, "nested"))], ids=str
)
def test_unknown_field_with_a_value_is_refused_not_dropped(unknown: bytes) -> None:
    body = envelope(_ld(1, _str(1, "cm")) + unknown, api_version="v1", kind="ConfigMap")

    with pytest.raises(protobuf.UnsupportedFieldError) as caught:
        protobuf.decode(body)
    assert (caught.value.kind, caught.value.number) == ("ConfigMap", 99)
    assert isinstance(caught.value, protobuf.UnsupportedKindError)


def test_repeated_singular_message_merges() -> None:
    raw = _ld(1, _str(1, "cm")) + _ld(1, _str(3, "ns"))
    body = envelope(raw, api_version="v1", kind="ConfigMap")

    assert protobuf.decode(body)["metadata"] == {"name": "cm", "namespace": "ns"}


def test_later_map_entry_wins_for_a_repeated_key() -> None:
    raw = _ld(1, b"") + _map(2, {"k": "first"}) + _map(2, {"k": "second"})
    body = envelope(raw, api_version="v1", kind="ConfigMap")

    assert protobuf.decode(body)["data"] == {"k": "second"}


def test_times_render_in_rfc3339_utc_seconds() -> None:
    meta = _str(1, "t") + _ld(8, _int(1, 1_700_000_000) + _int(2, 123_456_789))
    body = envelope(_ld(1, meta), api_version="v1", kind="ConfigMap")

    assert protobuf.decode(body)["metadata"]["creationTimestamp"] == "2023-11-14T22:13:20Z"


def test_json_raw_inside_envelope_is_parsed() -> None:
    raw = json.dumps({"metadata": {"name": "j"}, "data": {"a": "b"}}).encode()
    body = envelope(raw, api_version="v1", kind="ConfigMap", content_type="application/json")

    assert protobuf.decode(body) == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "j"},
        "data": {"a": "b"},
    }


# --- refusals ------------------------------------------------------------------

MALFORMED: list[tuple[str, bytes]] = [
    ("no-magic", b'{"kind":"Secret"}'),
    ("magic-only-no-kind", protobuf.MAGIC),
    ("truncated-varint", protobuf.MAGIC + b"\x0a\x80"),
    ("length-past-end", protobuf.MAGIC + b"\x0a\x7f\x0a"),
    ("field-number-zero", protobuf.MAGIC + b"\x00\x01"),
    ("group-wire-type", protobuf.MAGIC + _key(1, 3)),
    ("truncated-fixed64", protobuf.MAGIC + _key(9, 1) + b"\x00\x00"),
    ("overlong-varint", protobuf.MAGIC + _key(9, 0) + b"\xff" * 11),
    (
        "invalid-utf8-string",
        envelope(_ld(1, _ld(1, b"\xff\xfe")), api_version="v1", kind="ConfigMap"),
    ),
    (
        "string-field-as-varint",
        envelope(_ld(1, _int(1, 5)), api_version="v1", kind="ConfigMap"),
    ),
    ("gzip-encoding", envelope(b"", api_version="v1", kind="ConfigMap", encoding="gzip")),
    (
        "yaml-raw",
        envelope(b"a: b", api_version="v1", kind="ConfigMap", content_type="application/yaml"),
    ),
    (
        "bad-fields-v1-json",
        envelope(_ld(1, _ld(17, _ld(7, _ld(1, b"{not json")))), api_version="v1", kind="ConfigMap"),
    ),
]


@pytest.mark.parametrize(("name", "body"), MALFORMED, ids=[n for n, _ in MALFORMED])
def test_malformed_body_is_refused(name: str, body: bytes) -> None:
    with pytest.raises(protobuf.ProtobufError) as caught:
        protobuf.decode(body)
    assert not isinstance(caught.value, protobuf.UnsupportedKindError)


@pytest.mark.parametrize(
    ("api_version", "kind"),
    [
        ("networking.k8s.io/v1", "NetworkPolicy"),
        ("storage.k8s.io/v1", "StorageClass"),
        ("autoscaling/v1", "HorizontalPodAutoscaler"),
        ("v2", "Secret"),
    ],
)
def test_unsupported_kind_is_refused_by_name(api_version: str, kind: str) -> None:
    with pytest.raises(protobuf.UnsupportedKindError) as caught:
        protobuf.decode(envelope(b"", api_version=api_version, kind=kind))
    assert (caught.value.api_version, caught.value.kind) == (api_version, kind)
    assert kind in str(caught.value)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("application/vnd.kubernetes.protobuf", True),
        ("application/vnd.kubernetes.protobuf; charset=utf-8", True),
        ("Application/VND.Kubernetes.Protobuf", True),
        ("application/vnd.kubernetes.protobuf;stream=watch", True),
        ("application/json", False),
        ("application/apply-patch+yaml", False),
        ("", False),
        (None, False),
    ],
)
def test_is_protobuf(header: str | None, expected: bool) -> None:
    assert protobuf.is_protobuf(header) is expected
