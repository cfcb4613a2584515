"""TLS for registry connections from a ``certSecretRef``-style bundle.

``context(ca=…, cert=…, key=…)`` takes the Secret's ``ca.crt``, ``tls.crt``
and ``tls.key`` values as bytes (any may be None) and returns an
``ssl.SSLContext`` that verifies the server against the system roots plus
``ca`` and presents the client certificate when both ``cert`` and ``key``
are given. Verification is never turned off here: Flux's ``insecure`` means
plain HTTP, which the client handles.

NB: the standard library loads a certificate chain only from files, so the
client certificate and key are written to a private temporary directory
(mode 0700) that is removed before this returns; it is blocking, small work,
done once per Secret content.
"""

from __future__ import annotations

import pathlib
import ssl
import tempfile

from shared.oci import errors


def context(
    *, ca: bytes | None = None, cert: bytes | None = None, key: bytes | None = None
) -> ssl.SSLContext:
    """An SSL context trusting ``ca`` (and the system roots), with an optional client cert.

    ``InvalidTLSError`` when a value does not load, or only one of cert and key is given.
    """
    tls = ssl.create_default_context()
    if ca:
        try:
            tls.load_verify_locations(cadata=ca.decode("ascii"))
        except (ssl.SSLError, UnicodeDecodeError, ValueError) as exc:
            raise errors.InvalidTLSError("ca.crt is not a valid PEM certificate") from exc
    if bool(cert) != bool(key):
        raise errors.InvalidTLSError("tls.crt and tls.key must be given together")
    if cert and key:
        with tempfile.TemporaryDirectory(prefix="headwater-oci-tls-") as directory:
            cert_file = pathlib.Path(directory, "tls.crt")
            key_file = pathlib.Path(directory, "tls.key")
            cert_file.write_bytes(cert)
            key_file.touch(mode=0o600)
            key_file.write_bytes(key)
            try:
                tls.load_cert_chain(cert_file, key_file)
            except ssl.SSLError as exc:
                raise errors.InvalidTLSError(
                    "tls.crt/tls.key are not a valid certificate and key"
                ) from exc
    return tls
