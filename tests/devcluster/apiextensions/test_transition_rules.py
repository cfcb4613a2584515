"""CRD transition rules (``oldSelf``) and ratcheting: when rules run and what they see."""

from __future__ import annotations

from typing import Any

from devcluster.apiextensions import customs

Obj = dict[str, Any]

IMMUTABLE = {"rule": "self == oldSelf", "message": "size is immutable"}
NO_SHRINK = {"rule": "self >= oldSelf", "message": "may not shrink"}
SCHEMA: Obj = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "properties": {
                "size": {"type": "integer", "x-kubernetes-validations": [IMMUTABLE]},
                "limits": {
                    "type": "object",
                    "additionalProperties": {
                        "type": "integer",
                        "x-kubernetes-validations": [NO_SHRINK],
                    },
                },
                "ports": {
                    "type": "array",
                    "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["name"],
                    "items": {
                        "type": "object",
                        "properties": {"name": {"type": "string"}, "port": {"type": "integer"}},
                        "x-kubernetes-validations": [
                            {"rule": "self.port == oldSelf.port", "message": "port is fixed"}
                        ],
                    },
                },
                "tags": {
                    "type": "array",
                    "items": {
                        "type": "string",
                        "x-kubernetes-validations": [{"rule": "self == oldSelf", "message": "x"}],
                    },
                },
                "replicas": {
                    "type": "integer",
                    "x-kubernetes-validations": [
                        {
                            "rule": "!oldSelf.hasValue() || self >= oldSelf.value()",
                            "message": "replicas may not go down",
                            "optionalOldSelf": True,
                        },
                        {
                            "rule": "self <= oldSelf.orValue(10)",
                            "message": "replicas start at most 10",
                            "optionalOldSelf": True,
                        },
                    ],
                },
            },
        }
    },
}


def _causes(new: Obj, old: Obj | None = None) -> list[tuple[str, str, str]]:
    causes: list[tuple[str, str, str]] = []
    if old is None:
        customs.check(new, SCHEMA, "", causes)
    else:
        customs.check(new, SCHEMA, "", causes, old)
    return causes


def test_transition_rules_do_not_run_on_create() -> None:
    assert _causes({"spec": {"size": 3, "ports": [{"name": "a", "port": 1}], "tags": ["t"]}}) == []


def test_changed_immutable_field_is_refused_with_the_rule_message() -> None:
    causes = _causes({"spec": {"size": 4}}, {"spec": {"size": 3}})
    assert causes == [
        ("FieldValueInvalid", "spec.size", 'Invalid value: "integer": size is immutable')
    ]


def test_unchanged_field_passes_and_a_field_new_in_the_update_is_not_checked() -> None:
    assert _causes({"spec": {"size": 3}}, {"spec": {"size": 3}}) == []
    assert _causes({"spec": {"size": 9}}, {"spec": {}}) == []


def test_additional_properties_correlate_by_key() -> None:
    old = {"spec": {"limits": {"cpu": 4, "mem": 8}}}
    assert _causes({"spec": {"limits": {"cpu": 5, "mem": 8, "disk": 1}}}, old) == []
    causes = _causes({"spec": {"limits": {"cpu": 3, "mem": 8}}}, old)
    assert [c[1] for c in causes] == ["spec.limits.cpu"]


def test_map_list_items_correlate_by_key_not_by_position() -> None:
    old = {"spec": {"ports": [{"name": "a", "port": 1}, {"name": "b", "port": 2}]}}
    reordered = {"spec": {"ports": [{"name": "b", "port": 2}, {"name": "a", "port": 1}]}}
    assert _causes(reordered, old) == []
    added = {"spec": {"ports": [{"name": "c", "port": 7}, {"name": "a", "port": 1}]}}
    assert _causes(added, old) == []
    changed = {"spec": {"ports": [{"name": "a", "port": 1}, {"name": "b", "port": 3}]}}
    assert [c[1] for c in _causes(changed, old)] == ["spec.ports[1]"]


def test_atomic_list_items_have_no_old_value() -> None:
    assert _causes({"spec": {"tags": ["new"]}}, {"spec": {"tags": ["old"]}}) == []


def test_optional_old_self_runs_on_create_with_an_empty_optional() -> None:
    assert _causes({"spec": {"replicas": 10}}) == []
    causes = _causes({"spec": {"replicas": 11}})
    assert [c[2] for c in causes] == ['Invalid value: "integer": replicas start at most 10']


def test_optional_old_self_sees_the_previous_value_on_update() -> None:
    assert _causes({"spec": {"replicas": 20}}, {"spec": {"replicas": 20}}) == []
    causes = _causes({"spec": {"replicas": 19}}, {"spec": {"replicas": 20}})
    assert [c[2] for c in causes] == ['Invalid value: "integer": replicas may not go down']


def test_a_rule_that_does_not_compile_fails_with_its_error() -> None:
    schema: Obj = {"type": "integer", "x-kubernetes-validations": [{"rule": "self ==="}]}
    causes: list[tuple[str, str, str]] = []
    customs.check(1, schema, "spec.n", causes)
    assert len(causes) == 1
    assert causes[0][:2] == ("FieldValueInvalid", "spec.n")
    assert causes[0][2].startswith("Invalid value: failed rule: self ===: ")


def test_unchanged_invalid_values_ratchet_but_changed_ones_are_checked() -> None:
    schema: Obj = {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "properties": {
                    "name": {"type": "string", "maxLength": 3},
                    "mode": {"type": "string", "enum": ["a", "b"]},
                },
            }
        },
    }
    old = {"spec": {"name": "too-long", "mode": "a"}}
    causes: list[tuple[str, str, str]] = []
    customs.check({"spec": {"name": "too-long", "mode": "b"}}, schema, "", causes, old)
    assert causes == []
    customs.check({"spec": {"name": "still-long", "mode": "b"}}, schema, "", causes, old)
    assert [c[1] for c in causes] == ["spec.name"]
    causes.clear()
    customs.check({"spec": {"name": "too-long", "mode": "c"}}, schema, "", causes)
    assert sorted(c[1] for c in causes) == ["spec.mode", "spec.name"]
