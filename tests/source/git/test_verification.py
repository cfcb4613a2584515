"""OpenPGP and SSH verification of commits and tags signed by real gpg / ssh-keygen, over HTTP."""

from __future__ import annotations

import dataclasses
import pathlib
from collections.abc import Callable

import pytest

from controllers.source.git import auth, checkout, errors, refs, verification
from shared.api import source, source_conditions
from tests.fixtures import credentials, gitservers

TIME_LIMIT = 20.0


@pytest.fixture
def signed_repo(
    make_repo: Callable[..., gitservers.RepoBuilder], gpg_key: gitservers.GpgKey
) -> gitservers.RepoBuilder:
    """master: unsigned c1 (tags: v0.1.0 lightweight, v0.2.0 annotated unsigned)
    → signed c2 (tag v1.0.0 signed)."""
    repo = make_repo("app.git")
    repo.commit("unsigned", {"a.txt": "1"})
    repo.tag("v0.1.0")
    repo.tag("v0.2.0", message="unsigned annotated")
    repo.commit("signed", {"a.txt": "2"}, sign=gpg_key)
    repo.tag("v1.0.0", message="signed release", sign=gpg_key)
    return repo


async def _verify(
    server: gitservers.GitServer,
    tmp_path: pathlib.Path,
    *,
    ref: source.GitRepositoryRef | None,
    mode: str | None,
    keys: dict[str, bytes],
) -> verification.Verified:
    result = await _checked_out(server, tmp_path, ref=ref)
    return await verification.verify(
        mode=mode, plan=refs.plan(ref), result=result, secret_data=keys
    )


async def _checked_out(
    server: gitservers.GitServer, tmp_path: pathlib.Path, *, ref: source.GitRepositoryRef | None
) -> checkout.CheckoutResult:
    options = auth.options_for(server.url("app.git"))
    resolved = await checkout.resolve(options, ref=ref, time_limit=TIME_LIMIT)
    dest = tmp_path / "out"
    dest.mkdir()
    return await checkout.checkout(options, resolved, dest=dest, time_limit=TIME_LIMIT)


@pytest.mark.parametrize(
    ("ref", "mode"),
    [(None, "HEAD"), (None, "head"), (None, None),
     ({"tag": "v1.0.0"}, "Tag"), ({"tag": "v1.0.0"}, "TagAndHEAD"),
     ({"semver": ">=1"}, "TagAndHEAD")],
)  # fmt: skip
async def test_signed_commit_and_tag_are_verified(
    signed_repo: gitservers.RepoBuilder,
    http_server: gitservers.GitServer,
    gpg_key: gitservers.GpgKey,
    tmp_path: pathlib.Path,
    ref: dict[str, str] | None,
    mode: str | None,
) -> None:
    spec_ref = source.GitRepositoryRef(**ref) if ref else None
    verified = await _verify(
        http_server, tmp_path, ref=spec_ref, mode=mode, keys={"author.asc": gpg_key.public_armor}
    )
    assert verified.mode == (mode if mode in ("Tag", "TagAndHEAD") else "HEAD")
    if verified.mode in ("HEAD", "TagAndHEAD"):
        assert verified.commit_signer == gpg_key.fingerprint
    if verified.mode in ("Tag", "TagAndHEAD"):
        assert verified.tag_signer == gpg_key.fingerprint


async def test_unsigned_commit_is_refused(
    signed_repo: gitservers.RepoBuilder,
    http_server: gitservers.GitServer,
    gpg_key: gitservers.GpgKey,
    tmp_path: pathlib.Path,
) -> None:
    ref = source.GitRepositoryRef(tag="v0.1.0")
    with pytest.raises(errors.InvalidCommitSignatureError, match="it is not signed") as info:
        await _verify(
            http_server, tmp_path, ref=ref, mode="HEAD", keys={"a.asc": gpg_key.public_armor}
        )
    assert info.value.reason == source_conditions.INVALID_COMMIT_SIGNATURE_REASON


