"""Checkout of each ref kind from a real server, sparse checkout, submodules, errors."""

from __future__ import annotations

import os
import pathlib
import socket
from collections.abc import Callable, Iterator

import dulwich.objects
import dulwich.refs
import dulwich.repo
import pytest

from controllers.source.git import auth, checkout, errors
from shared.api import source
from tests.fixtures import gitservers

TIME_LIMIT = 20.0


def _tree(root: pathlib.Path) -> dict[str, str]:
    """Relative path → content (``-> target`` for links) of every file under ``root``."""
    found: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            found[rel] = "-> " + os.readlink(path)
        elif path.is_file():
            found[rel] = path.read_text()
    return found


async def _checkout(
    options: auth.AuthOptions,
    dest: pathlib.Path,
    *,
    ref: source.GitRepositoryRef | None = None,
    **kwargs: object,
) -> checkout.CheckoutResult:
    resolved = await checkout.resolve(options, ref=ref, time_limit=TIME_LIMIT)
    dest.mkdir()  # noqa: ASYNC240 - a test helper; one mkdir
    return await checkout.checkout(
        options,
        resolved,
        dest=dest,
        time_limit=TIME_LIMIT,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.fixture
def history(make_repo: Callable[..., gitservers.RepoBuilder]) -> gitservers.RepoBuilder:
    """master: c1 (v1.0.0, lightweight) → c2 (v1.1.0 annotated) → c3 (v2.0.0-rc.1);
    branch dev from c2 with c4; refs/pull/7/head → c4."""
    repo = make_repo("app.git")
    repo.commit("c1", {"app/v.txt": "1", "README": "readme"})
    repo.tag("v1.0.0")
    repo.commit("c2", {"app/v.txt": "2"})
    repo.tag("v1.1.0", message="release 1.1.0")
    repo.checkout_branch("dev")
    repo.commit("c4", {"app/v.txt": "dev"})
    repo.git("update-ref", "refs/pull/7/head", "HEAD")
    repo.checkout_branch("master", create=False)
    repo.commit("c3", {"app/v.txt": "3", "bin/run.sh": "#!/bin/sh\n"})
    repo.tag("v2.0.0-rc.1", message="rc")
    return repo


@pytest.mark.parametrize(
    ("ref", "content", "revision_name"),
    [
        (None, "3", "master"),
        ({"branch": "dev"}, "dev", "dev"),
        ({"tag": "v1.0.0"}, "1", "v1.0.0"),
        ({"tag": "v1.1.0"}, "2", "v1.1.0"),
        ({"semver": ">=1.0.0 <2.0.0"}, "2", "v1.1.0"),
        ({"semver": "^1.0"}, "2", "v1.1.0"),
        ({"semver": "~1.0"}, "1", "v1.0.0"),
        ({"semver": ">=2.0.0-0"}, "3", "v2.0.0-rc.1"),
        ({"name": "refs/pull/7/head"}, "dev", "refs/pull/7/head"),
        ({"name": "refs/heads/dev"}, "dev", "refs/heads/dev"),
    ],
    ids=["default-master", "branch", "lightweight-tag", "annotated-tag", "semver-range",
         "semver-caret", "semver-tilde", "semver-prerelease", "name-pull", "name-head"],
)  # fmt: skip
async def test_each_ref_kind(
    history: gitservers.RepoBuilder,
    http_server: gitservers.GitServer,
    tmp_path: pathlib.Path,
    ref: dict[str, str] | None,
    content: str,
    revision_name: str,
) -> None:
    options = auth.options_for(http_server.url("app.git"))
    spec_ref = source.GitRepositoryRef(**ref) if ref else None
    result = await _checkout(options, tmp_path / "out", ref=spec_ref)
    assert (tmp_path / "out" / "app" / "v.txt").read_text() == content
    commit = history.rev(f"{result.commit.sha}^{{commit}}")
    assert result.commit.revision == f"{revision_name}@sha1:{commit}"
    assert not (tmp_path / "out" / ".git").exists()


@pytest.mark.parametrize("with_branch", [False, True])
async def test_commit_ref(
    history: gitservers.RepoBuilder,
    http_server: gitservers.GitServer,
    tmp_path: pathlib.Path,
    with_branch: bool,
) -> None:
    c2 = history.rev("master~1")
    ref = source.GitRepositoryRef(commit=c2, branch="master" if with_branch else None)
    result = await _checkout(auth.options_for(http_server.url("app.git")), tmp_path / "o", ref=ref)
    assert (tmp_path / "o" / "app" / "v.txt").read_text() == "2"
    expected = f"master@sha1:{c2}" if with_branch else f"sha1:{c2}"
    assert result.commit.revision == expected


async def test_commit_not_on_branch_is_refused(
    history: gitservers.RepoBuilder, http_server: gitservers.GitServer, tmp_path: pathlib.Path
) -> None:
    c4 = history.rev("dev")
    ref = source.GitRepositoryRef(commit=c4, branch="master")
    with pytest.raises(errors.RefNotFoundError, match="is not on branch 'master'"):
        await _checkout(auth.options_for(http_server.url("app.git")), tmp_path / "o", ref=ref)


async def test_missing_commit_is_a_readable_error(
    history: gitservers.RepoBuilder, http_server: gitservers.GitServer, tmp_path: pathlib.Path
) -> None:
    ref = source.GitRepositoryRef(commit="f" * 40)
    with pytest.raises(errors.GitOperationError, match=r"f{40}"):
        await _checkout(auth.options_for(http_server.url("app.git")), tmp_path / "o", ref=ref)


@pytest.mark.parametrize(
    ("ref", "message"),
    [({"branch": "nope"}, "branch 'nope' not found in http://127.0.0.1:"),
     ({"tag": "v9.9.9"}, "tag 'v9.9.9' not found"),
     ({"semver": ">=5"}, "no tag in .* matches semver constraint '>=5'")],
)  # fmt: skip
async def test_missing_ref_is_a_readable_error(
    history: gitservers.RepoBuilder,
    http_server: gitservers.GitServer,
    ref: dict[str, str],
    message: str,
) -> None:
    options = auth.options_for(http_server.url("app.git"))
    with pytest.raises(errors.RefNotFoundError, match=message):
        await checkout.resolve(options, ref=source.GitRepositoryRef(**ref), time_limit=10)


async def test_executable_bit_and_symlinks_are_kept(
    make_repo: Callable[..., gitservers.RepoBuilder],
    http_server: gitservers.GitServer,
    tmp_path: pathlib.Path,
) -> None:
    repo = make_repo("app.git")
    repo.write({"run.sh": "#!/bin/sh\n"})
    (repo.work / "run.sh").chmod(0o755)
    (repo.work / "link").symlink_to("run.sh")
    repo.commit("files")
    await _checkout(auth.options_for(http_server.url("app.git")), tmp_path / "o")
    assert os.access(tmp_path / "o" / "run.sh", os.X_OK)
    assert os.readlink(tmp_path / "o" / "link") == "run.sh"


async def test_resolve_is_one_request_and_clones_nothing(
    history: gitservers.RepoBuilder, http_server: gitservers.GitServer
) -> None:
    """The unchanged case: one ls-remote round trip tells the revision; no pack is fetched."""
    options = auth.options_for(http_server.url("app.git"))
    http_server.reset_log()
    resolved = await checkout.resolve(
        options, ref=source.GitRepositoryRef(semver="^1"), time_limit=TIME_LIMIT
    )
    assert resolved.revision == f"v1.1.0@sha1:{history.rev('v1.1.0^{commit}')}"
    assert http_server.requests() == ["GET /app.git/info/refs?service=git-upload-pack 200"]


async def test_sparse_checkout_writes_only_listed_directories(
    history: gitservers.RepoBuilder, http_server: gitservers.GitServer, tmp_path: pathlib.Path
) -> None:
    options = auth.options_for(http_server.url("app.git"))
    await _checkout(options, tmp_path / "o", sparse_checkout=["app/"])
    assert _tree(tmp_path / "o") == {"app/v.txt": "3"}


async def test_sparse_checkout_of_a_missing_directory_fails(
    history: gitservers.RepoBuilder, http_server: gitservers.GitServer, tmp_path: pathlib.Path
) -> None:
    options = auth.options_for(http_server.url("app.git"))
    with pytest.raises(errors.GitOperationError, match="not found in the commit: nope"):
        await _checkout(options, tmp_path / "o", sparse_checkout=["nope"])


@pytest.mark.parametrize("entry", ["../up", "/abs", ".", ""])
async def test_sparse_checkout_paths_may_not_escape(
    history: gitservers.RepoBuilder,
    http_server: gitservers.GitServer,
    tmp_path: pathlib.Path,
    entry: str,
) -> None:
    with pytest.raises(errors.IllegalPathError):
        await _checkout(
            auth.options_for(http_server.url("app.git")), tmp_path / "o", sparse_checkout=[entry]
        )


async def test_submodules_are_filled_when_asked(
    make_repo: Callable[..., gitservers.RepoBuilder],
    http_server: gitservers.GitServer,
    git_daemon: gitservers.GitServer,
    tmp_path: pathlib.Path,
) -> None:
    lib = make_repo("lib.git")
    lib_commit = lib.commit("lib", {"lib.yaml": "lib: 1\n"})
    lib.commit("lib newer", {"lib.yaml": "lib: 2\n"})  # the pin stays at lib_commit
    tools = make_repo("tools.git")
    tools_commit = tools.commit("tools", {"tool.txt": "tool"})
    app = make_repo("app.git")
    gitmodules = (
        '[submodule "lib"]\n\tpath = vendor/lib\n\turl = ../lib.git\n'
        f'[submodule "tools"]\n\tpath = tools\n\turl = {git_daemon.url("tools.git")}\n'
    )
    app.commit(
        "with submodules",
        {".gitmodules": gitmodules, "main.yaml": "x"},
        gitlinks={"vendor/lib": lib_commit, "tools": tools_commit},
    )
    options = auth.options_for(http_server.url("app.git"))

    plain = await _checkout(options, tmp_path / "plain")
    assert _tree(tmp_path / "plain") == {".gitmodules": gitmodules, "main.yaml": "x"}
    assert plain.submodules == ()

    full = await _checkout(options, tmp_path / "full", recurse_submodules=True)
    assert _tree(tmp_path / "full") == {
        ".gitmodules": gitmodules,
        "main.yaml": "x",
        "tools/tool.txt": "tool",
        "vendor/lib/lib.yaml": "lib: 1\n",
    }
    assert sorted(full.submodules) == ["tools", "vendor/lib"]


@pytest.mark.parametrize("name", [b"..", b".git", b".GIT", b"a/b"])
async def test_hostile_tree_entries_are_refused(
    make_repo: Callable[..., gitservers.RepoBuilder],
    http_server: gitservers.GitServer,
    tmp_path: pathlib.Path,
    name: bytes,
) -> None:
    builder = make_repo("evil.git")
    repo = dulwich.repo.Repo(str(builder.path))
    blob = dulwich.objects.Blob.from_string(b"pwned\n")
    inner = dulwich.objects.Tree()
    inner.add(b"payload", 0o100644, blob.id)
    tree = dulwich.objects.Tree()
    tree.add(name, 0o040000, inner.id)
    commit = dulwich.objects.Commit()
    commit.tree = tree.id
    commit.author = commit.committer = b"Evil <evil@example.com>"
    commit.author_time = commit.commit_time = 0
    commit.author_timezone = commit.commit_timezone = 0
    commit.message = b"evil\n"
    for obj in (blob, inner, tree, commit):
        repo.object_store.add_object(obj)
    repo.refs[dulwich.refs.Ref(b"refs/heads/master")] = commit.id
    with pytest.raises(errors.IllegalPathError, match="illegal path"):
        await _checkout(auth.options_for(http_server.url("evil.git")), tmp_path / "o")
    assert not (tmp_path / "payload").exists()


async def test_empty_repository_is_a_readable_error(
    make_repo: Callable[..., gitservers.RepoBuilder], http_server: gitservers.GitServer
) -> None:
    make_repo("empty.git")
    with pytest.raises(errors.EmptyRepositoryError, match="empty repository"):
        await checkout.resolve(
            auth.options_for(http_server.url("empty.git")), ref=None, time_limit=10
        )


@pytest.fixture
def silent_listener() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield int(sock.getsockname()[1])


async def test_timeout_is_a_readable_error(silent_listener: int) -> None:
    options = auth.options_for(f"http://127.0.0.1:{silent_listener}/app.git")
    with pytest.raises(errors.GitTimeoutError, match=r"timed out|exceeded the timeout"):
        await checkout.resolve(options, ref=None, time_limit=1)
