"""Git over SSH with only what a Secret gives: the system ``ssh``, hardened, for dulwich.

Contract: ``prepare(key, directory=…, timeout=…)`` writes the identity,
the known_hosts (and, for an encrypted identity, an askpass helper and the
passphrase) into ``directory`` — which the caller creates private (0700)
and removes on every exit path — and returns the ``Command``: the ``ssh``
argument prefix and the environment to run it with. ``Command.wrapper()``
writes an executable script that runs exactly that, for clients that take
an ssh command line (dulwich's ``ssh_command``). No network I/O.

Security choices (the same for every controller that speaks Git):

- no user config (``-F /dev/null``), no agent, only the Secret's identity;
- ``StrictHostKeyChecking=yes`` against the Secret's known_hosts alone: an
  unknown or changed host key fails the connection;
- no password or keyboard-interactive login;
- an encrypted identity is unlocked by ``ssh`` itself through
  ``SSH_ASKPASS`` reading the passphrase from a 0600 file, so the decrypted
  key never touches disk and the passphrase never appears in a process's
  arguments;
- the environment is only ``PATH`` and ``HOME`` (the private directory),
  plus the askpass variables.

Never proxied: SSH remotes connect directly.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import shlex
import shutil

SSH_BINARY = "ssh"


@dataclasses.dataclass(frozen=True, repr=False)
class Key:
    """An SSH identity (PEM or OpenSSH), the host keys to trust, and the key's passphrase."""

    identity_pem: bytes
    known_hosts: bytes
    passphrase: str | None = None

    def __repr__(self) -> str:
        # NB: never let secrets reach logs through a repr.
        return f"Key(passphrase={self.passphrase is not None})"


@dataclasses.dataclass(frozen=True)
class Command:
    """``ssh`` with the options ``prepare`` chose, and the environment to run it in."""

    args: list[str]
    env: dict[str, str]
    directory: pathlib.Path

    def wrapper(self) -> str:
        """Path of a 0700 script in the directory that runs the command with its arguments."""
        assignments = " ".join(shlex.quote(f"{k}={v}") for k, v in sorted(self.env.items()))
        line = f'exec env -i {assignments} {shlex.join(self.args)} "$@"\n'
        return write_private(self.directory, "ssh", f"#!/bin/sh\n{line}".encode(), mode=0o700)


def write_private(directory: pathlib.Path, name: str, content: bytes, *, mode: int) -> str:
    """Create ``directory/name`` with ``mode`` (it must not exist) and write ``content``."""
    path = directory / name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)
    return str(path)


def prepare(key: Key, *, directory: pathlib.Path, timeout: float) -> Command:
    """Write the key material into ``directory`` and return the hardened command (see above)."""
    identity_pem = (
        key.identity_pem if key.identity_pem.endswith(b"\n") else key.identity_pem + b"\n"
    )
    identity = write_private(directory, "identity", identity_pem, mode=0o600)
    known_hosts = write_private(directory, "known_hosts", key.known_hosts, mode=0o600)
    args = [
        shutil.which(SSH_BINARY) or SSH_BINARY,
        "-F", "/dev/null",
        "-x", "-T",
        "-i", identity,
        "-o", "IdentitiesOnly=yes",
        "-o", "IdentityAgent=none",
        "-o", f"UserKnownHostsFile={known_hosts}",
        "-o", "GlobalKnownHostsFile=/dev/null",
        "-o", "StrictHostKeyChecking=yes",
        "-o", "UpdateHostKeys=no",
        "-o", "PasswordAuthentication=no",
        "-o", "KbdInteractiveAuthentication=no",
        "-o", "NumberOfPasswordPrompts=1",
        "-o", f"ConnectTimeout={max(1, int(timeout))}",
        "-o", "ServerAliveInterval=15",
        "-o", "ServerAliveCountMax=2",
    ]  # fmt: skip
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(directory)}
    if key.passphrase is None:
        args += ["-o", "BatchMode=yes"]
    else:
        passfile = write_private(
            directory, "passphrase", key.passphrase.encode("utf-8") + b"\n", mode=0o600
        )
        askpass = write_private(
            directory, "askpass", f"#!/bin/sh\nexec cat '{passfile}'\n".encode(), mode=0o700
        )
        env |= {"SSH_ASKPASS": askpass, "SSH_ASKPASS_REQUIRE": "force", "DISPLAY": "none"}
    return Command(args=args, env=env, directory=directory)
