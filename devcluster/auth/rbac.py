"""RBAC evaluation: does a user's request match a rule bound to them.

Contract, after kube-apiserver's RBAC authorizer:

- ``Attributes`` is what is asked: a resource request (verb, API group,
  resource, subresource, name, namespace) or a non-resource one (verb, path).
- ``rule_allows``: the verb matches (``*`` or equal); for a resource request
  the API group (``*`` or equal), the resource (``*``, equal to
  ``resource[/subresource]``, or ``*/<subresource>``) and the resource names
  (none listed, or the name among them — so a rule with names never allows
  list/create of the collection); for a non-resource request the URL (``*``,
  equal, or a ``prefix*`` the path starts with).
- A subject applies to a user by name (``User``), by membership (``Group``),
  or as ``system:serviceaccount:<ns>:<name>`` (``ServiceAccount``; a missing
  namespace is the binding's own).
- ``Authorizer.authorize`` allows members of ``system:masters`` outright (the
  privileged-group authorizer that runs before RBAC), then every
  ClusterRoleBinding, then the RoleBindings of the request's namespace; the
  first matching rule allows with the reason ``RBAC: allowed by <binding>``.
  A denial's reason lists the roles the bindings named that do not exist
  (``RBAC: clusterrole.rbac.authorization.k8s.io "x" not found``), else it is
  empty. ``rules_for`` lists what the same bindings grant in one namespace.

Pure: the policy objects come from a ``Policy`` (the server reads its store).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from typing import Any, Protocol

from devcluster.auth import identities

Obj = dict[str, Any]
GROUP = "rbac.authorization.k8s.io"
MASTERS = "system:masters"


@dataclasses.dataclass(frozen=True)
class Attributes:
    """One request as the authorizer sees it."""

    user: identities.UserInfo
    verb: str
    resource_request: bool = True
    namespace: str = ""
    group: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""
    path: str = ""


@dataclasses.dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""


class Policy(Protocol):
    """Where the RBAC objects are read from."""

    def cluster_role_bindings(self) -> list[Obj]: ...

    def role_bindings(self, namespace: str) -> list[Obj]: ...

    def cluster_role(self, name: str) -> Obj | None: ...

    def role(self, namespace: str, name: str) -> Obj | None: ...


def _matches(wanted: str, allowed: Iterable[str]) -> bool:
    return any(item == "*" or item == wanted for item in allowed)


def _resource_matches(rule: Obj, resource: str, subresource: str) -> bool:
    combined = f"{resource}/{subresource}" if subresource else resource
    for item in rule.get("resources") or ():
        if item in ("*", combined):
            return True
        if subresource and item == f"*/{subresource}":
            return True
    return False


def _url_matches(rule: Obj, path: str) -> bool:
    for url in rule.get("nonResourceURLs") or ():
        if url in ("*", path):
            return True
        if url.endswith("*") and path.startswith(url.rstrip("*")):
            return True
    return False


def rule_allows(rule: Obj, attributes: Attributes) -> bool:
    """Whether one PolicyRule allows the request (see the module contract)."""
    if not _matches(attributes.verb, rule.get("verbs") or ()):
        return False
    if not attributes.resource_request:
        return _url_matches(rule, attributes.path)
    names = rule.get("resourceNames") or ()
    return (
        _matches(attributes.group, rule.get("apiGroups") or ())
        and _resource_matches(rule, attributes.resource, attributes.subresource)
        and (not names or attributes.name in names)
    )


def applies(subject: Obj, user: identities.UserInfo, binding_namespace: str) -> bool:
    """Whether a binding's subject names this user."""
    kind, name = subject.get("kind"), subject.get("name", "")
    if kind == "User":
        return bool(user.username == name)
    if kind == "Group":
        return name in user.groups
    if kind == "ServiceAccount":
        namespace = subject.get("namespace") or binding_namespace
        return bool(namespace) and user.username == (
            f"{identities.SERVICE_ACCOUNT_PREFIX}{namespace}:{name}"
        )
    return False


def _describe_subject(subject: Obj, binding_namespace: str) -> str:
    name = subject.get("name", "")
    if subject.get("kind") == "ServiceAccount":
        name = f"{name}/{subject.get('namespace') or binding_namespace}"
    return f'{subject.get("kind")} "{name}"'


@dataclasses.dataclass(frozen=True)
class _Grant:
    """The rules one binding gives one matching subject."""

    source: str
    rules: tuple[Obj, ...]


def _role_of(policy: Policy, binding: Obj, namespace: str) -> tuple[Obj | None, str]:
    ref = binding.get("roleRef") or {}
    kind, name = ref.get("kind", ""), ref.get("name", "")
    if kind == "ClusterRole":
        role = policy.cluster_role(name)
    elif kind == "Role" and namespace:
        role = policy.role(namespace, name)
    else:
        return None, f"unknown roleRef kind {kind!r}"
    if role is None:
        return None, f'{kind.lower()}.{GROUP} "{name}" not found'
    return role, ""


def _grants(
    policy: Policy, user: identities.UserInfo, namespace: str, failures: list[str]
) -> Iterator[_Grant]:
    """Every binding's grant to ``user``: the cluster's, then ``namespace``'s."""
    scopes: list[tuple[str, list[Obj]]] = [("", policy.cluster_role_bindings())]
    if namespace:
        scopes.append((namespace, policy.role_bindings(namespace)))
    for scope, bindings in scopes:
        for binding in bindings:
            subject = next(
                (s for s in binding.get("subjects") or () if applies(s, user, scope)), None
            )
            if subject is None:
                continue
            role, failure = _role_of(policy, binding, scope)
            if role is None:
                failures.append(failure)
                continue
            ref = binding["roleRef"]
            name = binding["metadata"]["name"]
            kind = "RoleBinding" if scope else "ClusterRoleBinding"
            if scope:
                name = f"{name}/{scope}"
            source = (
                f'{kind} "{name}" of {ref.get("kind")} "{ref.get("name")}" to '
                + _describe_subject(subject, scope)
            )
            yield _Grant(source, tuple(role.get("rules") or ()))


def _failed(failures: list[str]) -> str:
    if not failures:
        return ""
    joined = failures[0] if len(failures) == 1 else "[" + ", ".join(failures) + "]"
    return f"RBAC: {joined}"


class Authorizer:
    """Decides requests by the RBAC objects of one ``Policy``."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy

    def authorize(self, attributes: Attributes) -> Decision:
        if MASTERS in attributes.user.groups:
            return Decision(True)
        failures: list[str] = []
        for grant in _grants(self.policy, attributes.user, attributes.namespace, failures):
            if any(rule_allows(rule, attributes) for rule in grant.rules):
                return Decision(True, f"RBAC: allowed by {grant.source}")
        return Decision(False, _failed(failures))

    def rules_for(self, user: identities.UserInfo, namespace: str) -> tuple[list[Obj], str]:
        """The PolicyRules bound to ``user`` in ``namespace``, and what could not be read."""
        failures: list[str] = []
        rules = [
            rule
            for grant in _grants(self.policy, user, namespace, failures)
            for rule in grant.rules
        ]
        return rules, _failed(failures)
