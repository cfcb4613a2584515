"""RBAC rule matching and ClusterRole aggregation, table-driven (``rbac``, ``rbacpolicy``)."""

from __future__ import annotations

from typing import Any

import pytest

from devcluster.auth import identities, rbac, rbacpolicy

JANE = identities.UserInfo("jane", ("devs", identities.AUTHENTICATED))


def _asks(**fields: Any) -> rbac.Attributes:
    return rbac.Attributes(user=JANE, **fields)


@pytest.mark.parametrize(
    ("rule", "attributes", "allowed"),
    [
        (
            {"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]},
            _asks(verb="get", resource="pods"),
            True,
        ),
        (
            {"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]},
            _asks(verb="list", resource="pods"),
            False,
        ),
        (
            {"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]},
            _asks(verb="delete", group="apps", resource="deployments", subresource="scale"),
            True,
        ),
        (
            {"verbs": ["get"], "apiGroups": ["apps"], "resources": ["deployments"]},
            _asks(verb="get", group="apps", resource="deployments", subresource="status"),
            False,
        ),
        (
            {"verbs": ["get"], "apiGroups": ["apps"], "resources": ["deployments/status"]},
            _asks(verb="get", group="apps", resource="deployments", subresource="status"),
            True,
        ),
        (
            {"verbs": ["get"], "apiGroups": ["apps"], "resources": ["*/status"]},
            _asks(verb="get", group="apps", resource="deployments", subresource="status"),
            True,
        ),
        (
            {"verbs": ["get"], "apiGroups": [""], "resources": ["pods"], "resourceNames": ["a"]},
            _asks(verb="get", resource="pods", name="a"),
            True,
        ),
        (
            {"verbs": ["get"], "apiGroups": [""], "resources": ["pods"], "resourceNames": ["a"]},
            _asks(verb="get", resource="pods", name="b"),
            False,
        ),
        (
            {"verbs": ["list"], "apiGroups": [""], "resources": ["pods"], "resourceNames": ["a"]},
            _asks(verb="list", resource="pods"),
            False,
        ),
        (
            {"verbs": ["get"], "nonResourceURLs": ["/apis/*"]},
            _asks(verb="get", resource_request=False, path="/apis/apps/v1"),
            True,
        ),
        (
            {"verbs": ["get"], "nonResourceURLs": ["/version"]},
            _asks(verb="get", resource_request=False, path="/version/x"),
            False,
        ),
        (
            {"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]},
            _asks(verb="get", resource_request=False, path="/api"),
            False,
        ),
    ],
)
def test_rule_allows(rule: dict[str, Any], attributes: rbac.Attributes, allowed: bool) -> None:
    assert rbac.rule_allows(rule, attributes) is allowed


@pytest.mark.parametrize(
    ("subject", "binding_namespace", "user", "applies"),
    [
        ({"kind": "User", "name": "jane"}, "", JANE, True),
        ({"kind": "Group", "name": "devs"}, "", JANE, True),
        ({"kind": "Group", "name": "ops"}, "", JANE, False),
        (
            {"kind": "ServiceAccount", "name": "r"},
            "ns",
            identities.service_account_user("ns", "r"),
            True,
        ),
        (
            {"kind": "ServiceAccount", "name": "r", "namespace": "other"},
            "ns",
            identities.service_account_user("ns", "r"),
            False,
        ),
        (
            {"kind": "ServiceAccount", "name": "r"},
            "",
            identities.service_account_user("ns", "r"),
            False,
        ),
    ],
)
def test_subject_applies(
    subject: dict[str, str], binding_namespace: str, user: identities.UserInfo, applies: bool
) -> None:
    assert rbac.applies(subject, user, binding_namespace) is applies


class _Policy:
    def __init__(self, **objects: Any) -> None:
        self.objects = objects

    def cluster_role_bindings(self) -> list[dict[str, Any]]:
        return list(self.objects.get("crbs", []))

    def role_bindings(self, namespace: str) -> list[dict[str, Any]]:
        return [b for b in self.objects.get("rbs", []) if b["metadata"]["namespace"] == namespace]

    def cluster_role(self, name: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = self.objects.get("cluster_roles", {}).get(name)
        return found

    def role(self, namespace: str, name: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = self.objects.get("roles", {}).get((namespace, name))
        return found


def _bind(name: str, role: str, *, namespace: str = "", kind: str = "ClusterRole") -> Any:
    meta = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {
        "metadata": meta,
        "roleRef": {"kind": kind, "name": role},
        "subjects": [{"kind": "User", "name": "jane"}],
    }


def test_authorizer_reasons() -> None:
    reader = {"rules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}]}
    policy = _Policy(
        crbs=[_bind("gone", "missing")],
        rbs=[_bind("read", "reader", namespace="ns")],
        cluster_roles={"reader": reader},
    )
    authorizer = rbac.Authorizer(policy)

    allowed = authorizer.authorize(_asks(verb="get", resource="pods", namespace="ns"))
    refused = authorizer.authorize(_asks(verb="get", resource="pods", namespace="other"))

    assert allowed == rbac.Decision(
        True, 'RBAC: allowed by RoleBinding "read/ns" of ClusterRole "reader" to User "jane"'
    )
    assert refused == rbac.Decision(
        False, 'RBAC: clusterrole.rbac.authorization.k8s.io "missing" not found'
    )


def test_masters_are_allowed_everything() -> None:
    admin = rbac.Authorizer(_Policy()).authorize(
        rbac.Attributes(user=identities.ADMIN, verb="delete", resource="nodes")
    )
    assert admin.allowed


def test_aggregated_rules_come_from_matching_roles_in_name_order() -> None:
    def role(name: str, labels: dict[str, str], verb: str) -> dict[str, Any]:
        rule = {"verbs": [verb], "apiGroups": [""], "resources": ["pods"]}
        return {"metadata": {"name": name, "labels": labels}, "rules": [rule]}

    whole = {
        "metadata": {"name": "whole"},
        "aggregationRule": {
            "clusterRoleSelectors": [
                {"matchLabels": {"a": "1"}},
                {"matchExpressions": [{"key": "b", "operator": "Exists"}]},
            ]
        },
    }
    others = [role("z", {"a": "1"}, "get"), role("m", {"b": "x"}, "list"), role("n", {}, "watch")]
    others.append(role("dup", {"a": "1"}, "get"))

    rules = rbacpolicy.aggregated_rules(whole, [whole, *others])

    assert [r["verbs"] for r in rules] == [["get"], ["list"]]