async def test_commit_signed_by_an_untrusted_key_is_refused(
    signed_repo: gitservers.RepoBuilder,
    http_server: gitservers.GitServer,
    other_gpg_key: gitservers.GpgKey,
    tmp_path: pathlib.Path,
) -> None:
    with pytest.raises(errors.InvalidCommitSignatureError, match="not in the verification secret"):
        await _verify(
            http_server, tmp_path, ref=None, mode="HEAD", keys={"x.asc": other_gpg_key.public_armor}
        )


async def test_any_trusted_key_may_sign(
    signed_repo: gitservers.RepoBuilder,
    http_server: gitservers.GitServer,
    gpg_key: gitservers.GpgKey,
    other_gpg_key: gitservers.GpgKey,
    tmp_path: pathlib.Path,
) -> None:
    keys = {"a.asc": other_gpg_key.public_armor, "b.asc": gpg_key.public_armor}
    verified = await _verify(http_server, tmp_path, ref=None, mode="HEAD", keys=keys)
    assert verified.commit_signer == gpg_key.fingerprint


@pytest.mark.parametrize(
    ("tag", "error", "match"),
    [
        ("v0.2.0", errors.InvalidTagSignatureError, "it is not signed"),
        ("v0.1.0", errors.InvalidGitObjectError, "lightweight tag"),
    ],
    ids=["unsigned annotated tag is refused", "lightweight tag cannot be verified"],
)
async def test_tag_without_a_signature_fails_tag_mode(
    signed_repo: gitservers.RepoBuilder,
    http_server: gitservers.GitServer,
    gpg_key: gitservers.GpgKey,
    tmp_path: pathlib.Path,
    tag: str,
    error: type[Exception],
    match: str,
) -> None:
    ref = source.GitRepositoryRef(tag=tag)
    with pytest.raises(error, match=match):
        await _verify(
            http_server, tmp_path, ref=ref, mode="Tag", keys={"a.asc": gpg_key.public_armor}
        )


async def test_tampered_commit_payload_is_refused(
    signed_repo: gitservers.RepoBuilder,
    http_server: gitservers.GitServer,
    gpg_key: gitservers.GpgKey,
    tmp_path: pathlib.Path,
) -> None:
    result = await _checked_out(http_server, tmp_path, ref=None)
    payload = result.commit_signature.payload.replace(b"signed", b"forged")
    tampered = checkout.CheckoutResult(
        commit=result.commit,
        commit_signature=checkout.SignedPayload(
            payload=payload, signature=result.commit_signature.signature
        ),
        tag_signature=None,
        files=result.files,
        submodules=(),
    )
    with pytest.raises(errors.InvalidCommitSignatureError, match="BADSIG"):
        await verification.verify(
            mode="HEAD",
            plan=refs.plan(None),
            result=tampered,
            secret_data={"a.asc": gpg_key.public_armor},
        )


def test_tag_mode_needs_a_tag_reference() -> None:
    with pytest.raises(errors.InvalidModeError, match="needs a tag reference") as info:
        verification.check_mode("Tag", plan=refs.plan(source.GitRepositoryRef(branch="main")))
    assert info.value.stalling


@pytest.mark.parametrize("data", [{}, {"a.asc": b" \n"}, {"k.sshpub": b"# only a comment\n"}])
def test_secret_without_keys_is_a_verification_error(data: dict[str, bytes]) -> None:
    with pytest.raises(errors.VerificationError, match="has no keys"):
        verification.trusted_keys(data)


def test_every_value_but_sshpub_is_an_openpgp_candidate() -> None:
    keys = verification.trusted_keys(
        {"gpg-key": b"A", "author.pub": b"B", "k.sshpub": b"ssh-ed25519 AAAA x\n\nssh-rsa BBBB\n"}
    )
    assert keys.openpgp == [b"B", b"A"]
    assert keys.ssh == [b"ssh-ed25519 AAAA x", b"ssh-rsa BBBB"]


@pytest.mark.parametrize("name", ["author.pub", "gpg-key", "identity"])
async def test_openpgp_key_without_asc_suffix_verifies(
    signed_repo: gitservers.RepoBuilder,
    http_server: gitservers.GitServer,
    gpg_key: gitservers.GpgKey,
    tmp_path: pathlib.Path,
    name: str,
) -> None:
    ref = source.GitRepositoryRef(tag="v1.0.0")
    keys = {name: gpg_key.public_armor}
    verified = await _verify(http_server, tmp_path, ref=ref, mode="TagAndHEAD", keys=keys)
    assert (verified.commit_signer, verified.tag_signer) == (gpg_key.fingerprint,) * 2


