"""generic-oidc Receivers: the caller's OIDC ID token verified against ``spec.oidcProviders``.

``Verifier.verify(providers, authorization)`` takes the request's
``Authorization: Bearer <token>`` and, as Flux does:

1. picks the provider whose ``issuerURL`` equals the token's ``iss`` claim;
2. verifies the signature with the issuer's keys (OIDC discovery:
   ``<issuer>/.well-known/openid-configuration`` names the ``jwks_uri``; the
   keys are cached for ``KEYS_TTL`` seconds and fetched again at once when a
   token names a key id they lack), the expiry and not-before times, and that
   ``aud`` holds the provider's ``audience`` (``notification-controller`` by
   default);
3. evaluates the provider's CEL ``variables`` in order (each sees ``claims``
   and the ``vars`` before it) and then every ``validations`` expression, which
   must be true; the first false one refuses the request with its ``message``.

It returns the claims, which the resource filters see as ``claims``.

``Verifier.verify_google(authorization, email=…, audience=…)`` is the gcr
Receiver's check, as Flux makes it for Pub/Sub push subscriptions: a token
signed with Google's keys (``https://accounts.google.com``'s discovery),
unexpired, for ``audience``, issued by ``accounts.google.com`` (with or
without ``https://``) for the service account ``email``, whose
``email_verified`` is true.

Every refusal is an ``OIDCError`` whose message the server logs ("unable to
validate payload"). The only I/O is the discovery and key fetch over HTTP(S).
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Sequence
from typing import Any

import aiohttp
import celpy
import celpy.adapter
import celpy.celparser
import celpy.celtypes
import celpy.evaluation
from joserfc import errors as jose_errors
from joserfc import jwk, jwt

from shared.api import notification, validation

KEYS_TTL = 300.0
GOOGLE_ISSUER = "https://accounts.google.com"
FETCH_TIMEOUT = 10.0
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"]


class OIDCError(ValueError):
    """The token is missing, not trusted, or its claims fail a validation."""


def _unverified_claims(token: str) -> dict[str, Any]:
    """The payload of a compact JWT, read only to choose the provider (verified later)."""
    parts = token.split(".")
    if len(parts) != 3:
        raise OIDCError("invalid token: not a compact JWT")
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError as error:
        raise OIDCError(f"invalid token: {error}") from error
    if not isinstance(payload, dict):
        raise OIDCError("invalid token: the claims are not an object")
    return payload


def _bearer(authorization: str | None) -> str:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise OIDCError("missing bearer token in the Authorization header")
    return token.strip()


def _evaluate(source: str, activation: dict[str, Any], *, what: str) -> Any:
    try:
        result = validation.program(source).evaluate(activation)
    except (celpy.celparser.CELParseError, celpy.evaluation.CELEvalError) as error:
        raise OIDCError(f"failed to evaluate {what} '{source}': {error}") from error
    if isinstance(result, celpy.evaluation.CELEvalError):
        raise OIDCError(f"failed to evaluate {what} '{source}': {result}")
    return result


def check_claims(provider: notification.OIDCProvider, claims: dict[str, Any]) -> None:
    """The provider's variables and validations over verified ``claims`` (pure)."""
    values = celpy.celtypes.MapType()
    activation: dict[str, Any] = {"claims": celpy.adapter.json_to_cel(claims), "vars": values}
    for variable in provider.variables or ():
        name = celpy.celtypes.StringType(variable.name)
        values[name] = _evaluate(variable.expression, activation, what="variable")
    for rule in provider.validations:
        result = _evaluate(rule.expression, activation, what="validation")
        if not (isinstance(result, celpy.celtypes.BoolType) and bool(result)):
            raise OIDCError(rule.message)


