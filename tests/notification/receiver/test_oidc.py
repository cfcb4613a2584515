"""OIDC ID tokens for generic-oidc Receivers, verified against a local issuer."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from controllers.notification.receiver import oidc
from shared.api import notification
from tests.fixtures import oidcissuer


@pytest.fixture
async def issuer() -> AsyncIterator[oidcissuer.OIDCIssuer]:
    async with oidcissuer.serving_issuer() as serving:
        yield serving


def _provider(issuer: str, **spec: Any) -> notification.OIDCProvider:
    return notification.OIDCProvider.model_validate(
        {
            "issuerURL": issuer,
            "validations": [
                {"expression": "claims.repository == 'org/app'", "message": "wrong repository"}
            ],
            **spec,
        }
    )


CLAIMS = {"aud": "notification-controller", "sub": "repo:org/app", "repository": "org/app"}


async def test_a_valid_token_gives_its_claims(issuer: oidcissuer.OIDCIssuer) -> None:
    verifier = oidc.Verifier()
    token = issuer.issue(CLAIMS)
    claims = await verifier.verify([_provider(issuer.url)], f"Bearer {token}")
    assert claims["sub"] == "repo:org/app"
    assert claims["iss"] == issuer.url
    # The keys are cached: a second token needs no discovery.
    await verifier.verify([_provider(issuer.url)], f"Bearer {issuer.issue(CLAIMS)}")
    assert issuer.discoveries == 1


async def test_variables_feed_the_validations(issuer: oidcissuer.OIDCIssuer) -> None:
    provider = _provider(
        issuer.url,
        audience="flux",
        variables=[
            {"name": "ours", "expression": "claims.repository.startsWith('org/')"},
            {"name": "trusted", "expression": "vars.ours && claims.sub != ''"},
        ],
        validations=[{"expression": "vars.trusted", "message": "untrusted owner"}],
    )
    token = issuer.issue({**CLAIMS, "aud": ["flux", "other"]})
    assert (await oidc.Verifier().verify([provider], f"Bearer {token}"))["aud"] == ["flux", "other"]
    other = issuer.issue({**CLAIMS, "aud": "flux", "repository": "evil/app"})
    with pytest.raises(oidc.OIDCError, match=r"^untrusted owner$"):
        await oidc.Verifier().verify([provider], f"Bearer {other}")


@pytest.mark.parametrize(
    ("claims", "error"),
    [
        ({"aud": "someone-else"}, "failed to verify the OIDC token: .*aud"),
        ({"exp": int(time.time()) - 60}, "failed to verify the OIDC token: .*exp"),
        ({"repository": "org/other"}, "^wrong repository$"),
        ({"iss": "https://elsewhere.example"}, "no OIDC provider is configured"),
    ],
)
async def test_untrusted_tokens_are_refused(
    issuer: oidcissuer.OIDCIssuer, claims: dict[str, Any], error: str
) -> None:
    token = issuer.issue({**CLAIMS, **claims})
    with pytest.raises(oidc.OIDCError, match=error):
        await oidc.Verifier().verify([_provider(issuer.url)], f"Bearer {token}")


async def test_a_token_signed_by_another_key_is_refused(issuer: oidcissuer.OIDCIssuer) -> None:
    impostor = oidcissuer.OIDCIssuer()
    impostor.url = issuer.url
    forged = impostor.issue(CLAIMS, key=impostor.key)
    with pytest.raises(oidc.OIDCError, match="failed to verify the OIDC token"):
        await oidc.Verifier().verify([_provider(issuer.url)], f"Bearer {forged}")


async def test_a_rotated_key_is_fetched_again(issuer: oidcissuer.OIDCIssuer) -> None:
    verifier = oidc.Verifier()
    await verifier.verify([_provider(issuer.url)], f"Bearer {issuer.issue(CLAIMS)}")
    issuer.rotate()
    await verifier.verify([_provider(issuer.url)], f"Bearer {issuer.issue(CLAIMS)}")
    assert issuer.discoveries == 2


@pytest.mark.parametrize("authorization", [None, "", "Basic dTpw", "Bearer not-a-jwt"])
async def test_a_request_without_a_bearer_jwt_is_refused(
    issuer: oidcissuer.OIDCIssuer, authorization: str | None
) -> None:
    with pytest.raises(oidc.OIDCError):
        await oidc.Verifier().verify([_provider(issuer.url)], authorization)


SERVICE_ACCOUNT = "push@project.iam.gserviceaccount.com"
GOOGLE = {"aud": "https://example.com/hook", "email": SERVICE_ACCOUNT, "email_verified": True}


async def test_a_google_push_token_for_the_service_account_passes(
    issuer: oidcissuer.OIDCIssuer,
) -> None:
    # The local issuer stands in for accounts.google.com (the keys' origin is the seam).
    verifier = oidc.Verifier(google_issuer=issuer.url)
    for iss in (issuer.url, issuer.url.removeprefix("https://")):
        await verifier.verify_google(
            f"Bearer {issuer.issue({**GOOGLE, 'iss': iss})}",
            email=SERVICE_ACCOUNT,
            audience="https://example.com/hook",
        )


@pytest.mark.parametrize(
    ("claims", "error"),
    [
        (
            {"aud": "other"},
            "invalid ID token: audience is 'other', want 'https://example.com/hook'",
        ),
        ({"iss": "https://elsewhere.example"}, "token issuer is 'https://elsewhere.example'"),
        ({"email": "someone@else"}, "token email is 'someone@else', want"),
        ({"email_verified": False}, "is not verified"),
    ],
)
async def test_a_google_push_token_must_match_the_secret(
    issuer: oidcissuer.OIDCIssuer, claims: dict[str, Any], error: str
) -> None:
    verifier = oidc.Verifier(google_issuer=issuer.url)
    token = issuer.issue({**GOOGLE, **claims})
    with pytest.raises(oidc.OIDCError, match=error):
        await verifier.verify_google(
            f"Bearer {token}", email=SERVICE_ACCOUNT, audience="https://example.com/hook"
        )


async def test_a_google_push_without_a_bearer_token_is_refused() -> None:
    with pytest.raises(oidc.OIDCError, match="missing or malformed"):
        await oidc.Verifier().verify_google("Basic x", email=SERVICE_ACCOUNT, audience="a")
