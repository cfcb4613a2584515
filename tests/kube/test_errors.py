"""API answers become our error types, in one place."""

from __future__ import annotations

import json

import aiohttp
import pytest
from kubernetes_asyncio.client import exceptions as kube_exceptions

from shared.kube import errors


def _status(code: int, reason: str, message: str, **details: object) -> str:
    return json.dumps(
        {
            "kind": "Status",
            "apiVersion": "v1",
            "status": "Failure",
            "code": code,
            "reason": reason,
            "message": message,
            "details": details,
        }
    )


@pytest.mark.parametrize(
    ("code", "reason", "cls"),
    [
        (400, "BadRequest", errors.BadRequestError),
        (401, "Unauthorized", errors.UnauthorizedError),
        (403, "Forbidden", errors.ForbiddenError),
        (404, "NotFound", errors.NotFoundError),
        (409, "Conflict", errors.ConflictError),
        (409, "AlreadyExists", errors.AlreadyExistsError),
        (410, "Expired", errors.GoneError),
        (422, "Invalid", errors.InvalidError),
        (429, "TooManyRequests", errors.TooManyRequestsError),
        (500, "InternalError", errors.ServerError),
        (503, "ServiceUnavailable", errors.ServerError),
        (418, "Teapot", errors.KubeError),
    ],
)
def test_status_code_and_reason_pick_the_class(code: int, reason: str, cls: type) -> None:
    error = errors.from_status(code, _status(code, reason, "it failed"))

    assert type(error) is cls
    assert (error.status, error.reason, error.message) == (code, reason, "it failed")


def test_field_manager_conflicts_are_listed() -> None:
    body = _status(
        409,
        "Conflict",
        'Apply failed with 1 conflict: conflict with "kubectl": .spec.replicas',
        causes=[
            {
                "reason": "FieldManagerConflict",
                "message": 'conflict with "kubectl"',
                "field": ".spec.replicas",
            }
        ],
    )

    error = errors.from_status(409, body.encode())

    assert isinstance(error, errors.ConflictError)
    assert error.field_conflicts == ['conflict with "kubectl": .spec.replicas']


def test_a_non_status_body_becomes_the_message() -> None:
    error = errors.from_status(502, b"bad gateway\n")

    assert isinstance(error, errors.ServerError)
    assert error.message == "bad gateway"


def test_kubernetes_asyncio_exceptions_are_translated() -> None:
    raw = kube_exceptions.ApiException(status=404, reason="Not Found")
    raw.body = _status(404, "NotFound", 'configmaps "x" not found').encode()

    error = errors.translate(raw)

    assert isinstance(error, errors.NotFoundError)
    assert error.message == 'configmaps "x" not found'


@pytest.mark.parametrize(
    "raw",
    [aiohttp.ClientConnectionError("refused"), TimeoutError(), ConnectionRefusedError()],
)
def test_transport_failures_mean_unreachable(raw: BaseException) -> None:
    assert isinstance(errors.translate(raw), errors.UnreachableError)


def test_other_exceptions_are_not_api_errors() -> None:
    with pytest.raises(TypeError, match="not an API error"):
        errors.translate(ValueError("x"))