class Verifier:
    """Verifies ID tokens; caches each issuer's keys (see the module docstring)."""

    def __init__(self, *, keys_ttl: float = KEYS_TTL, google_issuer: str = GOOGLE_ISSUER) -> None:
        self._ttl = keys_ttl
        self._google = google_issuer
        self._keys: dict[str, tuple[float, jwk.KeySet]] = {}

    async def verify(
        self, providers: Sequence[notification.OIDCProvider], authorization: str | None
    ) -> dict[str, Any]:
        """The verified claims of the bearer token; ``OIDCError`` when refused."""
        token = _bearer(authorization)
        issuer = _unverified_claims(token).get("iss")
        provider = next((p for p in providers if p.issuer_url == issuer), None)
        if provider is None:
            raise OIDCError(f"no OIDC provider is configured for the token issuer {issuer!r}")
        audience = provider.audience or notification.DEFAULT_OIDC_AUDIENCE
        try:
            claims = await self._decode(token, keys_of=provider.issuer_url, audience=audience)
            jwt.JWTClaimsRegistry(iss={"essential": True, "value": provider.issuer_url}).validate(
                claims
            )
        except (jose_errors.JoseError, ValueError) as error:
            raise OIDCError(f"failed to verify the OIDC token: {error}") from error
        check_claims(provider, claims)
        return claims

    async def verify_google(self, authorization: str | None, *, email: str, audience: str) -> None:
        """A gcr push: Google's ID token for ``email`` and ``audience`` (``OIDCError`` if not)."""
        if not (authorization or "").startswith("Bearer "):
            raise OIDCError("the Authorization header is missing or malformed")
        token = _bearer(authorization)
        try:
            claims = await self._decode(token, keys_of=self._google, audience=audience)
        except (jose_errors.JoseError, ValueError, OIDCError) as error:
            got = (
                _unverified_claims(token).get("aud", "<unknown>")
                if token.count(".") == 2
                else ("<unknown>")
            )
            raise OIDCError(
                f"invalid ID token: audience is '{got}', want '{audience}': {error}"
            ) from error
        issuers = (self._google, self._google.removeprefix("https://"))
        if claims.get("iss") not in issuers:
            raise OIDCError(
                f"token issuer is '{claims.get('iss')}', want '{issuers[1]}' or '{issuers[0]}'"
            )
        if claims.get("email") != email:
            raise OIDCError(f"token email is '{claims.get('email')}', want '{email}'")
        if claims.get("email_verified") is not True:
            raise OIDCError(f"token email '{email}' is not verified")

    async def _decode(self, token: str, *, keys_of: str, audience: str) -> dict[str, Any]:
        """The claims of ``token``, signed by a key of issuer ``keys_of``, unexpired, for
        ``audience``; joserfc's errors as they come."""
        keys = await self._key_set(keys_of, fresh=False)
        try:
            decoded = jwt.decode(token, keys, algorithms=ALGORITHMS)
        except jose_errors.InvalidKeyIdError:
            # NB: a key id unknown to the cache may be a rotated key: fetch once more.
            keys = await self._key_set(keys_of, fresh=True)
            decoded = jwt.decode(token, keys, algorithms=ALGORITHMS)
        jwt.JWTClaimsRegistry(
            now=int(time.time()),
            aud={"essential": True, "value": audience},
            exp={"essential": True},
        ).validate(decoded.claims)
        return dict(decoded.claims)

    async def _key_set(self, issuer: str, *, fresh: bool) -> jwk.KeySet:
        cached = self._keys.get(issuer)
        if cached is not None and not fresh and cached[0] > time.monotonic():
            return cached[1]
        discovery_url = issuer.rstrip("/") + "/.well-known/openid-configuration"
        try:
            async with aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=FETCH_TIMEOUT), trust_env=False
            ) as session:
                discovery = await _json(session, discovery_url)
                jwks_uri = discovery.get("jwks_uri") if isinstance(discovery, dict) else None
                if not isinstance(jwks_uri, str):
                    raise OIDCError(f"the discovery document of {issuer} has no jwks_uri")
                keys = jwk.KeySet.import_key_set(await _json(session, jwks_uri))
        except (aiohttp.ClientError, TimeoutError, jose_errors.JoseError, ValueError) as error:
            raise OIDCError(f"failed to fetch the keys of issuer {issuer}: {error}") from error
        self._keys[issuer] = (time.monotonic() + self._ttl, keys)
        return keys


async def _json(session: aiohttp.ClientSession, url: str) -> Any:
    async with session.get(url) as response:
        if response.status != 200:
            raise OIDCError(f"GET {url}: status {response.status}")
        return await response.json(content_type=None)
