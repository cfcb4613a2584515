"""Kubernetes API errors, translated from the HTTP layer in exactly one place.

::

    KubeError                     any failed API call (``status``, ``reason``, ``details``)
    ├── BadRequestError           400 (malformed request, Strict field validation)
    ├── UnauthorizedError         401
    ├── ForbiddenError            403 (RBAC, impersonation)
    ├── NotFoundError             404
    ├── ConflictError             409 reason Conflict: stale resourceVersion or SSA field conflict
    │   └── (``field_conflicts`` lists the FieldManagerConflict causes)
    ├── AlreadyExistsError        409 reason AlreadyExists
    ├── GoneError                 410 (watch from an expired resourceVersion)
    ├── InvalidError              422 (schema violations, immutable fields; ``causes``)
    ├── TooManyRequestsError      429
    ├── ServerError               5xx
    ├── UnreachableError          no HTTP answer (connection refused, timeout, TLS)
    └── ThrottledError            an advisory request not sent: no spare rate-limit token

``from_status`` builds the right class from a ``kind: Status`` body and an
HTTP code; ``translate`` maps kubernetes-asyncio and aiohttp exceptions.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import aiohttp


class KubeError(Exception):
    """A Kubernetes API call failed."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 0,
        reason: str = "",
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.reason = reason
        self.details = details or {}

    @property
    def causes(self) -> list[dict[str, Any]]:
        causes: list[dict[str, Any]] = self.details.get("causes") or []
        return causes


class BadRequestError(KubeError):
    pass


class UnauthorizedError(KubeError):
    pass


class ForbiddenError(KubeError):
    pass


class NotFoundError(KubeError):
    pass


class ConflictError(KubeError):
    """409 Conflict: a stale resourceVersion, or fields owned by another manager."""

    @property
    def field_conflicts(self) -> list[str]:
        """The ``FieldManagerConflict`` causes: ``conflict with "<manager>": <field>``."""
        return [
            f"{cause.get('message', 'conflict')}: {cause.get('field', '')}"
            for cause in self.causes
            if cause.get("reason") == "FieldManagerConflict"
        ]


class AlreadyExistsError(KubeError):
    pass


class GoneError(KubeError):
    pass


class InvalidError(KubeError):
    pass


class TooManyRequestsError(KubeError):
    pass


class ServerError(KubeError):
    pass


class UnreachableError(KubeError):
    pass


class ThrottledError(KubeError):
    """An advisory request (``Client.request(advisory=True)``) was not sent.

    The client-side rate limit had no token to spare (``TokenBucket.take_spare``);
    nothing reached the server.
    """


_BY_STATUS: dict[int, type[KubeError]] = {
    400: BadRequestError,
    401: UnauthorizedError,
    403: ForbiddenError,
    404: NotFoundError,
    409: ConflictError,
    410: GoneError,
    422: InvalidError,
    429: TooManyRequestsError,
}


def from_status(code: int, body: dict[str, Any] | str | bytes | None) -> KubeError:
    """The error for an HTTP ``code`` and its body (ideally a ``kind: Status``)."""
    status: dict[str, Any] = {}
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str):
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            status = parsed
        elif body.strip():
            status = {"message": body.strip()}
    elif isinstance(body, dict):
        status = body
    reason = str(status.get("reason") or "")
    message = str(status.get("message") or f"the server answered {code} {reason}".strip())
    details = status.get("details") if isinstance(status.get("details"), dict) else None
    cls: type[KubeError]
    if code == 409 and reason == "AlreadyExists":
        cls = AlreadyExistsError
    elif code >= 500:
        cls = ServerError
    else:
        cls = _BY_STATUS.get(code, KubeError)
    return cls(message, status=code, reason=reason, details=details)


def translate(error: BaseException) -> KubeError:
    """Our error for a kubernetes-asyncio or aiohttp exception (others pass through as-is)."""
    if isinstance(error, KubeError):
        return error
    # NB: kubernetes-asyncio's client is imported only by exec/auth-provider
    # loading (and tests); when it is not loaded, no error can be its ApiException.
    kube_exceptions = sys.modules.get("kubernetes_asyncio.client.exceptions")
    if kube_exceptions is not None and isinstance(error, kube_exceptions.ApiException):
        return from_status(int(error.status or 0), error.body)
    if isinstance(error, aiohttp.ClientResponseError):
        return from_status(error.status, error.message)
    if isinstance(error, aiohttp.ClientError | TimeoutError | OSError):
        return UnreachableError(f"the Kubernetes API is unreachable: {error}")
    raise TypeError(f"not an API error: {error!r}") from error
