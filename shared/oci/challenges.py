"""``WWW-Authenticate`` challenges, as registries send them on 401.

A registry asks for ``Basic realm="…"`` (htpasswd) or for the token flow,
``Bearer realm="<token URL>",service="<name>",scope="repository:<name>:pull"``,
where the client fetches a token from ``realm`` for ``service`` and
``scope`` and repeats the request with ``Authorization: Bearer <token>``.
Parameter values may be quoted strings containing commas (``pull,push``).
Pure parsing: no I/O.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from typing import Final

_PARAM_RE: Final = re.compile(r'\s*([A-Za-z0-9_.-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]*)\s*,?')


@dataclasses.dataclass(frozen=True)
class Challenge:
    """One challenge: its scheme (lower case) and parameters (names lower case)."""

    scheme: str
    params: dict[str, str] = dataclasses.field(default_factory=dict)

    @property
    def realm(self) -> str:
        return self.params.get("realm", "")

    @property
    def service(self) -> str:
        return self.params.get("service", "")

    @property
    def scope(self) -> str:
        return self.params.get("scope", "")


def parse(header: str) -> Challenge | None:
    """Parse one ``WWW-Authenticate`` value; None when it names no scheme."""
    scheme, _, rest = header.strip().partition(" ")
    if not scheme or "=" in scheme:
        return None
    params: dict[str, str] = {}
    position = 0
    while position < len(rest):
        match = _PARAM_RE.match(rest, position)
        if match is None or match.end() == position:
            break
        name, value = match.groups()
        if value.startswith('"'):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        params[name.lower()] = value
        position = match.end()
    return Challenge(scheme=scheme.lower(), params=params)


def pick(headers: Iterable[str]) -> Challenge | None:
    """The challenge to answer among a response's headers: Bearer first, then Basic."""
    parsed = [challenge for header in headers if (challenge := parse(header)) is not None]
    for scheme in ("bearer", "basic"):
        for challenge in parsed:
            if challenge.scheme == scheme:
                return challenge
    return None


def repository_scope(repository: str, *actions: str) -> str:
    """The token scope for ``actions`` on a repository: ``repository:<name>:pull,push``."""
    return f"repository:{repository}:{','.join(actions)}"
