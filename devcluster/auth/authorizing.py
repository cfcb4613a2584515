"""``--authorization-mode RBAC``: authenticate, authorize impersonation, authorize the request.

Contract, after kube-apiserver's filter chain (authentication, impersonation,
authorization; health paths skip all three):

- Authentication: the server's own bearer token — or, when it has none
  (plain HTTP), no ``Authorization`` header — is the admin user
  (``identities.ADMIN``, in ``system:masters``); a service-account token is
  its ServiceAccount (``serviceaccounts.authenticate``); anything else is
  401 Unauthorized.
- Impersonation headers are authorized one by one with the verb
  ``impersonate``, as the requester: the user (resource ``users``, or
  ``serviceaccounts`` in its namespace for ``system:serviceaccount:<ns>:<n>``),
  each group (``groups``), each extra value (``userextras/<key>`` in
  ``authentication.k8s.io``) and the uid (``uids`` in
  ``authentication.k8s.io``); the first refusal is the 403. Then the request
  is served as the impersonated user (``identities.impersonated``).
- ``request_attributes`` reads the request as kube-apiserver's RequestInfo
  does: ``/api/v1/...`` and ``/apis/<g>/<v>/...`` below the group-version are
  resource requests (namespace from ``namespaces/<ns>``, then
  resource/name/subresource; GET is ``get``, or ``list``/``watch`` without a
  name, where a ``metadata.name=`` field selector names the object; DELETE
  without a name is ``deletecollection``); every other path is a
  non-resource request whose verb is the lowercased method.
- A refusal is 403 Forbidden worded as kube-apiserver words it:
  ``<resource>[.<group>] ["<name>"] is forbidden: User "<user>" cannot <verb>
  resource "<resource>[/<subresource>]" in API group "<group>" in the
  namespace "<ns>"`` (``at the cluster scope`` without a namespace), with
  ``details`` group/kind/name; a non-resource refusal is ``forbidden: User
  "<user>" cannot <verb> path "<path>"``. A reason from RBAC (roles that do
  not exist) follows after ``: ``.
- ``after_write`` runs what kube-controller-manager would after a write:
  ClusterRole aggregation and filling service-account token Secrets.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from aiohttp import web

from devcluster.auth import identities, rbac, rbacpolicy, serviceaccounts, tokens
from devcluster.endpoints import requests
from devcluster.machinery import errors, selectors
from devcluster.registry import cluster as cluster_mod

USER = "devcluster.user"
MODES = ("AlwaysAllow", "RBAC")
_METHOD_VERBS = {"GET": "get", "HEAD": "get", "POST": "create", "PUT": "update", "PATCH": "patch"}
_NAMESPACE_SUBRESOURCES = ("status", "finalize")
_AUTHENTICATION = "authentication.k8s.io"


def _resource_attributes(
    user: identities.UserInfo, method: str, segments: list[str], query: Any
) -> rbac.Attributes | None:
    if segments[:1] == ["api"] and len(segments) > 2:
        group, parts = "", segments[2:]
    elif segments[:1] == ["apis"] and len(segments) > 3:
        group, parts = segments[1], segments[3:]
    else:
        return None
    namespace = ""
    if parts[0] == "namespaces" and len(parts) > 1:
        namespace = parts[1]
        if len(parts) > 2 and parts[2] not in _NAMESPACE_SUBRESOURCES:
            parts = parts[2:]
    resource = parts[0]
    name = parts[1] if len(parts) > 1 else ""
    subresource = parts[2] if len(parts) > 2 else ""
    verb = _METHOD_VERBS.get(method, method.lower())
    if method == "DELETE":
        verb = "delete" if name else "deletecollection"
    if verb == "get" and not name:
        verb = "watch" if requests.flag(query, "watch") else "list"
        for requirement in selectors.parse_fields(query.get("fieldSelector")):
            if requirement.path == ("metadata", "name") and not requirement.negate:
                name = requirement.value
    return rbac.Attributes(
        user=user,
        verb=verb,
        namespace=namespace,
        group=group,
        resource=resource,
        subresource=subresource,
        name=name,
    )


def request_attributes(user: identities.UserInfo, request: web.Request) -> rbac.Attributes:
    """What one HTTP request asks, as the authorizer sees it (see the module contract)."""
    path = request.path
    segments = [segment for segment in path.split("/") if segment]
    found = _resource_attributes(user, request.method, segments, request.query)
    if found is not None:
        return found
    return rbac.Attributes(
        user=user, verb=request.method.lower(), resource_request=False, path=path
    )


def forbidden(attributes: rbac.Attributes, reason: str = "") -> errors.ApiError:
    """The 403 kube-apiserver answers for a refused request."""
    who = f'User "{attributes.user.username}"'
    if not attributes.resource_request:
        message = f'forbidden: {who} cannot {attributes.verb} path "{attributes.path}"'
        if reason:
            message = f"{message}: {reason}"
        return errors.ApiError(403, "Forbidden", message, details={})
    resource = attributes.resource
    if attributes.subresource:
        resource = f"{resource}/{attributes.subresource}"
    scope = (
        f'in the namespace "{attributes.namespace}"'
        if attributes.namespace
        else "at the cluster scope"
    )
    why = (
        f'{who} cannot {attributes.verb} resource "{resource}" in API group '
        f'"{attributes.group}" {scope}'
    )
    if reason:
        why = f"{why}: {reason}"
    qualified = (
        f"{attributes.resource}.{attributes.group}" if attributes.group else attributes.resource
    )
    named = f' "{attributes.name}"' if attributes.name else ""
    return errors.forbidden(
        f"{qualified}{named} is forbidden: {why}",
        group=attributes.group,
        plural=attributes.resource,
        name=attributes.name,
    )


def impersonation_failure(
    request: web.Request, error: identities.ImpersonationError
) -> web.Response:
    """The impersonation filter's plain-text 500 (``http.Error``, no Status object)."""
    path = json.dumps(request.raw_path, ensure_ascii=False)
    return web.Response(status=500, text=f"Internal Server Error: {path}: {error}\n")


