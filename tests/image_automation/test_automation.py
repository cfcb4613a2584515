"""The automation's pure parts: policy selection and which automations a policy change requeues."""

from __future__ import annotations

from typing import Any

import pytest

from controllers.image_automation import automation
from shared.api import image, meta, source
from shared.runtime import results


@pytest.mark.parametrize(
    ("selector", "labels", "selected"),
    [
        (None, {}, True),
        ({}, {"a": "b"}, True),
        ({"matchLabels": {"team": "a"}}, {"team": "a", "x": "y"}, True),
        ({"matchLabels": {"team": "a"}}, {"team": "b"}, False),
        ({"matchExpressions": [{"key": "env", "operator": "In", "values": ["prod"]}]},
         {"env": "prod"}, True),
        ({"matchExpressions": [{"key": "env", "operator": "In", "values": ["prod"]}]}, {}, False),
        ({"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["dev"]}]}, {}, True),
        ({"matchExpressions": [{"key": "env", "operator": "Exists"}]}, {"env": ""}, True),
        ({"matchExpressions": [{"key": "env", "operator": "DoesNotExist"}]}, {"env": "x"}, False),
    ],
)  # fmt: skip
def test_policy_selector_matches_as_kubernetes(
    selector: dict[str, Any] | None, labels: dict[str, str], selected: bool
) -> None:
    parsed = meta.LabelSelector.model_validate(selector) if selector is not None else None
    assert automation.selects(parsed, labels) is selected


class _Automations:
    def __init__(self, items: list[dict[str, Any]]) -> None:
        self._items = items

    def objects(self) -> list[dict[str, Any]]:
        return self._items


def test_a_policy_change_requeues_the_automations_that_select_it() -> None:
    automations = _Automations([
        {"metadata": {"namespace": "apps", "name": "all"}, "spec": {}},
        {"metadata": {"namespace": "apps", "name": "web"},
         "spec": {"policySelector": {"matchLabels": {"tier": "web"}}}},
        {"metadata": {"namespace": "other", "name": "all"}, "spec": {}},
    ])  # fmt: skip
    mapper = automation.policy_requests(automations)  # type: ignore[arg-type]
    web = {"metadata": {"namespace": "apps", "name": "p", "labels": {"tier": "web"}}}
    db = {"metadata": {"namespace": "apps", "name": "q", "labels": {"tier": "db"}}}
    assert mapper(web) == ["apps/all", "apps/web"]
    assert mapper(db) == ["apps/all"]


def test_only_a_new_latest_ref_requeues() -> None:
    old = {"status": {"latestRef": {"name": "a", "tag": "1"}, "conditions": []}}
    same = {"status": {"latestRef": {"name": "a", "tag": "1"}, "conditions": [{"type": "x"}]}}
    new = {"status": {"latestRef": {"name": "a", "tag": "2"}}}
    assert not automation.latest_ref_changed("k", same, old)
    assert automation.latest_ref_changed("k", new, old)
    assert automation.latest_ref_changed("k", old, None)


def _git(**spec: Any) -> image.GitSpec:
    return image.GitSpec.model_validate({"commit": {"author": {"email": "a@b"}}, **spec})


def test_the_checkout_comes_from_the_automation_else_the_repository() -> None:
    repository = source.GitRepository.model_validate({
        "metadata": {"name": "r"},
        "spec": {"url": "https://h/r", "interval": "1m", "ref": {"branch": "main"}},
    })  # fmt: skip
    checkout, push = automation.checkout_of(_git(), repository)
    assert (checkout.kind, checkout.value, push) == ("branch", "main", "main")
    checkout, push = automation.checkout_of(
        _git(checkout={"ref": {"tag": "v1"}}, push={"branch": "auto"}), repository
    )
    assert (checkout.kind, checkout.value, push) == ("tag", "v1", "auto")
    with pytest.raises(results.StallingError, match="push spec not provided"):
        automation.checkout_of(_git(checkout={"ref": {"semver": ">=1"}}), repository)
