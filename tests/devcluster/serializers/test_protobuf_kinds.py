"""Bodies kubectl 1.37 really sent decode to the objects it meant to send.

Each fixture in ``protobodies/`` is the captured protobuf body of one
``kubectl create <subcommand>``; its ``.json`` twin is what the same command
printed with ``--dry-run=client -o json``. Decoding the bytes must give that
JSON exactly, but for what Go prints that is not request data: ``null`` for
nil slices and pointers, an empty ``status`` and non-omitempty empty structs
(``resources: {}``), none of which a decoder of the wire can tell from absent.
"""

from __future__ import annotations

import json
import pathlib
from typing import Any

import pytest

from devcluster.serializers import protobuf
from tests.devcluster.serializers.protobodies import capture, wire

FIXTURES = pathlib.Path(capture.__file__).parent
WITH_JSON = sorted(p.stem for p in FIXTURES.glob("*.json"))


def _load(name: str) -> bytes:
    return (FIXTURES / f"{name}.pb").read_bytes()


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def _pod_specs(obj: dict[str, Any]) -> list[dict[str, Any]]:
    spec = obj.get("spec") or {}
    job_spec = (spec.get("jobTemplate") or {}).get("spec") or spec
    template = job_spec.get("template") or {}
    return [template["spec"]] if "spec" in template else []


def _as_sent(printed: dict[str, Any]) -> dict[str, Any]:
    obj: dict[str, Any] = _without_nulls(printed)
    obj.pop("status", None)
    for pod_spec in _pod_specs(obj):
        for container in pod_spec.get("containers", []):
            if container.get("resources") == {}:
                del container["resources"]
    return obj


def test_every_capture_command_has_its_fixture() -> None:
    for command in capture.COMMANDS:
        assert (FIXTURES / f"{command.name}.pb").read_bytes().startswith(protobuf.MAGIC)
        assert (FIXTURES / f"{command.name}.json").exists() is command.client_json


@pytest.mark.parametrize("name", WITH_JSON)
def test_captured_body_decodes_to_what_kubectl_printed(name: str) -> None:
    printed = json.loads((FIXTURES / f"{name}.json").read_text())

    assert protobuf.decode(_load(name)) == _as_sent(printed)


def test_ingress_rule_value_is_inlined_into_the_rule() -> None:
    rules = protobuf.decode(_load("ingress"))["spec"]["rules"]

    assert [sorted(rule) for rule in rules] == [["host", "http"], ["host", "http"]]
    assert rules[1]["http"]["paths"][0]["backend"]["service"]["port"] == {"name": "http"}


def test_quantities_decode_to_their_canonical_strings() -> None:
    hard = protobuf.decode(_load("quota"))["spec"]["hard"]

    assert hard == {"cpu": "1500m", "memory": "1Gi", "pods": "4", "services.loadbalancers": "0"}


def test_pointer_zero_and_false_survive() -> None:
    priority = protobuf.decode(_load("priorityclass-default"))

    assert (priority["value"], priority["globalDefault"]) == (0, True)
    assert priority["preemptionPolicy"] == "PreemptLowerPriority"


def test_plain_token_request() -> None:
    assert protobuf.decode(_load("token")) == {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "metadata": {},
        "spec": {},
    }


def test_bound_token_request() -> None:
    assert protobuf.decode(_load("token-bound")) == {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "metadata": {},
        "spec": {
            "audiences": ["api", "vault"],
            "expirationSeconds": 1200,
            "boundObjectRef": {
                "kind": "Secret",
                "apiVersion": "v1",
                "name": "robot-key",
                "uid": "0b6e8f2c-1111-4222-8333-444455556666",
            },
        },
    }


def test_autoscale_metric_targets_keep_quantities_and_percentages() -> None:
    spec = protobuf.decode(_load("hpa-quantities"))["spec"]

    assert "minReplicas" not in spec
    assert [metric["resource"] for metric in spec["metrics"]] == [
        {"name": "cpu", "target": {"type": "AverageValue", "averageValue": "500m"}},
        {"name": "memory", "target": {"type": "Utilization", "averageUtilization": 70}},
    ]


# --- refusals: a field no table knows is refused when it carries a value ---------


@pytest.mark.parametrize(
    ("api_version", "kind", "raw", "message", "number"),
    [
        # A PolicyRule with a field 6 (none exists in rbac/v1).
        ("rbac.authorization.k8s.io/v1", "Role", wire.ld(2, wire.ld(6, b"x")), "PolicyRule", 6),
        # PodDisruptionBudget status with disruptionsAllowed = 1: status has no table.
        (
            "policy/v1",
            "PodDisruptionBudget",
            wire.ld(3, wire.integer(3, 1)),
            "PodDisruptionBudget",
            3,
        ),
        # A Quantity with something besides its string.
        (
            "v1",
            "ResourceQuota",
            wire.ld(
                2, wire.ld(1, wire.ld(1, b"cpu") + wire.ld(2, wire.ld(1, b"1") + wire.ld(9, b"?")))
            ),
            "Quantity",
            9,
        ),
        # TokenRequestSpec field 2 was never assigned.
        (
            "authentication.k8s.io/v1",
            "TokenRequest",
            wire.ld(2, wire.ld(2, b"x")),
            "TokenRequestSpec",
            2,
        ),
        # HPA status with desiredReplicas = 2: status has no table.
        (
            "autoscaling/v2",
            "HorizontalPodAutoscaler",
            wire.ld(3, wire.integer(4, 2)),
            "HorizontalPodAutoscaler",
            3,
        ),
        # MetricSpec field 6 was never assigned.
        (
            "autoscaling/v2",
            "HorizontalPodAutoscaler",
            wire.ld(2, wire.ld(4, wire.ld(6, b"x"))),
            "MetricSpec",
            6,
        ),
    ],
    ids=["policy-rule", "pdb-status", "quantity", "token-spec", "hpa-status", "metric-spec"],
)
def test_unknown_field_with_a_value_is_refused(
    api_version: str, kind: str, raw: bytes, message: str, number: int
) -> None:
    with pytest.raises(protobuf.UnsupportedFieldError) as caught:
        protobuf.decode(wire.envelope(raw, api_version=api_version, kind=kind))

    assert (caught.value.kind, caught.value.number) == (message, number)


def test_kind_in_the_wrong_group_version_is_refused() -> None:
    body = wire.envelope(
        wire.ld(1, wire.ld(1, b"r")), api_version="rbac.authorization.k8s.io/v1beta1", kind="Role"
    )

    with pytest.raises(protobuf.UnsupportedKindError):
        protobuf.decode(body)
