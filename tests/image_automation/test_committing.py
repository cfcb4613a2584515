"""One automation run against a real Git HTTP server: commit, push, no-op, branches, auth."""

from __future__ import annotations

import pathlib
import subprocess
from collections.abc import Callable
from typing import Any

import dulwich.object_store
import dulwich.objects
import dulwich.repo
import pytest

from controllers.image_automation import checkouts, committing, setters, signing
from shared.api import source
from tests.fixtures import gitservers

MARKED = 'image: app:1.0.0 # {"$imagepolicy": "apps:app"}\n# kept\nother: "x"\n'
SETTERS = {"apps:app": "app:1.1.0"}
AUTHOR = committing.Author(name="Flux", email="flux@example.com")


def _message(result: setters.Result) -> str:
    return "bump " + ", ".join(c.new_value for c in result.changes())


def _run(
    url: str,
    workdir: pathlib.Path,
    *,
    push_branch: str = "master",
    refspec: str | None = None,
    **overrides: object,
) -> committing.Outcome:
    options: dict[str, Any] = {
        "url": url,
        "credentials": committing.Credentials(),
        "checkout": checkouts.plan(None),
        "push": committing.PushTarget(branch=push_branch, refspec=refspec),
        "update_path": "deploy",
        "setter_values": SETTERS,
        "author": AUTHOR,
        "message": _message,
    }
    options.update(overrides)
    return committing.run(committing.Job(**options), workdir=workdir)


def _blob(repo: gitservers.RepoBuilder, branch: str, path: bytes) -> bytes:
    with dulwich.repo.Repo(str(repo.path)) as bare:
        commit = bare[f"refs/heads/{branch}".encode()]
        assert isinstance(commit, dulwich.objects.Commit)
        _, sha = dulwich.object_store.tree_lookup_path(bare.__getitem__, commit.tree, path)
        blob = bare[sha]
        assert isinstance(blob, dulwich.objects.Blob)
        return blob.data


@pytest.fixture
def repo(make_repo: Callable[..., gitservers.RepoBuilder]) -> gitservers.RepoBuilder:
    builder = make_repo("apps.git")
    builder.write({"deploy/app.yaml": MARKED, "README": "hello\n"})
    builder.commit("initial")
    return builder


def test_a_marked_file_is_committed_and_pushed_byte_for_byte(
    repo: gitservers.RepoBuilder, http_server: gitservers.GitServer, tmp_path: pathlib.Path
) -> None:
    before = repo.rev("master")
    outcome = _run(http_server.url("apps.git"), tmp_path / "w")
    assert outcome.commit is not None
    assert outcome.source_revision == f"master@sha1:{before}"
    assert repo.rev("master") == outcome.commit
    assert repo.git("log", "-1", "--format=%an <%ae>%n%B", "master").strip() == (
        "Flux <flux@example.com>\nbump app:1.1.0"
    )
    assert _blob(repo, "master", b"deploy/app.yaml") == MARKED.replace("1.0.0", "1.1.0").encode()
    assert repo.git("diff", "--name-only", before, "master").split() == ["deploy/app.yaml"]
    # A second run finds nothing to change: no commit.
    again = _run(http_server.url("apps.git"), tmp_path / "w2")
    assert again.commit is None
    assert repo.rev("master") == outcome.commit


def test_a_push_to_another_branch_leaves_the_checkout_branch(
    repo: gitservers.RepoBuilder, http_server: gitservers.GitServer, tmp_path: pathlib.Path
) -> None:
    before = repo.rev("master")
    outcome = _run(http_server.url("apps.git"), tmp_path / "w", push_branch="auto")
    assert repo.rev("master") == before
    assert repo.rev("auto") == outcome.commit
    # The next run starts from the existing push branch and finds it up to date.
    assert _run(http_server.url("apps.git"), tmp_path / "w2", push_branch="auto").commit is None


