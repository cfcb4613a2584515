"""Running Debian git's ``git http-backend`` as CGI: its environment and its response.

``environment`` builds the CGI variables for one request and ``parse_response``
turns what the backend printed (headers, a blank line, the body) into a
status, headers and body. Both the development Git server
(``headwater.gitserver``) and the test Git server use them; each runs the
backend its own way (async or in a thread) and adds its own settings (push
enabled by config, or by an authenticated ``REMOTE_USER``).

The user's and the system's git config are always ignored, so a server behaves
the same on every machine.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping


@dataclasses.dataclass(frozen=True, kw_only=True)
class Request:
    """What the backend needs to know of one HTTP request."""

    method: str
    path: str  # the URL path, percent-decoded, starting at the repository
    query: str
    content_type: str
    content_length: int
    remote_addr: str
    git_protocol: str = ""  # the Git-Protocol header (protocol v2)
    content_encoding: str = ""  # e.g. gzip, which git sends for large requests


@dataclasses.dataclass(frozen=True, kw_only=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


def environment(
    request: Request, *, root: str, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The CGI environment for ``request`` against the repositories under ``root``.

    ``extra`` adds or replaces variables (``REMOTE_USER``, ``GIT_CONFIG_*``).
    """
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "GIT_PROJECT_ROOT": root,
        "GIT_HTTP_EXPORT_ALL": "1",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "REQUEST_METHOD": request.method,
        "PATH_INFO": request.path,
        "QUERY_STRING": request.query,
        "CONTENT_TYPE": request.content_type,
        "CONTENT_LENGTH": str(request.content_length),
        "REMOTE_ADDR": request.remote_addr,
    }
    if request.git_protocol:
        env["GIT_PROTOCOL"] = request.git_protocol
    if request.content_encoding:
        env["HTTP_CONTENT_ENCODING"] = request.content_encoding
    env.update(extra or {})
    return env


def parse_response(raw: bytes) -> Response:
    """Split CGI output into status (from ``Status:``, else 200), headers and body.

    Headers end at the first blank line (CRLF or LF line ends); output without
    one is all body.
    """
    split, separator = raw.find(b"\r\n\r\n"), 4
    if split < 0:
        split, separator = raw.find(b"\n\n"), 2
    head, body = (raw[:split], raw[split + separator :]) if split >= 0 else (b"", raw)
    status = 200
    headers: dict[str, str] = {}
    for line in head.decode("latin-1").splitlines():
        key, _, value = line.partition(":")
        if key.lower() == "status":
            status = int(value.strip().split()[0])
        elif key:
            headers[key.strip()] = value.strip()
    return Response(status=status, headers=headers, body=body)
