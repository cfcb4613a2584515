"""OpenPGP and SSH verification of the checked-out commit and/or tag (``spec.verify``).

Contract: ``verify`` takes the verification mode, the signed payloads a
checkout returned and the *decoded* data of ``spec.verify.secretRef``; it
returns the signers' fingerprints or raises an ``errors.VerificationError``
subclass carrying Flux's reason (InvalidCommitSignature, InvalidTagSignature,
InvalidGitObject, InvalidVerificationMode, VerificationError).

Trusted keys: values under keys ending in ``.sshpub`` are SSH public keys
(``authorized_keys`` lines, several per value allowed); every other value of
the Secret is an armored OpenPGP public key (or several), whatever its key is
called, as Flux reads them (``author.asc``, ``author.pub``, ``gpg-key`` ...).

OpenPGP signatures are checked with Debian's ``gpg`` (GnuPG 2.2) in a
throwaway GNUPGHOME holding only the OpenPGP keys, with ``--no-autostart`` so
no agent or dirmngr is started, and no key is ever fetched from a keyserver. A
signature is accepted only when gpg reports ``VALIDSIG`` (a good, unexpired
signature by a key in that keyring). SSH signatures (``-----BEGIN SSH
SIGNATURE-----``, git's ``gpg.format=ssh``) are checked with OpenSSH's
``ssh-keygen -Y verify`` in the namespace ``git`` against an allowed-signers
file built from the ``.sshpub`` keys; the signer is the key's SHA256
fingerprint. Both tools run as asyncio subprocesses, so the event loop is
never blocked.
"""

from __future__ import annotations

import asyncio
import dataclasses
import pathlib
import shutil
import tempfile
from collections.abc import Mapping
from typing import Literal

from controllers.source.git import checkout, errors, refs

Mode = Literal["HEAD", "Tag", "TagAndHEAD"]
GPG = "gpg"
SSH_KEYGEN = "ssh-keygen"
SSH_KEY_SUFFIX = ".sshpub"
SSH_NAMESPACE = "git"
_SSH_SIGNATURE = b"-----BEGIN SSH SIGNATURE-----"
_SSH_PRINCIPAL = "headwater"


@dataclasses.dataclass(frozen=True)
class Verified:
    """What was verified and by which key fingerprints."""

    mode: Mode
    commit_signer: str | None
    tag_signer: str | None


def normalize_mode(mode: str | None) -> Mode:
    """``head`` (legacy) → ``HEAD``; None → ``HEAD``; unknown values → InvalidModeError."""
    if mode in (None, "", "head", "HEAD"):
        return "HEAD"
    if mode in ("Tag", "TagAndHEAD"):
        return mode  # type: ignore[return-value]
    raise errors.InvalidModeError(f"unknown verification mode {mode!r}")


def check_mode(mode: str | None, *, plan: refs.RefPlan) -> Mode:
    """Tag modes need a tag reference (``ref.tag``, ``ref.semver`` or ``refs/tags/…``)."""
    normalized = normalize_mode(mode)
    is_tag = plan.kind in ("tag", "semver") or (
        plan.kind == "name" and plan.value.startswith(refs.TAGS)
    )
    if normalized != "HEAD" and not is_tag:
        raise errors.InvalidModeError(
            f"verification mode {normalized} needs a tag reference (ref.tag or ref.semver)"
        )
    return normalized


@dataclasses.dataclass(frozen=True)
class TrustedKeys:
    """The Secret's keys split by kind: armored OpenPGP blocks and SSH public-key lines."""

    openpgp: list[bytes]
    ssh: list[bytes]


def trusted_keys(secret_data: Mapping[str, bytes]) -> TrustedKeys:
    """Split the Secret's values (in key order); raise when it holds no non-empty key at all."""
    openpgp: list[bytes] = []
    ssh: list[bytes] = []
    for name, value in sorted(secret_data.items()):
        if name.endswith(SSH_KEY_SUFFIX):
            ssh.extend(
                line.strip()
                for line in value.splitlines()
                if line.strip() and not line.strip().startswith(b"#")
            )
        elif value.strip():
            openpgp.append(value)
    if not openpgp and not ssh:
        raise errors.VerificationError(
            "the verification secret has no keys (OpenPGP public keys, or SSH keys under *.sshpub)"
        )
    return TrustedKeys(openpgp=openpgp, ssh=ssh)


async def _gpg(home: pathlib.Path, *args: str, stdin: bytes) -> tuple[int, str, str]:
    return await _run(
        GPG,
        "--homedir", str(home),
        "--batch", "--no-tty", "--no-autostart", "--no-auto-key-retrieve",
        "--no-default-keyring", "--keyring", str(home / "trusted.kbx"),
        *args,
        stdin=stdin,
    )  # fmt: skip


async def _run(program: str, *args: str, stdin: bytes) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        shutil.which(program) or program,
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate(stdin)
    assert process.returncode is not None
    return process.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


