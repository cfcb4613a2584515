"""OpenPGP signatures of automation commits, made with Debian's ``gpg``.

The key comes from the Secret of ``spec.git.commit.signingKey``: ``git.asc``
(an armored private key) and, optional, ``passphrase``, as Flux reads it.
Each signature is made in a throwaway GNUPGHOME: the key is imported, the
commit payload signed detached and armored, and the directory (and the agent
gpg started for it) removed again. Failures are ``SigningError`` with gpg's
first line of complaint; the private key never appears in a message.
"""

from __future__ import annotations

import dataclasses
import pathlib
import shutil
import subprocess
import tempfile
from collections.abc import Mapping

GPG = "gpg"
KEY_ENTRY = "git.asc"
PASSPHRASE_ENTRY = "passphrase"
TIMEOUT = 30.0
"""Seconds one gpg invocation may take."""


class SigningError(Exception):
    """The signing key is missing or unusable, or gpg failed to sign."""


@dataclasses.dataclass(frozen=True)
class SigningKey:
    """An armored OpenPGP private key and its passphrase."""

    armored: bytes
    passphrase: str | None = None

    def __repr__(self) -> str:
        return f"SigningKey(passphrase={self.passphrase is not None})"


def key_from_secret(data: Mapping[str, bytes]) -> SigningKey:
    """The key in a signing Secret; SigningError when ``git.asc`` is missing."""
    armored = data.get(KEY_ENTRY)
    if not armored:
        raise SigningError(f"signing key secret has no '{KEY_ENTRY}' entry")
    passphrase = data.get(PASSPHRASE_ENTRY)
    return SigningKey(armored=armored, passphrase=passphrase.decode() if passphrase else None)


def sign(payload: bytes, key: SigningKey) -> bytes:
    """An armored detached signature of ``payload`` by ``key``."""
    home = pathlib.Path(tempfile.mkdtemp(prefix="hw-gpg-"))
    home.chmod(0o700)
    try:
        _gpg(home, "--import", stdin=key.armored)
        listing = _gpg(home, "--with-colons", "--list-secret-keys", stdin=b"")
        fingerprint = next(
            (line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr")), None
        )
        if fingerprint is None:
            raise SigningError(f"'{KEY_ENTRY}' holds no private key")
        passphrase_file = home / "passphrase"
        passphrase_file.write_text(key.passphrase or "")
        signature = _gpg(
            home, "--pinentry-mode", "loopback", "--passphrase-file", str(passphrase_file),
            "--local-user", fingerprint, "--armor", "--detach-sign", stdin=payload,
        )  # fmt: skip
        return signature.encode()
    finally:
        subprocess.run(
            ["gpgconf", "--kill", "all"],
            env={"GNUPGHOME": str(home), "PATH": "/usr/bin:/bin"},
            capture_output=True,
            check=False,
            timeout=TIMEOUT,
        )
        shutil.rmtree(home, ignore_errors=True)


def _gpg(home: pathlib.Path, *args: str, stdin: bytes) -> str:
    try:
        done = subprocess.run(
            [GPG, "--batch", "--no-tty", "--homedir", str(home), *args],
            input=stdin,
            capture_output=True,
            check=False,
            timeout=TIMEOUT,
            env={"GNUPGHOME": str(home), "PATH": "/usr/bin:/bin"},
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise SigningError(f"running gpg: {error}") from error
    if done.returncode != 0:
        complaint = next(
            (line for line in done.stderr.decode(errors="replace").splitlines() if line.strip()),
            f"exit status {done.returncode}",
        )
        raise SigningError(f"gpg: {complaint}")
    return done.stdout.decode(errors="replace")
