"""A process-wide cache of bearer tokens and of which auth scheme each registry asked for.

Tokens are cached per (realm, service, scope, credentials identity) until
their ``expires_in`` (60 s when the token server gives none, as the
distribution spec says), minus a small margin. The identity is a hash of
the username and password, so two tenants with different passwords for the
same user never share a token, and no secret is kept as a key.

The cache also remembers the last challenge each registry host sent, so
later requests to that host authenticate up front instead of paying a 401
round trip first. One ``TokenCache`` per process is meant to be shared by
every ``Client``; it is safe for concurrent use on one event loop.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable
from typing import Final

from shared.oci import challenges

DEFAULT_EXPIRES_IN: Final = 60.0
_MARGIN: Final = 5.0


@dataclasses.dataclass(frozen=True)
class TokenKey:
    realm: str
    service: str
    scope: str
    identity: str


@dataclasses.dataclass(frozen=True)
class _Token:
    value: str
    expires_at: float


class TokenCache:
    """Bearer tokens until they expire, and each host's last challenge."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._tokens: dict[TokenKey, _Token] = {}
        self._locks: dict[TokenKey, asyncio.Lock] = {}
        self._challenges: dict[str, challenges.Challenge] = {}

    def challenge(self, host: str) -> challenges.Challenge | None:
        """The challenge ``host`` sent last, if any."""
        return self._challenges.get(host)

    def remember_challenge(self, host: str, challenge: challenges.Challenge) -> None:
        self._challenges[host] = challenge

    def forget(self, key: TokenKey) -> None:
        """Drop a token the registry refused (revoked, or expired early)."""
        self._tokens.pop(key, None)

    async def get(
        self, key: TokenKey, fetch: Callable[[], Awaitable[tuple[str, float | None]]]
    ) -> str:
        """The cached token for ``key``, or the one ``fetch()`` returns (then cached).

        ``fetch`` returns the token and its ``expires_in`` seconds (or None);
        concurrent callers for one key share a single fetch.
        """
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            cached = self._tokens.get(key)
            if cached is not None and cached.expires_at > self._clock():
                return cached.value
            value, expires_in = await fetch()
            lifetime = DEFAULT_EXPIRES_IN if expires_in is None else expires_in
            self._tokens[key] = _Token(value, self._clock() + max(lifetime - _MARGIN, 0.0))
            self._expire()
            return value

    def _expire(self) -> None:
        now = self._clock()
        for key in [key for key, token in self._tokens.items() if token.expires_at <= now]:
            del self._tokens[key]
            lock = self._locks.get(key)
            if lock is not None and not lock.locked():
                del self._locks[key]
