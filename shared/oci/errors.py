"""The errors ``shared.oci`` raises, and nothing else.

aiohttp's exceptions, ``ssl.SSLError``, timeouts and the registry's error
answers are translated into this tree in one place (``transport``), chained
with ``raise … from …``; configuration parsers (``credentials``, ``tls``,
``references``) raise their branch directly::

    RegistryError
    ├── ConfigurationError          the caller's input cannot be used
    │   ├── InvalidReferenceError   an image or repository reference that does not parse
    │   ├── InvalidCredentialsError a dockerconfigjson that is not valid
    │   └── InvalidTLSError         ca.crt / tls.crt / tls.key that do not load
    ├── TransportError              no HTTP answer: connection, TLS handshake, proxy, timeout
    ├── ResponseError               the registry answered with an error status
    │   ├── UnauthorizedError       401 or 403 (also a token server refusing credentials)
    │   ├── NotFoundError           404
    │   │   ├── ManifestUnknownError  MANIFEST_UNKNOWN (or 404 on a manifest URL)
    │   │   ├── BlobUnknownError      BLOB_UNKNOWN (or 404 on a blob URL)
    │   │   └── NameUnknownError      NAME_UNKNOWN: the repository does not exist
    │   └── TooManyRequestsError    429
    ├── InvalidContentError         an answer that breaks the protocol (bad JSON, bad header)
    │   └── InvalidDigestError      a digest string that is not <algorithm>:<hex>
    ├── DigestMismatchError         content whose digest is not the one asked for or announced
    └── TooLargeError               content over the caller's size limit

A ``ResponseError`` keeps the HTTP ``status`` and the registry's error JSON
(``code``, ``message``): its message reads ``<what>: <status> <CODE>: <the
registry's message>`` (the HTTP reason phrase when the answer has no error
JSON, as on HEAD) so a condition shows what the registry said. No message
carries credentials or tokens.
"""

from __future__ import annotations


class RegistryError(Exception):
    """Base of every error raised by ``shared.oci``."""


class ConfigurationError(RegistryError, ValueError):
    """The caller's configuration (reference, credentials, TLS bundle) cannot be used."""


class InvalidReferenceError(ConfigurationError):
    """An image or repository reference that does not parse."""


class InvalidCredentialsError(ConfigurationError):
    """A ``.dockerconfigjson`` (or an entry of it) that is not valid."""


class InvalidTLSError(ConfigurationError):
    """A CA certificate, client certificate or key that does not load."""


class TransportError(RegistryError):
    """No HTTP answer: refused connection, DNS, TLS handshake, proxy failure, timeout."""


class ResponseError(RegistryError):
    """The registry answered with an error status; ``code``/``message`` from its error JSON."""

    def __init__(self, subject: str, *, status: int, code: str = "", message: str = "") -> None:
        detail = f"{status} {code}".strip()
        if message:
            detail = f"{detail}: {message}"
        super().__init__(f"{subject}: {detail}")
        self.subject = subject
        self.status = status
        self.code = code
        self.registry_message = message


class UnauthorizedError(ResponseError):
    """401 or 403: credentials missing, wrong, or without the needed access."""


class NotFoundError(ResponseError):
    """404: the repository, manifest or blob does not exist."""


class ManifestUnknownError(NotFoundError):
    """No manifest under that tag or digest."""


class BlobUnknownError(NotFoundError):
    """No blob with that digest in the repository."""


class NameUnknownError(NotFoundError):
    """The repository is not known to the registry."""


class TooManyRequestsError(ResponseError):
    """429: the registry rate-limits this client."""


class InvalidContentError(RegistryError):
    """An answer that breaks the protocol: unparseable JSON, a missing or bad header."""


class InvalidDigestError(InvalidContentError, ValueError):
    """A digest string is not ``<algorithm>:<hex>`` with a supported algorithm."""


class DigestMismatchError(RegistryError):
    """Content whose digest differs from the one requested or announced."""

    def __init__(self, *, subject: str, expected: str, actual: str) -> None:
        super().__init__(f"digest mismatch for {subject}: expected {expected}, got {actual}")
        self.subject = subject
        self.expected = expected
        self.actual = actual


class TooLargeError(RegistryError):
    """Content larger than the caller's limit; nothing past the limit was read."""

    def __init__(self, *, subject: str, limit: int, size: int | None = None) -> None:
        found = f"{size} bytes" if size is not None else "more"
        super().__init__(f"{subject} is larger than the limit of {limit} bytes ({found})")
        self.subject = subject
        self.limit = limit
        self.size = size