def _impersonation_checks(
    requester: identities.UserInfo, wanted: identities.Impersonation
) -> list[rbac.Attributes]:
    def check(
        resource: str, name: str, *, namespace: str = "", group: str = "", subresource: str = ""
    ) -> rbac.Attributes:
        return rbac.Attributes(
            user=requester,
            verb="impersonate",
            resource=resource,
            name=name,
            namespace=namespace,
            group=group,
            subresource=subresource,
        )

    account = wanted.service_account()
    if account is not None:
        checks = [check("serviceaccounts", account[1], namespace=account[0])]
    else:
        checks = [check("users", wanted.user)]
    checks.extend(check("groups", group) for group in wanted.groups)
    checks.extend(
        check("userextras", value, group=_AUTHENTICATION, subresource=key)
        for key, values in wanted.extra
        for value in values
    )
    if wanted.uid:
        checks.append(check("uids", wanted.uid, group=_AUTHENTICATION))
    return checks


class Gate:
    """Authentication and RBAC authorization of every request to one cluster."""

    def __init__(
        self,
        state: cluster_mod.Cluster,
        *,
        token: str | None,
        issuer: tokens.Issuer,
        ca: bytes = b"",
    ) -> None:
        self.state = state
        self.token = token
        self.issuer = issuer
        self.ca = ca
        self.authorizer = rbac.Authorizer(rbacpolicy.StorePolicy(state))

    def authenticate(self, request: web.Request) -> identities.UserInfo:
        given = request.headers.get("Authorization", "")
        if not given:
            if self.token is None:
                return identities.ADMIN
            raise errors.unauthorized()
        scheme, _, bearer = given.partition(" ")
        bearer = bearer.strip()
        if scheme.lower() != "bearer" or not bearer:
            raise errors.unauthorized()
        if self.token is not None and secrets.compare_digest(bearer.encode(), self.token.encode()):
            return identities.ADMIN
        user = serviceaccounts.authenticate(self.state, self.issuer, bearer)
        if user is None:
            raise errors.unauthorized()
        return user

    def admit(self, request: web.Request) -> identities.UserInfo:
        """The user the request is served as; raises 401/403 ``ApiError``s.

        Raises ``identities.ImpersonationError`` for a group, uid or extra
        without a user (``impersonation_failure`` words the answer).
        """
        user = self.authenticate(request)
        wanted = identities.asked(request.headers.items())
        if wanted is not None:
            for attributes in _impersonation_checks(user, wanted):
                decision = self.authorizer.authorize(attributes)
                if not decision.allowed:
                    raise forbidden(attributes, decision.reason)
            user = identities.impersonated(wanted)
        attributes = request_attributes(user, request)
        decision = self.authorizer.authorize(attributes)
        if not decision.allowed:
            raise forbidden(attributes, decision.reason)
        request[USER] = user
        return user

    def after_write(self, target: requests.Target) -> None:
        key = target.resource.key
        if key == rbac.GROUP + "/clusterroles":
            rbacpolicy.aggregate(self.state)
        elif key == "/secrets" and target.namespace:
            serviceaccounts.fill_token_secrets(
                self.state, self.issuer, namespace=target.namespace, ca=self.ca
            )
