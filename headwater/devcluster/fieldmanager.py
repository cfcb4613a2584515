"""Server-side apply and managedFields tracking (SSA spec, /work/shared/reference).

Two entry points, both pure (the caller does storage, admission, validation):

- ``apply`` — a PATCH with ``application/apply-patch+yaml``: merges the
  applier's configuration into the live object, records the applier's
  ownership, prunes fields it stopped applying, and raises ``ConflictError``
  (409, with the API server's exact message and causes) when it would change a
  field another manager owns, unless ``force``.
- ``update`` — every other write (POST, PUT, merge/JSON/strategic patch, on the
  main resource or a subresource): credits the fields the request added or
  changed to the ``Update`` entry of the manager and takes them away from
  everyone else.

Both return the new object with ``metadata.managedFields`` set (or removed
when no entry is left). Neither sets resourceVersion, uid, generation or
timestamps other than managedFields ``time``; the caller still runs its
strategy (copy of reset fields for PUT, generation), defaulting and
validation, then compares with the stored object and skips the write when
nothing changed (spec §4 step 9).

Checks the caller does first (it knows the URL): body apiVersion/kind equal
the endpoint's GVK, name/namespace equal the URL's, a body
``metadata.resourceVersion`` precondition, ``fieldManager`` presence for apply
(``check_manager``), ``force`` only with apply.

Conflict/validation failures are ``FieldManagerError`` subclasses carrying the
HTTP code and a ready Kubernetes ``Status`` body (``.status()``).
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Callable
from typing import Any

from headwater.devcluster import fieldpaths, typeinfo

Object = dict[str, Any]
Defaulter = Callable[[Object], Object]


class FieldManagerError(Exception):
    """A request the field manager rejects; ``status()`` is the response body."""

    code: int
    reason: str

    def __init__(self, message: str, *, code: int, reason: str) -> None:
        raise NotImplementedError

    def causes(self) -> list[dict[str, str]]:
        """``details.causes`` of the Status (empty unless a conflict)."""
        raise NotImplementedError

    def status(self) -> dict[str, Any]:
        """The ``kind: Status`` response body."""
        raise NotImplementedError


@dataclasses.dataclass(frozen=True)
class Conflict:
    """One conflicting (manager, path) pair.

    ``manager`` is the formatted identifier: ``"name"``, then
    `` with subresource "status"``, then `` using <apiVersion>`` for Update entries.
    """

    manager: str
    path: fieldpaths.Path


class ConflictError(FieldManagerError):
    """409 ``Apply failed with N conflict(s): …`` with one cause per conflict."""

    conflicts: tuple[Conflict, ...]

    def __init__(self, conflicts: tuple[Conflict, ...]) -> None:
        raise NotImplementedError


def check_manager(manager: str | None, *, apply: bool) -> None:
    """Raise 422 when an apply has no ``fieldManager`` or any name is > 128 chars/non-printable."""
    raise NotImplementedError


def manager_from_user_agent(user_agent: str | None) -> str:
    """The default manager of an Update: User-Agent up to the first ``/``, else ``unknown``."""
    raise NotImplementedError


def apply(
    live: Object | None,
    config: Object,
    *,
    manager: str,
    schema: typeinfo.Struct,
    now: datetime.datetime,
    force: bool = False,
    subresource: str = "",
    status_subresource: bool = False,
    defaulter: Defaulter | None = None,
) -> Object:
    """Server-side apply ``config`` (the decoded request body) by ``manager``.

    ``live`` is the stored object or ``None`` to create. ``schema`` is the
    kind's top-level type. ``subresource`` is ``""`` or ``"status"``;
    ``status_subresource`` says whether the kind has one (then ``status`` is
    a reset field of the main resource, and ``spec`` of ``/status``).
    ``defaulter`` (optional) fills the kind's defaults into a changed result,
    so a field whose applier let go of it comes back with its default and no
    owner. When ``manager == "kubectl"`` the last-applied annotation is
    honoured and rewritten as kubectl expects (spec §4).

    Raises ``FieldManagerError`` (400: managedFields in the body, unknown
    field, duplicate list keys; 409: uid on create) and ``ConflictError``.
    """
    raise NotImplementedError


def update(
    old: Object | None,
    new: Object,
    *,
    manager: str,
    schema: typeinfo.Struct,
    now: datetime.datetime,
    subresource: str = "",
    status_subresource: bool = False,
) -> Object:
    """Track an Update by ``manager`` that turns ``old`` (``None`` on create) into ``new``.

    ``new`` is the defaulted request result as the caller will store it.
    Its ``metadata.managedFields`` decides the starting entries: absent →
    those of ``old``; ``[]`` or ``[{}]`` → reset to none; a decodable list →
    used as sent (ignored for subresource requests). With no starting entries
    on an existing object nothing is tracked. Never raises for ownership.
    """
    raise NotImplementedError


def reset_fields(
    *, api_version: str, kind: str, subresource: str, status_subresource: bool
) -> fieldpaths.FieldSet:
    """Fields the strategy resets for this endpoint (removed from every set and comparison)."""
    raise NotImplementedError