@pytest.fixture
def ssh_signed_repo(
    make_repo: Callable[..., gitservers.RepoBuilder], ssh_signing_key: gitservers.SshSigningKey
) -> gitservers.RepoBuilder:
    """master: SSH-signed commit with an SSH-signed tag v1.0.0."""
    repo = make_repo("app.git")
    repo.commit("signed", {"a.txt": "1"}, sign=ssh_signing_key)
    repo.tag("v1.0.0", message="signed release", sign=ssh_signing_key)
    return repo


async def test_ssh_signed_commit_and_tag_are_verified(
    ssh_signed_repo: gitservers.RepoBuilder,
    http_server: gitservers.GitServer,
    ssh_signing_key: gitservers.SshSigningKey,
    gpg_key: gitservers.GpgKey,
    tmp_path: pathlib.Path,
) -> None:
    ref = source.GitRepositoryRef(tag="v1.0.0")
    keys = {"author.sshpub": ssh_signing_key.public_line, "other.asc": gpg_key.public_armor}
    verified = await _verify(http_server, tmp_path, ref=ref, mode="TagAndHEAD", keys=keys)
    assert verified.commit_signer == ssh_signing_key.fingerprint
    assert verified.tag_signer == ssh_signing_key.fingerprint
    assert verified.commit_signer.startswith("SHA256:")


@pytest.mark.parametrize(
    ("repo", "keys", "match"),
    [
        ("ssh_signed_repo", "other_ssh", "ssh-keygen could not verify"),
        ("ssh_signed_repo", "gpg", r"no \*\.sshpub keys"),
        ("signed_repo", "ssh", "no OpenPGP keys"),
    ],
    ids=["untrusted SSH key", "SSH signature, no *.sshpub", "OpenPGP signature, only *.sshpub"],
)
async def test_a_signature_no_trusted_key_of_its_kind_verifies_is_refused(
    request: pytest.FixtureRequest,
    http_server: gitservers.GitServer,
    ssh_signing_key: gitservers.SshSigningKey,
    gpg_key: gitservers.GpgKey,
    tmp_path: pathlib.Path,
    repo: str,
    keys: str,
    match: str,
) -> None:
    request.getfixturevalue(repo)
    secret = {
        "other_ssh": {"o.sshpub": credentials.make_ssh_signing_key(tmp_path / "o").public_line},
        "gpg": {"a.asc": gpg_key.public_armor},
        "ssh": {"k.sshpub": ssh_signing_key.public_line},
    }[keys]
    with pytest.raises(errors.InvalidCommitSignatureError, match=match):
        await _verify(http_server, tmp_path, ref=None, mode="HEAD", keys=secret)


async def test_tampered_ssh_signed_payload_is_refused(
    ssh_signed_repo: gitservers.RepoBuilder,
    http_server: gitservers.GitServer,
    ssh_signing_key: gitservers.SshSigningKey,
    tmp_path: pathlib.Path,
) -> None:
    result = await _checked_out(http_server, tmp_path, ref=None)
    signed = result.commit_signature
    forged = dataclasses.replace(signed, payload=signed.payload.replace(b"signed", b"forged"))
    with pytest.raises(errors.InvalidCommitSignatureError, match="ssh-keygen could not verify"):
        await verification.verify(
            mode="HEAD",
            plan=refs.plan(None),
            result=dataclasses.replace(result, commit_signature=forged),
            secret_data={"k.sshpub": ssh_signing_key.public_line},
        )


async def test_garbage_key_is_a_verification_error(
    signed_repo: gitservers.RepoBuilder, http_server: gitservers.GitServer, tmp_path: pathlib.Path
) -> None:
    with pytest.raises(errors.VerificationError, match="cannot import a key"):
        await _verify(http_server, tmp_path, ref=None, mode="HEAD", keys={"a.asc": b"garbage"})
