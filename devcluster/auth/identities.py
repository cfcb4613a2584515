"""Who a request comes from: the devcluster's one user, or whom it impersonates.

Contract:

- The devcluster authenticates every request as one fixed user, ``ADMIN``:
  ``kubernetes-admin`` in the groups ``system:masters`` and
  ``system:authenticated`` (the identity of the admin client certificate
  kubeadm and kind write), whether it came with the ``--tls`` bearer token or,
  over plain HTTP, with none.
- Impersonation headers replace that user as kube-apiserver's impersonation
  filter does (allowed outright in allow-all mode; under RBAC only with the
  ``impersonate`` verb, see ``authorizing``): ``Impersonate-User`` names the user;
  ``system:serviceaccount:<ns>:<name>`` (a valid namespace and name) is a
  service account, given ``system:serviceaccounts`` and
  ``system:serviceaccounts:<ns>`` unless groups are asked for;
  ``Impersonate-Group`` (repeatable) adds groups, ``Impersonate-Uid`` sets the
  uid, ``Impersonate-Extra-<key>`` adds extra values (the key lowercased, then
  percent-decoded). ``system:authenticated`` is appended unless
  ``system:authenticated`` or ``system:unauthenticated`` is among the groups;
  for ``system:anonymous``, ``system:unauthenticated`` is.
- A group, uid or extra without ``Impersonate-User`` raises
  ``ImpersonationError`` (the API server answers 500 with a plain-text body).

Under the default allow-all mode only the reviews consult the identity;
with ``--authorization-mode RBAC`` the server authenticates bearer tokens
and authorizes the impersonation first (``authorizing``). Pure: no I/O.
"""

from __future__ import annotations

import dataclasses
import urllib.parse
from collections.abc import Iterable

from devcluster.machinery import objects

USER_HEADER = "Impersonate-User"
GROUP_HEADER = "Impersonate-Group"
UID_HEADER = "Impersonate-Uid"
EXTRA_PREFIX = "impersonate-extra-"
AUTHENTICATED = "system:authenticated"
UNAUTHENTICATED = "system:unauthenticated"
ANONYMOUS = "system:anonymous"
SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"
_AUTHENTICATION_V1 = "authentication.k8s.io/v1"


@dataclasses.dataclass(frozen=True)
class UserInfo:
    """An authenticated user, as ``user.Info`` carries it."""

    username: str
    groups: tuple[str, ...] = ()
    uid: str = ""
    extra: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def as_json(self) -> dict[str, object]:
        """The ``authentication.k8s.io/v1`` ``UserInfo`` (empty fields omitted, as Go does)."""
        info: dict[str, object] = {"username": self.username}
        if self.uid:
            info["uid"] = self.uid
        if self.groups:
            info["groups"] = list(self.groups)
        if self.extra:
            info["extra"] = {key: list(values) for key, values in self.extra}
        return info


ADMIN = UserInfo("kubernetes-admin", ("system:masters", AUTHENTICATED))


class ImpersonationError(Exception):
    """Impersonation headers the API server refuses (it answers 500)."""


def _service_account(username: str) -> tuple[str, str] | None:
    """(namespace, name) of a valid service-account username, as SplitUsername parses it."""
    if not username.startswith(SERVICE_ACCOUNT_PREFIX):
        return None
    parts = username[len(SERVICE_ACCOUNT_PREFIX) :].split(":")
    if len(parts) != 2:
        return None
    namespace, name = parts
    if not namespace or objects.validate_name(namespace, plural="namespaces"):
        return None
    if not name or objects.validate_name(name, plural="serviceaccounts"):
        return None
    return namespace, name


def _reference(kind: str, name: str, *, api_version: str = "", field_path: str = "") -> str:
    """Go's ``%v`` of the ``v1.ObjectReference`` the filter builds for one request."""
    # Kind, Namespace, Name, UID, APIVersion, ResourceVersion, FieldPath.
    return "{" + " ".join((kind, "", name, "", api_version, "", field_path)) + "}"


@dataclasses.dataclass(frozen=True)
class Impersonation:
    """What the impersonation headers of one request ask for, as sent."""

    user: str
    groups: tuple[str, ...] = ()
    uid: str = ""
    extra: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def service_account(self) -> tuple[str, str] | None:
        """(namespace, name) when the user asked for is a service account."""
        return _service_account(self.user)


def asked(headers: Iterable[tuple[str, str]]) -> Impersonation | None:
    """The impersonation these ``(name, value)`` headers ask for; ``None`` when none."""
    user = ""
    uid = ""
    groups: list[str] = []
    extra: dict[str, list[str]] = {}
    for name, value in headers:
        lowered = name.lower()
        if lowered == USER_HEADER.lower():
            user = user or value
        elif lowered == GROUP_HEADER.lower():
            groups.append(value)
        elif lowered == UID_HEADER.lower():
            uid = uid or value
        elif lowered.startswith(EXTRA_PREFIX):
            key = urllib.parse.unquote(lowered[len(EXTRA_PREFIX) :])
            extra.setdefault(key, []).append(value)
    # The filter's order: groups, extras, then the uid.
    references = [_reference("Group", group) for group in groups]
    references.extend(
        _reference("UserExtra", value, api_version=_AUTHENTICATION_V1, field_path=key)
        for key, values in extra.items()
        for value in values
    )
    if uid:
        references.append(_reference("UID", uid, api_version=_AUTHENTICATION_V1))
    if not user:
        if references:
            raise ImpersonationError(
                f"requested [{' '.join(references)}] without impersonating a user"
            )
        return None
    return Impersonation(
        user=user,
        groups=tuple(groups),
        uid=uid,
        extra=tuple((key, tuple(values)) for key, values in extra.items()),
    )


def impersonated(wanted: Impersonation) -> UserInfo:
    """The user a request is served as once its impersonation is allowed."""
    groups = list(wanted.groups)
    account = wanted.service_account()
    if account is not None and not groups:
        groups = ["system:serviceaccounts", f"system:serviceaccounts:{account[0]}"]
    if wanted.user == ANONYMOUS:
        if UNAUTHENTICATED not in groups:
            groups.append(UNAUTHENTICATED)
    elif AUTHENTICATED not in groups and UNAUTHENTICATED not in groups:
        groups.append(AUTHENTICATED)
    return UserInfo(username=wanted.user, groups=tuple(groups), uid=wanted.uid, extra=wanted.extra)


def requester(headers: Iterable[tuple[str, str]], *, authenticated: UserInfo = ADMIN) -> UserInfo:
    """The user a request with these ``(name, value)`` headers is served as."""
    wanted = asked(headers)
    return authenticated if wanted is None else impersonated(wanted)


def service_account_user(namespace: str, name: str, uid: str = "") -> UserInfo:
    """The user a ServiceAccount's token authenticates as."""
    return UserInfo(
        username=f"{SERVICE_ACCOUNT_PREFIX}{namespace}:{name}",
        groups=("system:serviceaccounts", f"system:serviceaccounts:{namespace}", AUTHENTICATED),
        uid=uid,
    )
