"""The demo's webhook plumbing: an alert sink, the ``headwater`` command, a Git host's call.

- ``Sink``: a local HTTP server standing for a chat or incident tool. A
  generic Provider posts Flux's event JSON to it; it keeps every body it
  received. It serves from a thread of the demo's process, and ``with``
  closes it on every path.
- ``headwater``: the ``headwater`` command as a user runs it against the
  environment (``KUBECONFIG`` set), for the steps that show the CLI (and,
  as ``headwater_at``, for the tests that drive the CLI).
- ``call_webhook``: what a Git host does on a push, a POST to a Receiver's
  webhook URL.
"""

from __future__ import annotations

import http.server
import json
import os
import pathlib
import subprocess
import sys
import threading
import types
import urllib.request
from typing import Any

from headwater import dev


class Sink:
    """An HTTP server on 127.0.0.1 that records the JSON bodies POSTed to it."""

    def __init__(self) -> None:
        received: list[dict[str, Any]] = []
        lock = threading.Lock()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except ValueError:
                    body = {}
                with lock:
                    received.append(body)
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the demo prints what it received itself."""

        self._received = received
        self._lock = lock
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/"

    def events(self) -> list[dict[str, Any]]:
        """The bodies received so far, oldest first."""
        with self._lock:
            return list(self._received)

    def __enter__(self) -> Sink:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: types.TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


def headwater(
    layout: dev.Layout, *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``headwater ARGS…`` against the environment of ``layout``, no terminal."""
    return headwater_at(layout.kubeconfig, *args, timeout=timeout)


def headwater_at(
    kubeconfig: pathlib.Path, *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``headwater ARGS…`` as a subprocess with ``KUBECONFIG=kubeconfig``, no terminal."""
    env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
    return subprocess.run(
        [sys.executable, "-m", "headwater.cli.main", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
        env=env,
        stdin=subprocess.DEVNULL,
    )


def call_webhook(url: str) -> int:
    """POST an empty JSON body to ``url`` as a Git host would; the HTTP status."""
    request = urllib.request.Request(
        url, data=b"{}", method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        status: int = response.status
        return status
