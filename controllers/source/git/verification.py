"""OpenPGP verification of the checked-out commit and/or tag (``spec.verify``).

Contract: ``verify`` takes the verification mode, the signed payloads a
checkout returned and the *decoded* data of ``spec.verify.secretRef``; it
returns the signers' fingerprints or raises an ``errors.VerificationError``
subclass carrying Flux's reason (InvalidCommitSignature, InvalidTagSignature,
InvalidGitObject, InvalidVerificationMode, VerificationError).

Trusted keys are the Secret's values under keys ending in ``.asc`` (armored
public keys; several per value allowed). Verification uses Debian's ``gpg``
(GnuPG 2.2) in a throwaway GNUPGHOME holding only those keys, with
``--no-autostart`` so no agent or dirmngr is started, and no key is ever fetched
from a keyserver. A signature is accepted only when gpg reports ``VALIDSIG``
(a good, unexpired signature by a key in that keyring). gpg runs as an asyncio
subprocess, so the event loop is never blocked. SSH signatures (``.sshpub``
keys) are not supported yet and fail verification with a clear message.
"""

from __future__ import annotations

import asyncio
import dataclasses
import pathlib
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from typing import Literal

from controllers.source.git import checkout, errors, refs

Mode = Literal["HEAD", "Tag", "TagAndHEAD"]
GPG = "gpg"
KEY_SUFFIX = ".asc"
SSH_KEY_SUFFIX = ".sshpub"
_SSH_SIGNATURE = b"-----BEGIN SSH SIGNATURE-----"


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


def trusted_keys(secret_data: Mapping[str, bytes]) -> list[bytes]:
    """The armored keys of the Secret (values under ``*.asc``), in key order."""
    keys = [value for name, value in sorted(secret_data.items()) if name.endswith(KEY_SUFFIX)]
    if not keys:
        if any(name.endswith(SSH_KEY_SUFFIX) for name in secret_data):
            raise errors.VerificationError(
                "the verification secret holds only SSH keys (*.sshpub), which are not supported"
            )
        raise errors.VerificationError("the verification secret has no OpenPGP keys (*.asc)")
    return keys


async def _gpg(home: pathlib.Path, *args: str, stdin: bytes) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        shutil.which(GPG) or GPG,
        "--homedir", str(home),
        "--batch", "--no-tty", "--no-autostart", "--no-auto-key-retrieve",
        "--no-default-keyring", "--keyring", str(home / "trusted.kbx"),
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate(stdin)
    assert process.returncode is not None
    return process.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


class _Keyring:
    """A temp GNUPGHOME with only the trusted keys; removed on exit."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        self._keys = keys
        self.home = pathlib.Path()

    async def __aenter__(self) -> _Keyring:
        self.home = pathlib.Path(tempfile.mkdtemp(prefix="headwater-gpg-"))
        try:
            for key in self._keys:
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
            return None, "it has an SSH signature, which is not supported"
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