@pytest.mark.parametrize("ref", ["tag", "semver", "commit"])
def test_a_non_branch_checkout_starts_the_push_branch_at_that_commit(
    repo: gitservers.RepoBuilder,
    http_server: gitservers.GitServer,
    tmp_path: pathlib.Path,
    ref: str,
) -> None:
    tagged = repo.rev("master")
    repo.tag("v1.0.0", message="release")  # annotated: the run peels it
    repo.tag("v0.9.0")
    moved = repo.commit("later", {"README": "changed\n"})
    checkout = checkouts.plan(source.GitRepositoryRef.model_validate(
        {"tag": {"tag": "v1.0.0"}, "semver": {"semver": "^1"}, "commit": {"commit": tagged}}[ref]
    ))  # fmt: skip
    url = http_server.url("apps.git")
    outcome = _run(url, tmp_path / "w", push_branch="auto", checkout=checkout)
    assert outcome.commit is not None
    name = "" if ref == "commit" else "v1.0.0@"
    assert outcome.source_revision == f"{name}sha1:{tagged}"
    assert repo.rev("master") == moved
    assert repo.rev("auto") == outcome.commit
    assert repo.git("rev-parse", "auto~1") == tagged
    assert repo.git("diff", "--name-only", tagged, "auto").split() == ["deploy/app.yaml"]
    # The next run starts from the push branch, which now exists: nothing to change.
    again = _run(url, tmp_path / "w2", push_branch="auto", checkout=checkout)
    assert again.commit is None
    assert again.source_revision == f"auto@sha1:{outcome.commit}"


def test_a_commit_the_remote_lacks_is_a_git_error(
    repo: gitservers.RepoBuilder, http_server: gitservers.GitServer, tmp_path: pathlib.Path
) -> None:
    checkout = checkouts.plan(source.GitRepositoryRef(commit="f" * 40))
    with pytest.raises(committing.GitError, match=f"commit '{'f' * 40}' not found"):
        _run(http_server.url("apps.git"), tmp_path / "w", push_branch="auto", checkout=checkout)


def test_a_refspec_is_pushed_too(
    repo: gitservers.RepoBuilder, http_server: gitservers.GitServer, tmp_path: pathlib.Path
) -> None:
    outcome = _run(
        http_server.url("apps.git"),
        tmp_path / "w",
        push_branch="auto",
        refspec="refs/heads/auto:refs/heads/review",
    )
    assert repo.rev("auto") == repo.rev("review") == outcome.commit


def test_wrong_credentials_are_a_clear_error(
    repo: gitservers.RepoBuilder,
    start_http: Callable[..., gitservers.GitServer],
    tmp_path: pathlib.Path,
) -> None:
    server = start_http(basic="user:secret")
    right = committing.Credentials(username="user", password="secret")
    wrong = committing.Credentials(username="user", password="nope")
    with pytest.raises(committing.GitError, match=r"authentication to .* failed") as caught:
        _run(server.url("apps.git"), tmp_path / "w", credentials=wrong)
    assert caught.value.reason == committing.AUTH_FAILED
    assert "nope" not in str(caught.value)
    assert _run(server.url("apps.git"), tmp_path / "w2", credentials=right).commit is not None


@pytest.mark.parametrize(
    ("url", "data", "error"),
    [
        ("ssh://git@example.com/a.git", {"identity": b"k"}, "has no 'known_hosts'"),
        ("ssh://git@example.com/a.git", {"known_hosts": b"h"}, "has no 'identity'"),
        ("https://example.com/a.git", {"username": b"u", "bearerToken": b"t"}, "both basic auth"),
        ("https://example.com/a.git", {"password": b"p"}, "password without username"),
    ],
)  # fmt: skip
def test_unusable_secrets_are_refused(url: str, data: dict[str, bytes], error: str) -> None:
    with pytest.raises(committing.GitError, match=error) as caught:
        committing.credentials_from_secret(data, url=url)
    assert caught.value.reason == committing.INVALID_SOURCE


def _ssh_credentials(server: gitservers.SshServer, identity: bytes, **data: bytes) -> Any:
    return committing.credentials_from_secret(
        {"identity": identity, "known_hosts": server.known_hosts, **data},
        url=server.url("apps.git"),
    )


def test_an_ssh_remote_is_cloned_and_pushed_with_the_secret_key(
    repo: gitservers.RepoBuilder, sshd: gitservers.SshServer, tmp_path: pathlib.Path
) -> None:
    before = repo.rev("master")
    url = sshd.url("apps.git")
    outcome = _run(url, tmp_path / "w", credentials=_ssh_credentials(sshd, sshd.identity))
    assert outcome.commit is not None
    assert outcome.source_revision == f"master@sha1:{before}"
    assert repo.rev("master") == outcome.commit
    assert _blob(repo, "master", b"deploy/app.yaml") == MARKED.replace("1.0.0", "1.1.0").encode()
    # An encrypted key is unlocked with the Secret's password (its passphrase).
    encrypted = _ssh_credentials(
        sshd, sshd.encrypted_identity, password=sshd.passphrase.encode()
    )  # fmt: skip
    again = _run(url, tmp_path / "w2", credentials=encrypted, setter_values={"apps:app": "app:2"})
    assert again.commit is not None
    assert repo.rev("master") == again.commit


