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

from devcluster.serializers import protobuf
from tests.devcluster.serializers.protobodies import wire

# --- a tiny gogo-style encoder -----------------------------------------------


def _map(number: int, items: dict[str, Any], *, binary: bool = False) -> bytes:
    out = b""
    for key in sorted(items):
        value = items[key]
        encoded = base64.b64decode(value) if binary else value.encode()
        out += wire.ld(number, wire.ld(1, key) + wire.ld(2, encoded))
    return out


def _time(number: int, value: str | None) -> bytes:
    if value is None:
        return wire.ld(number, b"")
    moment = datetime.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)
    return wire.ld(number, wire.integer(1, int(moment.timestamp())) + wire.integer(2, 0))


def _owner_reference(ref: dict[str, Any]) -> bytes:
    out = wire.ld(1, ref["kind"]) + wire.ld(3, ref["name"]) + wire.ld(4, ref["uid"])
    out += wire.ld(5, ref["apiVersion"])
    if "controller" in ref:
        out += wire.boolean(6, ref["controller"])
    if "blockOwnerDeletion" in ref:
        out += wire.boolean(7, ref["blockOwnerDeletion"])
    return out


def _managed_fields_entry(entry: dict[str, Any]) -> bytes:
    out = wire.ld(1, entry.get("manager", "")) + wire.ld(2, entry.get("operation", ""))
    out += wire.ld(3, entry.get("apiVersion", ""))
    if "time" in entry:
        out += _time(4, entry["time"])
    out += wire.ld(6, entry.get("fieldsType", ""))
    if "fieldsV1" in entry:
        out += wire.ld(7, wire.ld(1, json.dumps(entry["fieldsV1"]).encode()))
    return out + wire.ld(8, entry.get("subresource", ""))


def _object_meta(meta: dict[str, Any]) -> bytes:
    out = b"".join(
        wire.ld(number, meta.get(name, ""))
        for number, name in enumerate(
            ["name", "generateName", "namespace", "selfLink", "uid", "resourceVersion"], 1
        )
    )
    out += wire.integer(7, meta.get("generation", 0))
    out += _time(8, meta.get("creationTimestamp"))
    if "deletionTimestamp" in meta:
        out += _time(9, meta["deletionTimestamp"])
    if "deletionGracePeriodSeconds" in meta:
        out += wire.integer(10, meta["deletionGracePeriodSeconds"])
    out += _map(11, meta.get("labels", {})) + _map(12, meta.get("annotations", {}))
    out += b"".join(wire.ld(13, _owner_reference(r)) for r in meta.get("ownerReferences", []))
    out += b"".join(wire.ld(14, f) for f in meta.get("finalizers", []))
    out += b"".join(wire.ld(17, _managed_fields_entry(e)) for e in meta.get("managedFields", []))
    return out


def _secret(obj: dict[str, Any]) -> bytes:
    out = wire.ld(1, _object_meta(obj.get("metadata", {})))
    out += _map(2, obj.get("data", {}), binary=True)
    out += wire.ld(3, obj.get("type", ""))
    out += _map(4, obj.get("stringData", {}))
    if "immutable" in obj:
        out += wire.boolean(5, obj["immutable"])
    return out


def _config_map(obj: dict[str, Any]) -> bytes:
    out = wire.ld(1, _object_meta(obj.get("metadata", {})))
    out += _map(2, obj.get("data", {})) + _map(3, obj.get("binaryData", {}), binary=True)
    if "immutable" in obj:
        out += wire.boolean(4, obj["immutable"])
    return out


def _delete_options(obj: dict[str, Any]) -> bytes:
    out = b""
    if "gracePeriodSeconds" in obj:
        out += wire.integer(1, obj["gracePeriodSeconds"])
    if "preconditions" in obj:
        pre = obj["preconditions"]
        inner = b""
        if "uid" in pre:
            inner += wire.ld(1, pre["uid"])
        if "resourceVersion" in pre:
            inner += wire.ld(2, pre["resourceVersion"])
        out += wire.ld(2, inner)
    if "orphanDependents" in obj:
        out += wire.boolean(3, obj["orphanDependents"])
    if "propagationPolicy" in obj:
        out += wire.ld(4, obj["propagationPolicy"])
    return out + b"".join(wire.ld(5, d) for d in obj.get("dryRun", []))


def _namespace(obj: dict[str, Any]) -> bytes:
    spec = b"".join(wire.ld(1, f) for f in obj["spec"].get("finalizers", []))
    status = wire.ld(1, obj["status"].get("phase", ""))
    for condition in obj["status"].get("conditions", []):
        status += wire.ld(
            2,
            wire.ld(1, condition["type"])
            + wire.ld(2, condition["status"])
            + _time(4, condition.get("lastTransitionTime"))
            + wire.ld(5, condition.get("reason", ""))
            + wire.ld(6, condition.get("message", "")),
        )
    return wire.ld(1, _object_meta(obj.get("metadata", {}))) + wire.ld(2, spec) + wire.ld(3, status)


