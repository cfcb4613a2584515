"""Properties of ignore rules, which come from ``.sourceignore`` files in Git and ``spec.ignore``.

The reference is git itself: for a generated tree and generated excluding
patterns, the files an artifact holds (``archiving.write_archive`` filtered by
``ignoring.source_matcher``) are exactly the files ``git ls-files --others
--exclude-standard`` lists when the same patterns are git's excludes: root
patterns as ``.git/info/exclude``, each ``.sourceignore`` as a ``.gitignore``
beside it. Patterns are generated from gitignore's grammar (anchors, ``*``,
``?``, ``**``, classes, directory-only), trees from a few names so that
patterns hit, lines end in LF or CRLF.

Where git and Flux's go-git matcher (which Headwater follows) differ, git
is not the reference: a trailing ``**/`` is not generated, and negations
are checked with a weaker property, because go-git lets ``!name`` re-include
files below a directory called ``name`` where git does not: adding a
negation never removes a file from the artifact, adding an exclusion never
adds one.

And any text at all, as a ``.sourceignore`` or ``spec.ignore``, gives a
matcher (or IgnoreRulesError), never another exception.
"""

from __future__ import annotations

import io
import os
import pathlib
import shutil
import subprocess
import tarfile
import tempfile

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from shared.artifacts import archiving, errors, ignoring

pytestmark = pytest.mark.fuzz

# "a\vb": a vertical tab is part of a name to git, not a line break.
_NAMES = ["a", "b", "ab", ".d", "x.y", "a\vb"]
_SEGMENTS = [*_NAMES, "*", "?", "**", "a*", "*b", "*.y", "[ab]", "[!a]*"]
_GIT_ENV = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}


@st.composite
def trees(draw: st.DrawFn) -> list[str]:
    """Relative file paths, none of which is a directory of another."""
    paths = draw(
        st.lists(
            st.lists(st.sampled_from(_NAMES), min_size=1, max_size=3).map("/".join),
            min_size=1,
            max_size=12,
            unique=True,
        )
    )
    return sorted(p for p in paths if not any(other.startswith(p + "/") for other in paths))


def _pattern(anchor: bool, segments: list[str], directory: bool) -> str:
    # NB: not "x/**/": git matches only the directories below x, go-git (and
    # so Flux and Headwater) x itself as well.
    directory = directory and segments[-1] != "**"
    return ("/" if anchor else "") + "/".join(segments) + ("/" if directory else "")


excluding_lines = st.builds(
    _pattern,
    st.booleans(),
    st.lists(st.sampled_from(_SEGMENTS), min_size=1, max_size=3),
    st.booleans(),
)
negating_lines = excluding_lines.map(lambda line: "!" + line)


@st.composite
def pattern_texts(draw: st.DrawFn, lines: st.SearchStrategy[str] = excluding_lines) -> str:
    """A gitignore text: patterns, blank and comment lines, LF or CRLF line ends."""
    chosen = draw(
        st.lists(st.one_of(lines, st.sampled_from(["", "# comment"])), min_size=1, max_size=6)
    )
    return draw(st.sampled_from(["\n", "\r\n"])).join(chosen)


def _write_tree(root: pathlib.Path, files: list[str]) -> None:
    for name in files:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(name)


def _archived_files(root: pathlib.Path, matcher: ignoring.Matcher) -> set[str]:
    buffer = io.BytesIO()
    archiving.write_archive(root, buffer, exclude=matcher)
    buffer.seek(0)
    with tarfile.open(fileobj=buffer, mode="r:gz") as archive:
        return {member.name for member in archive.getmembers() if member.isfile()}


def _git_files(root: pathlib.Path) -> set[str]:
    listed = subprocess.run(
        ["git", "-C", str(root), "ls-files", "-z", "--others", "--exclude-standard"],
        check=True,
        capture_output=True,
        env=_GIT_ENV,
    ).stdout.decode()
    # The .gitignore files stand for the .sourceignore files beside them.
    return {name for name in listed.split("\0") if name and not name.endswith(".gitignore")}


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """One git repository for all examples (``git init`` is most of an example's cost)."""
    root = tmp_path_factory.mktemp("ignoring")
    subprocess.run(["git", "init", "-q", str(root)], check=True, env=_GIT_ENV)
    return root