class _Keyring:
    """A temp dir with a GNUPGHOME and an SSH allowed-signers file of the trusted keys only;
    removed on exit."""

    def __init__(self, keys: TrustedKeys) -> None:
        self._keys = keys
        self.home = pathlib.Path()

    @property
    def _allowed_signers(self) -> pathlib.Path:
        return self.home / "allowed_signers"

    async def __aenter__(self) -> _Keyring:
        self.home = pathlib.Path(tempfile.mkdtemp(prefix="headwater-gpg-"))
        try:
            self._allowed_signers.write_bytes(
                b"".join(
                    f'{_SSH_PRINCIPAL} namespaces="{SSH_NAMESPACE}" '.encode() + line + b"\n"
                    for line in self._keys.ssh
                )
            )
            for key in self._keys.openpgp:
                code, _, err = await _gpg(self.home, "--import", stdin=key)
                if code != 0:
                    raise errors.VerificationError(
                        f"cannot import a key of the verification secret: {_first_line(err)}"
                    )
        except BaseException:
            shutil.rmtree(self.home, ignore_errors=True)
            raise
        return self

    async def __aexit__(self, *_: object) -> None:
        shutil.rmtree(self.home, ignore_errors=True)

    async def verify(self, signed: checkout.SignedPayload) -> tuple[str | None, str]:
        """(signer fingerprint or None, reason text when None)."""
        if signed.signature is None:
            return None, "it is not signed"
        if signed.signature.startswith(_SSH_SIGNATURE):
            return await self._verify_ssh(signed.payload, signed.signature)
        if not self._keys.openpgp:
            return None, "it has an OpenPGP signature and the secret has no OpenPGP keys"
        signature_file = self.home / "signature.asc"
        signature_file.write_bytes(signed.signature)
        code, status, err = await _gpg(
            self.home, "--status-fd", "1", "--verify", str(signature_file), "-",
            stdin=signed.payload,
        )  # fmt: skip
        signature_file.unlink()
        fields = [line.split() for line in status.splitlines() if line.startswith("[GNUPG:] ")]
        valid = [f[2] for f in fields if len(f) > 2 and f[1] == "VALIDSIG"]
        if code == 0 and valid:
            return valid[0], ""
        for f in fields:
            if len(f) > 2 and f[1] == "NO_PUBKEY":
                return None, f"it is signed by key {f[2]}, which is not in the verification secret"
            if len(f) > 2 and f[1] in ("BADSIG", "EXPKEYSIG", "REVKEYSIG", "EXPSIG"):
                return None, f"gpg reports {f[1]} for key {f[2]}"
        return None, f"gpg could not verify it: {_first_line(err) or 'no valid signature'}"

    async def _verify_ssh(self, payload: bytes, signature: bytes) -> tuple[str | None, str]:
        if not self._keys.ssh:
            return None, "it has an SSH signature and the verification secret has no *.sshpub keys"
        signature_file = self.home / "signature.sig"
        signature_file.write_bytes(signature)
        code, out, err = await _run(
            SSH_KEYGEN, "-Y", "verify", "-f", str(self._allowed_signers),
            "-I", _SSH_PRINCIPAL, "-n", SSH_NAMESPACE, "-s", str(signature_file),
            stdin=payload,
        )  # fmt: skip
        signature_file.unlink()
        # Success prints 'Good "git" signature for <principal> with <TYPE> key SHA256:...'.
        if code == 0 and out.startswith("Good "):
            return out.split()[-1], ""
        reason = _first_line(err) or _first_line(out) or "no valid signature"
        return None, f"ssh-keygen could not verify it with the *.sshpub keys: {reason}"


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


async def verify(
    *,
    mode: str | None,
    plan: refs.RefPlan,
    result: checkout.CheckoutResult,
    secret_data: Mapping[str, bytes],
) -> Verified:
    """Verify what ``mode`` asks for; raise the matching VerificationError otherwise."""
    normalized = check_mode(mode, plan=plan)
    keys = trusted_keys(secret_data)
    commit_signer = tag_signer = None
    async with _Keyring(keys) as keyring:
        if normalized in ("Tag", "TagAndHEAD"):
            if result.tag_signature is None:
                raise errors.InvalidGitObjectError(
                    f"cannot verify the tag of {result.commit.revision}: "
                    "it is a lightweight tag (no tag object to sign)"
                )
            tag_signer, why = await keyring.verify(result.tag_signature)
            if tag_signer is None:
                raise errors.InvalidTagSignatureError(
                    f"signature verification of the tag of {result.commit.revision} failed: {why}"
                )
        if normalized in ("HEAD", "TagAndHEAD"):
            commit_signer, why = await keyring.verify(result.commit_signature)
            if commit_signer is None:
                raise errors.InvalidCommitSignatureError(
                    f"signature verification of commit {result.commit.sha} failed: {why}"
                )
    return Verified(mode=normalized, commit_signer=commit_signer, tag_signer=tag_signer)
