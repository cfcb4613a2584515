"""The token issuer signs JWTs that only it verifies."""

from __future__ import annotations

import base64
import json

from devcluster.auth import tokens

CLAIMS = {"sub": "system:serviceaccount:ns:robot", "aud": ["api"], "exp": 2000, "iat": 1000}


def _part(token: str, index: int) -> dict[str, object]:
    text = token.split(".")[index]
    decoded: dict[str, object] = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    return decoded


def test_signed_token_verifies_to_its_claims() -> None:
    issuer = tokens.Issuer()

    token = issuer.sign(CLAIMS)

    assert issuer.verify(token) == CLAIMS
    assert _part(token, 0) == {"alg": "HS256", "kid": issuer.key_id, "typ": "JWT"}
    assert _part(token, 1) == CLAIMS


def test_another_issuers_token_does_not_verify() -> None:
    token = tokens.Issuer().sign(CLAIMS)

    assert tokens.Issuer().verify(token) is None


def test_tampered_claims_do_not_verify() -> None:
    issuer = tokens.Issuer()
    header, _, signature = issuer.sign(CLAIMS).split(".")
    forged = base64.urlsafe_b64encode(json.dumps({**CLAIMS, "exp": 9999}).encode()).rstrip(b"=")

    assert issuer.verify(f"{header}.{forged.decode()}.{signature}") is None


def test_malformed_tokens_do_not_verify() -> None:
    issuer = tokens.Issuer()

    for token in ("", "a.b", "a.b.c", "é.é.é", issuer.sign(CLAIMS) + "x"):
        assert issuer.verify(token) is None
