"""Who a request comes from: the devcluster's one user, or whom it impersonates.

Contract:

- The devcluster authenticates every request as one fixed user, ``ADMIN``:
  ``kubernetes-admin`` in the groups ``system:masters`` and
  ``system:authenticated`` (the identity of the admin client certificate
  kubeadm and kind write), whether it came with the ``--tls`` bearer token or,
  over plain HTTP, with none.
- Impersonation headers replace that user as kube-apiserver's impersonation
  filter does (the devcluster authorizes everything, so every impersonation
  is allowed): ``Impersonate-User`` names the user;
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

Only the reviews consult the identity: the devcluster does not authorize, so
no other answer depends on who asks. Pure: no I/O.
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


def requester(headers: Iterable[tuple[str, str]]) -> UserInfo:
    """The user a request with these ``(name, value)`` headers is served as."""
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
    asked = [_reference("Group", group) for group in groups]
    asked.extend(
        _reference("UserExtra", value, api_version=_AUTHENTICATION_V1, field_path=key)
        for key, values in extra.items()
        for value in values
    )
    if uid:
        asked.append(_reference("UID", uid, api_version=_AUTHENTICATION_V1))
    if not user:
        if asked:
            raise ImpersonationError(f"requested [{' '.join(asked)}] without impersonating a user")
        return ADMIN
    account = _service_account(user)
    if account is not None and not groups:
        groups = ["system:serviceaccounts", f"system:serviceaccounts:{account[0]}"]
    if user == ANONYMOUS:
        if UNAUTHENTICATED not in groups:
            groups.append(UNAUTHENTICATED)
    elif AUTHENTICATED not in groups and UNAUTHENTICATED not in groups:
        groups.append(AUTHENTICATED)
    return UserInfo(
        username=user,
        groups=tuple(groups),
        uid=uid,
        extra=tuple((key, tuple(values)) for key, values in extra.items()),
    )