def _int_or_string(number: int, value: int | str) -> bytes:
    if isinstance(value, int):
        return wire.ld(number, wire.integer(1, 0) + wire.integer(2, value) + wire.ld(3, ""))
    return wire.ld(number, wire.integer(1, 1) + wire.integer(2, 0) + wire.ld(3, value))


def _container(c: dict[str, Any]) -> bytes:
    out = wire.ld(1, c["name"]) + wire.ld(2, c.get("image", ""))
    out += b"".join(wire.ld(3, x) for x in c.get("command", []))
    out += b"".join(wire.ld(4, x) for x in c.get("args", []))
    out += wire.ld(5, c.get("workingDir", ""))
    for port in c.get("ports", []):
        out += wire.ld(
            6,
            wire.ld(1, port.get("name", ""))
            + wire.integer(2, port.get("hostPort", 0))
            + wire.integer(3, port["containerPort"])
            + wire.ld(4, port.get("protocol", ""))
            + wire.ld(5, ""),
        )
    out += wire.ld(8, b"")  # resources: an unset non-pointer struct
    out += wire.ld(13, "") + wire.ld(14, c.get("imagePullPolicy", ""))
    out += (
        wire.boolean(16, False)
        + wire.boolean(17, False)
        + wire.boolean(18, False)
        + wire.ld(20, "")
    )
    return out


def _pod_spec(spec: dict[str, Any]) -> bytes:
    out = b"".join(wire.ld(2, _container(c)) for c in spec["containers"])
    out += wire.ld(3, spec.get("restartPolicy", ""))
    if "terminationGracePeriodSeconds" in spec:
        out += wire.integer(4, spec["terminationGracePeriodSeconds"])
    out += wire.ld(6, spec.get("dnsPolicy", "")) + wire.ld(8, "") + wire.ld(9, "") + wire.ld(10, "")
    out += wire.boolean(11, False) + wire.boolean(12, False) + wire.boolean(13, False)
    out += wire.ld(16, "") + wire.ld(17, "") + wire.ld(19, "") + wire.ld(24, "")
    return out + wire.ld(38, "")  # a field newer than the tables, empty


def _template(t: dict[str, Any]) -> bytes:
    return wire.ld(1, _object_meta(t.get("metadata", {}))) + wire.ld(2, _pod_spec(t["spec"]))


def _deployment(obj: dict[str, Any]) -> bytes:
    spec = obj["spec"]
    inner = b""
    if "replicas" in spec:
        inner += wire.integer(1, spec["replicas"])
    selector = spec["selector"]
    inner += wire.ld(2, _map(1, selector.get("matchLabels", {})))
    inner += wire.ld(3, _template(spec["template"]))
    strategy = spec.get("strategy", {})
    strategy_bytes = wire.ld(1, strategy.get("type", ""))
    if "rollingUpdate" in strategy:
        rolling = strategy["rollingUpdate"]
        strategy_bytes += wire.ld(
            2,
            _int_or_string(1, rolling["maxUnavailable"]) + _int_or_string(2, rolling["maxSurge"]),
        )
    inner += wire.ld(4, strategy_bytes) + wire.integer(5, 0) + wire.boolean(7, False)
    status = (
        wire.integer(1, 0)
        + wire.integer(2, 0)
        + wire.integer(3, 0)
        + wire.integer(4, 0)
        + wire.integer(5, 0)
    )
    return wire.ld(1, _object_meta(obj["metadata"])) + wire.ld(2, inner) + wire.ld(3, status)


def _pod(obj: dict[str, Any]) -> bytes:
    status = (
        wire.ld(1, "")
        + wire.ld(3, "")
        + wire.ld(4, "")
        + wire.ld(5, "")
        + wire.ld(6, "")
        + wire.ld(9, "")
    )
    return (
        wire.ld(1, _object_meta(obj["metadata"]))
        + wire.ld(2, _pod_spec(obj["spec"]))
        + wire.ld(3, status)
    )


def _service(obj: dict[str, Any]) -> bytes:
    spec = obj["spec"]
    inner = b""
    for port in spec.get("ports", []):
        inner += wire.ld(
            1,
            wire.ld(1, port.get("name", ""))
            + wire.ld(2, port.get("protocol", ""))
            + wire.integer(3, port["port"])
            + _int_or_string(4, port.get("targetPort", 0))
            + wire.integer(5, 0),
        )
    inner += _map(2, spec.get("selector", {})) + wire.ld(3, spec.get("clusterIP", ""))
    inner += wire.ld(4, spec.get("type", "")) + wire.ld(7, "") + wire.ld(8, "") + wire.ld(10, "")
    inner += wire.ld(11, "") + wire.integer(12, 0) + wire.boolean(13, False)
    status = wire.ld(1, b"")  # loadBalancer: {}
    return wire.ld(1, _object_meta(obj["metadata"])) + wire.ld(2, inner) + wire.ld(3, status)


