"""OpenPGP data keys of SOPS documents, opened with GnuPG (``gpg``) in a throwaway home.

``open_data_key(messages, private_keys)`` imports the armored private keys
(the ``*.asc`` entries of a decryption Secret) into a fresh ``GNUPGHOME``
that only this call uses, tries each armored PGP message (a SOPS ``pgp``
stanza's ``enc``) in turn and returns the first data key one of the keys
opens, or None. The home directory is private (0700), the gpg-agent that
gpg starts for it is stopped, and the directory is removed before the call
returns, so no key outlives the decryption and Kustomizations never see
each other's keys. Keys protected by a passphrase cannot be used (Flux has
the same rule: there is nowhere to put the passphrase). ``gpg`` comes from
Debian's ``gnupg`` package (``make setup``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence

GPG_TIMEOUT = 30.0


class OpenPGPError(Exception):
    """gpg is missing or refused the keys."""


def _gpg() -> str:
    found = shutil.which("gpg")
    if found is None:
        raise OpenPGPError("gpg not found: OpenPGP decryption needs GnuPG (Debian's gnupg)")
    return found


def open_data_key(messages: Sequence[str], private_keys: Sequence[bytes]) -> bytes | None:
    """The data key the first openable ``messages`` entry holds (see the module docstring)."""
    if not messages or not private_keys:
        return None
    gpg = _gpg()
    home = tempfile.mkdtemp(prefix="hw-gnupg-")
    os.chmod(home, 0o700)
    base = [gpg, "--homedir", home, "--batch", "--no-tty", "--quiet", "--pinentry-mode", "loopback"]
    env = {"PATH": os.environ.get("PATH", ""), "GNUPGHOME": home}
    try:
        imported = subprocess.run(
            [*base, "--import"],
            input=b"\n".join(private_keys),
            capture_output=True,
            env=env,
            timeout=GPG_TIMEOUT,
            check=False,
        )
        if imported.returncode != 0:
            detail = imported.stderr.decode(errors="replace").strip().splitlines()
            raise OpenPGPError(
                "failed to import OpenPGP keys" + (f": {detail[-1]}" if detail else "")
            )
        for message in messages:
            opened = subprocess.run(
                [*base, "--passphrase", "", "--decrypt"],
                input=message.encode(),
                capture_output=True,
                env=env,
                timeout=GPG_TIMEOUT,
                check=False,
            )
            if opened.returncode == 0 and opened.stdout:
                return opened.stdout
        return None
    except subprocess.TimeoutExpired as slow:
        raise OpenPGPError(f"gpg did not answer within {GPG_TIMEOUT:g}s") from slow
    finally:
        gpgconf = shutil.which("gpgconf")
        if gpgconf is not None:
            # NB: gpg started an agent for this home only; stop exactly that one.
            subprocess.run(
                [gpgconf, "--homedir", home, "--kill", "gpg-agent"],
                capture_output=True,
                env=env,
                timeout=GPG_TIMEOUT,
                check=False,
            )
        shutil.rmtree(home, ignore_errors=True)
