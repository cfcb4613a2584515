"""The Receiver's pure parts: spec invariants, webhook paths, delivery ids, CEL filters."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from controllers.notification.receiver import filtering, reconciler, server, tokens
from shared.api import meta, notification


def _spec(**fields: Any) -> notification.ReceiverSpec:
    # NB: model_construct skips the CEL rules, as an API server without them would.
    return notification.ReceiverSpec.model_construct(
        **{"type": "generic", "resources": [], "secret_ref": None, "oidc_providers": None,
           **fields}
    )  # fmt: skip


_SECRET = meta.LocalObjectReference(name="token")
_PROVIDER = notification.OIDCProvider.model_construct(issuer_url="https://issuer", validations=[])


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        (_spec(secret_ref=_SECRET), None),
        (_spec(), "secretRef is required when type is not generic-oidc"),
        (_spec(type="generic-oidc"), "generic-oidc receiver requires at least one oidcProvider"),
        (_spec(secret_ref=_SECRET, oidc_providers=[_PROVIDER]),
         "oidcProviders can only be set when type is generic-oidc"),
        (_spec(type="generic-oidc", oidc_providers=[_PROVIDER], secret_ref=_SECRET),
         "secretRef cannot be set when type is generic-oidc"),
        (_spec(type="generic-oidc", oidc_providers=[_PROVIDER]), None),
    ],
)  # fmt: skip
def test_spec_invariants_as_flux_words_them(
    spec: notification.ReceiverSpec, problem: str | None
) -> None:
    assert reconciler.spec_problem(spec) == problem


def test_the_webhook_path_is_the_sha256_of_token_name_and_namespace() -> None:
    digest = hashlib.sha256(b"tokenreceiverflux-system").hexdigest()
    assert tokens.webhook_path("token", name="receiver", namespace="flux-system") == (
        f"/hook/{digest}"
    )


def test_a_claimed_delivery_is_refused_until_released() -> None:
    deliveries = server.Deliveries()
    assert deliveries.claim("ns/r/1")
    assert not deliveries.claim("ns/r/1")
    deliveries.release("ns/r/1")
    assert deliveries.claim("ns/r/1")


def test_the_oldest_delivery_is_forgotten_beyond_capacity() -> None:
    deliveries = server.Deliveries(capacity=2)
    assert deliveries.claim("a")
    assert deliveries.claim("b")
    assert deliveries.claim("c")
    assert deliveries.claim("a")
    assert not deliveries.claim("c")


def test_deliveries_outside_the_window_are_forgotten() -> None:
    deliveries = server.Deliveries(window=-1.0)
    assert deliveries.claim("a")
    assert deliveries.claim("a")


RES = {"apiVersion": "v1", "kind": "GitRepository", "metadata": {"name": "app", "labels": {}}}


@pytest.mark.parametrize(
    ("sources", "req", "accepted"),
    [
        ([], {}, True),
        (["res.metadata.name == 'app'"], {}, True),
        (["res.metadata.name == 'other'"], {}, False),
        (["req.repo == res.metadata.name", "true"], {"repo": "app"}, True),
        (["req.repo == res.metadata.name", "false"], {"repo": "app"}, False),
        ([None, "res.kind == 'GitRepository'"], {}, True),
    ],
)
def test_filters_and_their_conjunction(
    sources: list[str | None], req: dict[str, str], accepted: bool
) -> None:
    assert filtering.Filter(sources, req=req).accepts(RES) is accepted


def test_a_filter_that_is_not_boolean_fails() -> None:
    with pytest.raises(filtering.FilterError, match="not a boolean"):
        filtering.Filter(["res.metadata.name"], req={}).accepts(RES)


def test_a_filter_on_a_missing_field_fails() -> None:
    with pytest.raises(filtering.FilterError):
        filtering.Filter(["req.missing.field == 'x'"], req={}).accepts(RES)


def test_an_unparsable_filter_is_invalid() -> None:
    with pytest.raises(filtering.InvalidFilterError):
        filtering.check("res.metadata.name ==")


@pytest.mark.parametrize(
    ("content_type", "body", "req"),
    [
        ("application/json", b'{"a": 1}', {"a": 1}),
        ("application/json; charset=utf-8", b"null", {}),
        ("text/plain", b"not json", {}),
    ],
)
def test_req_is_the_json_body_only_when_sent_as_json(
    content_type: str, body: bytes, req: dict[str, int]
) -> None:
    assert filtering.request_values(content_type=content_type, body=body) == req


def test_a_json_body_that_does_not_decode_is_an_error() -> None:
    with pytest.raises(ValueError, match="failed to parse request body as JSON"):
        filtering.request_values(content_type="application/json", body=b"{")
