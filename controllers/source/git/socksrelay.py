"""SSH's ``ProxyCommand`` for a ``socks5://`` proxy: stdin and stdout over a proxied TCP stream.

``ssh`` runs ``python <this file> HOST PORT`` (``transports``) and speaks the
SSH protocol over the command's stdin and stdout; this program connects to
``HOST:PORT`` through the SOCKS5 proxy (PySocks) and relays bytes both ways
until either side closes. The host name is resolved by the proxy, as for
http(s) remotes. The proxy's address and credentials come from the
environment (``PROXY_ADDRESS_ENV``, ``PROXY_USERNAME_ENV``,
``PROXY_PASSWORD_ENV``), never from the command line, so no process listing
shows them.

A failure to reach the proxy or the host through it is one line on stderr
(``ssh`` passes it on, and ``errors.translate`` reads it: a refused proxy
login starts with ``SOCKS5 proxy authentication failed``) and exit status 255,
ssh's own status for a connection failure. Stdlib and PySocks only: the file
runs as a script, without the package on ``sys.path``.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import urllib.parse

import socks

PROXY_ADDRESS_ENV = "HEADWATER_SOCKS_PROXY"
PROXY_USERNAME_ENV = "HEADWATER_SOCKS_USERNAME"
PROXY_PASSWORD_ENV = "HEADWATER_SOCKS_PASSWORD"
AUTH_FAILED = "SOCKS5 proxy authentication failed"
_CHUNK = 65536


def _connect(host: str, port: int) -> socket.socket:
    proxy = urllib.parse.urlsplit(os.environ[PROXY_ADDRESS_ENV])
    return socks.create_connection(
        (host, port),
        proxy_type=socks.SOCKS5,
        proxy_addr=proxy.hostname,
        proxy_port=proxy.port or 1080,
        proxy_rdns=True,
        proxy_username=os.environ.get(PROXY_USERNAME_ENV) or None,
        proxy_password=os.environ.get(PROXY_PASSWORD_ENV) or None,
    )


def _upstream(conn: socket.socket) -> None:
    """stdin → the connection; a half-close when ssh has no more to send."""
    try:
        while chunk := os.read(0, _CHUNK):
            conn.sendall(chunk)
        conn.shutdown(socket.SHUT_WR)
    except OSError:
        pass  # NB: the connection closed first; the downstream loop ends the program


def _write_all(data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(1, view) :]


def relay(host: str, port: int) -> int:
    """Connect through the proxy and relay until the remote closes; the exit status."""
    try:
        conn = _connect(host, port)
    except (socks.ProxyError, OSError) as failed:
        # NB: PySocks wraps a refused login in a ProxyError (its ``socket_err``).
        refused = getattr(failed, "socket_err", None)
        if isinstance(failed, socks.SOCKS5AuthError) or isinstance(refused, socks.SOCKS5AuthError):
            print(f"{AUTH_FAILED}: {refused or failed}", file=sys.stderr)
        else:
            print(
                f"cannot connect to {host} port {port} through the SOCKS5 proxy: {failed}",
                file=sys.stderr,
            )
        return 255
    with conn:
        threading.Thread(target=_upstream, args=(conn,), daemon=True).start()
        while chunk := conn.recv(_CHUNK):
            _write_all(chunk)
    return 0


if __name__ == "__main__":
    sys.exit(relay(sys.argv[1], int(sys.argv[2])))
