"""``spec.ignore`` rules: which pointers an object ignores, and stripping or adopting them."""

from __future__ import annotations

from typing import Any

import pytest

from shared.api import kustomize
from shared.kube import ignoring


def _rules(*rules: dict[str, Any]) -> ignoring.Rules:
    return ignoring.Rules([kustomize.IgnoreRule.model_validate(rule) for rule in rules])


def _obj(kind: str, name: str, **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1" if kind == "Deployment" else "v1",
        "kind": kind,
        "metadata": {"name": name, "namespace": "dev", "labels": labels},
        "spec": {"replicas": 2, "template": {"spec": {"containers": [{"image": "a"}]}}},
    }


def test_targets_select_by_regular_expression_and_label_selector() -> None:
    rules = _rules(
        {"paths": ["/spec/replicas"], "target": {"kind": "Deploy.*", "group": "apps"}},
        {"paths": ["/data/color"], "target": {"name": "conf", "labelSelector": "tier in (a,b)"}},
        {"paths": ["/metadata/annotations/x"]},
    )

    assert rules.pointers(_obj("Deployment", "web")) == [
        "/spec/replicas",
        "/metadata/annotations/x",
    ]
    assert rules.pointers(_obj("ConfigMap", "conf", tier="a")) == [
        "/data/color",
        "/metadata/annotations/x",
    ]
    # Names match whole: "conf" does not select "config"; the label must be in the set.
    assert rules.pointers(_obj("ConfigMap", "config", tier="a")) == ["/metadata/annotations/x"]
    assert rules.pointers(_obj("ConfigMap", "conf", tier="c")) == ["/metadata/annotations/x"]


@pytest.mark.parametrize(
    ("selector", "labels", "selected"),
    [
        ("a=1,b", {"a": "1", "b": "x"}, True),
        ("a==1", {"a": "2"}, False),
        ("a!=1", {}, True),
        ("!a", {"a": "1"}, False),
        ("a notin (1, 2)", {"a": "3"}, True),
    ],
)
def test_label_selector_expressions(selector: str, labels: dict[str, str], selected: bool) -> None:
    rules = _rules({"paths": ["/spec"], "target": {"labelSelector": selector}})

    assert bool(rules.pointers(_obj("ConfigMap", "c", **labels))) is selected


def test_without_removes_and_adopt_takes_live_values() -> None:
    desired = {"spec": {"replicas": 2, "paused": False, "list": [1, 2]}}
    live = {"spec": {"replicas": 5, "list": [1, 9]}}
    pointers = ["/spec/replicas", "/spec/paused", "/spec/list/1", "/spec/absent/x"]

    assert ignoring.without(desired, pointers) == {"spec": {"list": [1]}}
    assert ignoring.adopt(desired, live, pointers) == {"spec": {"replicas": 5, "list": [1, 9]}}
    assert desired == {"spec": {"replicas": 2, "paused": False, "list": [1, 2]}}


@pytest.mark.parametrize(
    "rule",
    [
        {"paths": ["spec/replicas"]},
        {"paths": ["/spec"], "target": {"name": "web("}},
        {"paths": ["/spec"], "target": {"labelSelector": "a in (b"}},
    ],
)
def test_an_unusable_rule_is_refused_up_front(rule: dict[str, Any]) -> None:
    with pytest.raises(ignoring.RuleError):
        _rules(rule)