def test_an_unauthorized_ssh_key_or_unknown_host_key_is_a_git_error(
    repo: gitservers.RepoBuilder, sshd: gitservers.SshServer, tmp_path: pathlib.Path
) -> None:
    before = repo.rev("master")
    url = sshd.url("apps.git")
    with pytest.raises(committing.GitError, match="Permission denied") as refused:
        _run(url, tmp_path / "w", credentials=_ssh_credentials(sshd, sshd.other_identity))
    assert refused.value.reason == committing.AUTH_FAILED
    stranger = committing.credentials_from_secret(
        {"identity": sshd.identity,
         "known_hosts": b"[127.0.0.1]:1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHN0cmFuZ2Vy\n"},
        url=url,
    )  # fmt: skip
    with pytest.raises(committing.GitError, match="Host key verification failed"):
        _run(url, tmp_path / "w2", credentials=stranger)
    assert repo.rev("master") == before


def test_an_update_path_outside_the_repository_is_refused(
    repo: gitservers.RepoBuilder, http_server: gitservers.GitServer, tmp_path: pathlib.Path
) -> None:
    with pytest.raises(committing.GitError, match="leaves the repository"):
        _run(http_server.url("apps.git"), tmp_path / "w", update_path="../..")


def test_a_push_that_races_another_commit_is_redone_on_the_new_head(
    repo: gitservers.RepoBuilder, http_server: gitservers.GitServer, tmp_path: pathlib.Path
) -> None:
    calls: list[int] = []

    def racing_message(result: setters.Result) -> str:
        calls.append(len(calls))
        if len(calls) == 1:  # someone else pushes between our clone and our push
            repo.write({"OTHER": "theirs\n"})
            repo.commit("their change")
        return _message(result)

    theirs_before = repo.rev("master")
    outcome = _run(http_server.url("apps.git"), tmp_path / "w", message=racing_message)
    assert len(calls) == 2
    assert outcome.commit == repo.rev("master")
    parent = repo.rev("master~1")
    assert parent != theirs_before
    assert repo.git("log", "-1", "--format=%s", parent) == "their change"
    assert _blob(repo, "master", b"OTHER") == b"theirs\n"
    assert b"app:1.1.0" in _blob(repo, "master", b"deploy/app.yaml")


def test_a_signing_key_signs_the_commit(
    repo: gitservers.RepoBuilder,
    http_server: gitservers.GitServer,
    gpg_key: gitservers.GpgKey,
    tmp_path: pathlib.Path,
) -> None:
    secret = {
        "git.asc": gitservers.run(
            ["gpg", "--batch", "--armor", "--export-secret-keys", gpg_key.fingerprint],
            env=gitservers.git_env(gpg_key.env()),
        ).encode()
    }
    key = signing.key_from_secret(secret)
    outcome = _run(http_server.url("apps.git"), tmp_path / "w", signing_key=key)
    assert outcome.commit == repo.rev("master")
    status = subprocess.run(
        ["git", f"--git-dir={repo.path}", "verify-commit", "--raw", "master"],
        env=gitservers.git_env(gpg_key.env()), capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert status.returncode == 0, status.stderr
    assert f"VALIDSIG {gpg_key.fingerprint}" in status.stderr


def test_a_signing_secret_without_a_key_is_refused() -> None:
    with pytest.raises(signing.SigningError, match=r"no 'git\.asc' entry"):
        signing.key_from_secret({"passphrase": b"x"})


def test_a_bearer_token_is_sent(
    repo: gitservers.RepoBuilder,
    start_http: Callable[..., gitservers.GitServer],
    tmp_path: pathlib.Path,
) -> None:
    server = start_http(bearer="tok3n")
    url = server.url("apps.git")
    wrong = committing.credentials_from_secret({"bearerToken": b"other"}, url=url)
    with pytest.raises(committing.GitError, match=r"authentication to .* failed"):
        _run(server.url("apps.git"), tmp_path / "w", credentials=wrong)
    right = committing.credentials_from_secret({"bearerToken": b"tok3n"}, url=url)
    assert repr(right) == "Credentials(basic=False, bearer=True, ssh=False)"
    outcome = _run(server.url("apps.git"), tmp_path / "w2", credentials=right)
    assert outcome.commit == repo.rev("master")