def _service_account(obj: dict[str, Any]) -> bytes:
    return wire.ld(1, _object_meta(obj["metadata"]))


def _job(obj: dict[str, Any]) -> bytes:
    spec = obj["spec"]
    inner = wire.ld(6, _template(spec["template"]))
    if "backoffLimit" in spec:
        inner += wire.integer(7, spec["backoffLimit"])
    if "suspend" in spec:
        inner += wire.boolean(10, spec["suspend"])
    status = wire.integer(4, 0) + wire.integer(5, 0) + wire.integer(6, 0)
    return wire.ld(1, _object_meta(obj["metadata"])) + wire.ld(2, inner) + wire.ld(3, status)


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


def encode(obj: dict[str, Any]) -> bytes:
    return wire.envelope(
        _ENCODERS[obj["kind"]](obj), api_version=obj["apiVersion"], kind=obj["kind"]
    )


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
    body = wire.envelope(wire.integer(1, -1), api_version="v1", kind="DeleteOptions")

    assert protobuf.decode(body)["gracePeriodSeconds"] == -1


def test_empty_unknown_fields_of_every_wire_type_are_skipped() -> None:
    raw = (
        wire.ld(1, wire.ld(1, "cm"))
        + wire.integer(99, 0)
        + wire.key(98, 1)
        + b"\x00" * 8
        + wire.key(97, 5)
        + b"\x00" * 4
        + wire.ld(96, "")
        + wire.ld(95, wire.ld(1, "") + wire.integer(2, 0))  # an unset struct, as gogo writes it
    )
    body = wire.envelope(raw, api_version="v1", kind="ConfigMap")

    assert protobuf.decode(body) == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "cm"},
    }


@pytest.mark.parametrize(
    "unknown",
    [wire.integer(99, 5), wire.ld(99, "data"), wire.ld(99, wire.ld(1, "nested"))],
    ids=str,
)
def test_unknown_field_with_a_value_is_refused_not_dropped(unknown: bytes) -> None:
    body = wire.envelope(wire.ld(1, wire.ld(1, "cm")) + unknown, api_version="v1", kind="ConfigMap")

    with pytest.raises(protobuf.UnsupportedFieldError) as caught:
        protobuf.decode(body)
    assert (caught.value.kind, caught.value.number) == ("ConfigMap", 99)
    assert isinstance(caught.value, protobuf.UnsupportedKindError)


def test_repeated_singular_message_merges() -> None:
    raw = wire.ld(1, wire.ld(1, "cm")) + wire.ld(1, wire.ld(3, "ns"))
    body = wire.envelope(raw, api_version="v1", kind="ConfigMap")

    assert protobuf.decode(body)["metadata"] == {"name": "cm", "namespace": "ns"}


def test_later_map_entry_wins_for_a_repeated_key() -> None:
    raw = wire.ld(1, b"") + _map(2, {"k": "first"}) + _map(2, {"k": "second"})
    body = wire.envelope(raw, api_version="v1", kind="ConfigMap")

    assert protobuf.decode(body)["data"] == {"k": "second"}


def test_times_render_in_rfc3339_utc_seconds() -> None:
    meta = wire.ld(1, "t") + wire.ld(
        8, wire.integer(1, 1_700_000_000) + wire.integer(2, 123_456_789)
    )
    body = wire.envelope(wire.ld(1, meta), api_version="v1", kind="ConfigMap")

    assert protobuf.decode(body)["metadata"]["creationTimestamp"] == "2023-11-14T22:13:20Z"


def test_json_raw_inside_envelope_is_parsed() -> None:
    raw = json.dumps({"metadata": {"name": "j"}, "data": {"a": "b"}}).encode()
    body = wire.envelope(raw, api_version="v1", kind="ConfigMap", content_type="application/json")

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
    ("group-wire-type", protobuf.MAGIC + wire.key(1, 3)),
    ("truncated-fixed64", protobuf.MAGIC + wire.key(9, 1) + b"\x00\x00"),
    ("overlong-varint", protobuf.MAGIC + wire.key(9, 0) + b"\xff" * 11),
    (
        "invalid-utf8-string",
        wire.envelope(wire.ld(1, wire.ld(1, b"\xff\xfe")), api_version="v1", kind="ConfigMap"),
    ),
    (
        "string-field-as-varint",
        wire.envelope(wire.ld(1, wire.integer(1, 5)), api_version="v1", kind="ConfigMap"),
    ),
    ("gzip-encoding", wire.envelope(b"", api_version="v1", kind="ConfigMap", encoding="gzip")),
    (
        "yaml-raw",
        wire.envelope(b"a: b", api_version="v1", kind="ConfigMap", content_type="application/yaml"),
    ),
    (
        "bad-fields-v1-json",
        wire.envelope(
            wire.ld(1, wire.ld(17, wire.ld(7, wire.ld(1, b"{not json")))),
            api_version="v1",
            kind="ConfigMap",
        ),
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
        protobuf.decode(wire.envelope(b"", api_version=api_version, kind=kind))
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