def _emptied(root: pathlib.Path) -> pathlib.Path:
    """``root`` with everything but its ``.git`` removed, and no excludes."""
    for child in root.iterdir():
        if child.name != ".git":
            shutil.rmtree(child) if child.is_dir() else child.unlink()
    (root / ".git/info/exclude").write_text("")
    return root


@given(files=trees(), patterns=pattern_texts())
@example(files=["ab/a", "b/ab"], patterns="**/ab/")
@example(files=["a", "b", "a\vb"], patterns="a\vb\r\n")
def test_spec_ignore_keeps_what_git_keeps(
    repository: pathlib.Path, files: list[str], patterns: str
) -> None:
    root = _emptied(repository)
    _write_tree(root, files)
    (root / ".git/info/exclude").write_text(patterns + "\n")
    matcher = ignoring.source_matcher(root, spec_ignore=patterns)
    assert _archived_files(root, matcher) == _git_files(root), patterns


@given(
    files=trees(),
    ignore_files=st.dictionaries(
        st.sampled_from(["", "a", "b", "a/b", "ab"]), pattern_texts(), min_size=1, max_size=3
    ),
)
@example(files=["a/b/ab", "a/ab", "b/x.y"], ignore_files={"a": "/ab", "b": "x.y/"})
def test_sourceignore_files_keep_what_gitignore_files_keep(
    repository: pathlib.Path, files: list[str], ignore_files: dict[str, str]
) -> None:
    root = _emptied(repository)
    _write_tree(root, files)
    for where, patterns in ignore_files.items():
        if any(where == f or where.startswith(f + "/") for f in files):
            continue  # a file took that name
        (root / where).mkdir(parents=True, exist_ok=True)
        (root / where / ".sourceignore").write_text(patterns + "\n")
        (root / where / ".gitignore").write_text(patterns + "\n")
    matcher = ignoring.source_matcher(root, spec_ignore=None)
    assert _archived_files(root, matcher) == _git_files(root), ignore_files


@given(
    files=trees(),
    before=pattern_texts(st.one_of(excluding_lines, negating_lines)),
    added=st.one_of(excluding_lines, negating_lines),
)
@example(files=["a/b"], before="b", added="!a")
def test_a_negation_only_adds_files_and_an_exclusion_only_removes_them(
    files: list[str], before: str, added: str
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        root = pathlib.Path(directory)
        _write_tree(root, files)
        old = _archived_files(root, ignoring.source_matcher(root, spec_ignore=before))
        new = _archived_files(root, ignoring.source_matcher(root, spec_ignore=f"{before}\n{added}"))
    if added.startswith("!"):
        assert old <= new, (before, added)
    else:
        assert new <= old, (before, added)


@given(text=st.text(max_size=200))
@example(text="!")
@example(text="a\\")
@example(text="[")
def test_any_ignore_text_gives_a_matcher(text: str) -> None:
    matcher = ignoring.Matcher(ignoring.parse_patterns(text))
    for path in ("a", "a/b", ".git", "x.yaml", text.strip("/") or "z"):
        assert matcher(path, False) in (True, False)
        assert matcher(path, True) in (True, False)


@given(content=st.binary(max_size=200))
@example(content=b"!\n")
@example(content=b"[\x01-\x00]")
@example(content=b"\xff\xfe\\\n")
def test_any_sourceignore_file_gives_a_matcher_or_ignore_rules_error(content: bytes) -> None:
    with tempfile.TemporaryDirectory() as directory:
        root = pathlib.Path(directory)
        (root / ignoring.IGNORE_FILE).write_bytes(content)
        try:
            matcher = ignoring.source_matcher(root, spec_ignore=None)
        except errors.IgnoreRulesError:
            return
        assert matcher("a/b", False) in (True, False)
