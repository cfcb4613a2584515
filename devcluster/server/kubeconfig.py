"""The kubeconfig the server writes and the TLS material it serves with.

The kubeconfig is written atomically (temp file + rename) so a reader that
sees the file can use it: the server writes it only after it accepts
requests. With TLS, a self-signed certificate for the host (made with the
``openssl`` command-line tool) is both the server certificate and the
kubeconfig's ``certificate-authority-data``; the bearer token goes in the
user entry (client-go sends credentials only over TLS).
"""

from __future__ import annotations

import base64
import dataclasses
import ipaddress
import os
import pathlib
import shutil
import ssl
import subprocess
import tempfile

import yaml


@dataclasses.dataclass(frozen=True)
class Credentials:
    directory: pathlib.Path

    @property
    def cert(self) -> pathlib.Path:
        return self.directory / "server.crt"

    @property
    def key(self) -> pathlib.Path:
        return self.directory / "server.key"

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context

    def ca_data(self) -> str:
        return base64.b64encode(self.cert.read_bytes()).decode()

    def cleanup(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


def self_signed(host: str) -> Credentials:
    """A fresh key and self-signed certificate valid for ``host`` and localhost."""
    directory = pathlib.Path(tempfile.mkdtemp(prefix="devcluster-tls-"))
    try:
        ipaddress.ip_address(host)
        san = f"IP:{host},DNS:localhost,IP:127.0.0.1"
    except ValueError:
        san = f"DNS:{host},DNS:localhost,IP:127.0.0.1"
    credentials = Credentials(directory)
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(credentials.key),
            "-out",
            str(credentials.cert),
            "-days",
            "365",
            "-subj",
            "/CN=devcluster",
            "-addext",
            f"subjectAltName={san}",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,digitalSignature,keyCertSign",
            "-addext",
            "extendedKeyUsage=serverAuth",
        ],
        check=True,
        capture_output=True,
    )
    return credentials


def write(
    path: pathlib.Path,
    *,
    server: str,
    token: str | None,
    credentials: Credentials | None,
) -> None:
    cluster: dict[str, str] = {"server": server}
    if credentials is not None:
        cluster["certificate-authority-data"] = credentials.ca_data()
    user: dict[str, str] = {"token": token} if token else {}
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "devcluster", "cluster": cluster}],
        "users": [{"name": "devcluster", "user": user}],
        "contexts": [
            {
                "name": "devcluster",
                "context": {"cluster": "devcluster", "user": "devcluster", "namespace": "default"},
            }
        ],
        "current-context": "devcluster",
        "preferences": {},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".kubeconfig-")
    with os.fdopen(handle, "w") as stream:
        yaml.safe_dump(config, stream, default_flow_style=False)
    os.replace(temporary, path)
