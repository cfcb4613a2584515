"""The RBAC objects of a devcluster: stored policy, bootstrap roles, aggregation.

Contract:

- ``StorePolicy`` reads Roles, ClusterRoles and their bindings from the
  cluster's storage on every call (``rbac.Policy``), so a write is in force
  for the next request.
- ``ensure_bootstrap`` creates what kube-apiserver's bootstrap policy
  creates and every kubectl session relies on, where missing:
  ``cluster-admin`` (everything, bound to ``system:masters``),
  ``system:discovery`` (discovery and OpenAPI paths) and
  ``system:basic-user`` (self reviews), both bound to
  ``system:authenticated``, and ``system:public-info-viewer`` (health and
  version), bound to ``system:authenticated`` and
  ``system:unauthenticated``. They carry kube-apiserver's
  ``kubernetes.io/bootstrapping: rbac-defaults`` label and autoupdate
  annotation. (The aggregated ``admin``/``edit``/``view`` roles are not
  bootstrapped.)
- ``aggregate`` does what kube-controller-manager's clusterrole-aggregation
  controller does: a ClusterRole with an ``aggregationRule`` gets as its
  ``rules`` the rules of every other ClusterRole whose labels match one of
  the rule's selectors (in name order, duplicates dropped); it is rewritten
  only when that changes. The server runs it after every write to
  ClusterRoles.
"""

from __future__ import annotations

from typing import Any

from devcluster.auth import rbac
from devcluster.machinery import errors, selectors
from devcluster.registry import cluster as cluster_mod

Obj = dict[str, Any]
_KEY = rbac.GROUP + "/"
MANAGER = "clusterrole-aggregation-controller"
_GET = ["get"]
_DEFAULTS_LABELS = {"kubernetes.io/bootstrapping": "rbac-defaults"}
_AUTOUPDATE = {"rbac.authorization.kubernetes.io/autoupdate": "true"}
_AUTHENTICATED = {"apiGroup": rbac.GROUP, "kind": "Group", "name": "system:authenticated"}
_UNAUTHENTICATED = {"apiGroup": rbac.GROUP, "kind": "Group", "name": "system:unauthenticated"}
_MASTERS = {"apiGroup": rbac.GROUP, "kind": "Group", "name": rbac.MASTERS}

# name: (rules, subjects of the ClusterRoleBinding of the same name)
BOOTSTRAP: dict[str, tuple[list[Obj], list[Obj]]] = {
    "cluster-admin": (
        [
            {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
            {"nonResourceURLs": ["*"], "verbs": ["*"]},
        ],
        [_MASTERS],
    ),
    "system:discovery": (
        [
            {
                "nonResourceURLs": [
                    "/api",
                    "/api/*",
                    "/apis",
                    "/apis/*",
                    "/healthz",
                    "/livez",
                    "/openapi",
                    "/openapi/*",
                    "/readyz",
                    "/version",
                    "/version/",
                ],
                "verbs": _GET,
            }
        ],
        [_AUTHENTICATED],
    ),
    "system:public-info-viewer": (
        [
            {
                "nonResourceURLs": ["/healthz", "/livez", "/readyz", "/version", "/version/"],
                "verbs": _GET,
            }
        ],
        [_AUTHENTICATED, _UNAUTHENTICATED],
    ),
    "system:basic-user": (
        [
            {
                "apiGroups": ["authorization.k8s.io"],
                "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
                "verbs": ["create"],
            },
            {
                "apiGroups": ["authentication.k8s.io"],
                "resources": ["selfsubjectreviews"],
                "verbs": ["create"],
            },
        ],
        [_AUTHENTICATED],
    ),
}


class StorePolicy:
    """``rbac.Policy`` over a cluster's storage."""

    def __init__(self, state: cluster_mod.Cluster) -> None:
        self._store = state.store

    def cluster_role_bindings(self) -> list[Obj]:
        return self._store.list(_KEY + "clusterrolebindings", None)

    def role_bindings(self, namespace: str) -> list[Obj]:
        return self._store.list(_KEY + "rolebindings", namespace)

    def cluster_role(self, name: str) -> Obj | None:
        return self._store.get((_KEY + "clusterroles", "", name))

    def role(self, namespace: str, name: str) -> Obj | None:
        return self._store.get((_KEY + "roles", namespace, name))


def _resource(state: cluster_mod.Cluster, plural: str) -> Any:
    found = state.registry.lookup(rbac.GROUP, "v1", plural)
    if found is None:
        raise errors.internal(f"no {plural} resource")
    return found


def _meta(name: str) -> Obj:
    return {"name": name, "labels": dict(_DEFAULTS_LABELS), "annotations": dict(_AUTOUPDATE)}


def ensure_bootstrap(state: cluster_mod.Cluster) -> None:
    """Create the bootstrap ClusterRoles and ClusterRoleBindings that are missing."""
    roles = _resource(state, "clusterroles")
    bindings = _resource(state, "clusterrolebindings")
    opts = cluster_mod.WriteOptions(manager="kube-apiserver")
    for name, (rules, subjects) in BOOTSTRAP.items():
        if state.store.get((roles.key, "", name)) is None:
            role = {
                "apiVersion": f"{rbac.GROUP}/v1",
                "kind": "ClusterRole",
                "metadata": _meta(name),
            }
            state.create(roles, "", {**role, "rules": rules}, opts)
        if state.store.get((bindings.key, "", name)) is None:
            binding = {
                "apiVersion": f"{rbac.GROUP}/v1",
                "kind": "ClusterRoleBinding",
                "metadata": _meta(name),
                "roleRef": {"apiGroup": rbac.GROUP, "kind": "ClusterRole", "name": name},
                "subjects": subjects,
            }
            state.create(bindings, "", binding, opts)


def _selected(selector: Obj, role: Obj) -> bool:
    return selectors.labels_match(selectors.from_label_selector(selector), role)


def aggregated_rules(role: Obj, others: list[Obj]) -> list[Obj]:
    """The rules an aggregated ClusterRole gets from ``others`` (see the module contract)."""
    found: list[Obj] = []
    chosen = (role.get("aggregationRule") or {}).get("clusterRoleSelectors") or []
    name = role["metadata"]["name"]
    for other in sorted(others, key=lambda o: str(o["metadata"]["name"])):
        if other["metadata"]["name"] == name:
            continue
        if any(_selected(selector, other) for selector in chosen):
            for rule in other.get("rules") or ():
                if rule not in found:
                    found.append(rule)
    return found


def aggregate(state: cluster_mod.Cluster) -> None:
    """Fill every aggregated ClusterRole's rules from the roles its selectors pick."""
    res = _resource(state, "clusterroles")
    roles = state.store.list(res.key, None)
    for role in roles:
        if not role.get("aggregationRule"):
            continue
        rules = aggregated_rules(role, roles)
        if rules == (role.get("rules") or []):
            continue
        updated = {**role, "rules": rules}
        state.replace(
            res, "", role["metadata"]["name"], updated, cluster_mod.WriteOptions(manager=MANAGER)
        )
