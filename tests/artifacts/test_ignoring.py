"""Flux's ignore rules: defaults, .sourceignore files with their scope, spec.ignore."""

from __future__ import annotations

import pathlib

import pytest

from shared.artifacts import errors, ignoring


def _tree(root: pathlib.Path, files: dict[str, str]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)


DEFAULTS = ignoring.Matcher(ignoring.default_patterns())


@pytest.mark.parametrize(
    ("path", "is_dir", "excluded"),
    [
        (".git", True, True),
        ("sub/.git", True, True),
        (".gitignore", False, True),
        (".gitmodules", False, True),
        ("logo.png", False, True),
        ("docs/img/a.JPG", False, False),  # gitignore matching is case-sensitive
        ("docs/img/a.jpg", False, True),
        ("charts/app-1.0.0.tar.gz", False, True),
        (".github", True, True),
        (".github", False, False),  # a trailing-slash pattern matches directories only
        ("cloudbuild.yaml", False, True),
        ("apps/.sops.yaml", False, True),
        ("apps/.flux.yaml", False, True),
        ("apps/deployment.yaml", False, False),
        ("kustomization.yaml", False, False),
        ("README.md", False, False),
    ],
)
def test_default_exclusions(path: str, is_dir: bool, excluded: bool) -> None:
    assert DEFAULTS(path, is_dir) is excluded


def test_without_patterns_defaults_apply(tmp_path: pathlib.Path) -> None:
    _tree(tmp_path, {"a.yaml": ""})
    matcher = ignoring.source_matcher(tmp_path, spec_ignore=None)
    assert matcher("logo.png", False)
    assert not matcher("a.yaml", False)


def test_root_sourceignore_replaces_defaults_but_not_vcs(tmp_path: pathlib.Path) -> None:
    _tree(tmp_path, {".sourceignore": "# comment\n\n*.md\n"})
    matcher = ignoring.source_matcher(tmp_path, spec_ignore=None)
    assert matcher("README.md", False)
    assert not matcher("logo.png", False)  # Flux drops the non-VCS defaults here
    assert matcher(".git", True)


def test_nested_sourceignore_is_scoped_to_its_directory(tmp_path: pathlib.Path) -> None:
    _tree(tmp_path, {"apps/.sourceignore": "*.txt\n/local.yaml\n", "apps/x.yaml": ""})
    matcher = ignoring.source_matcher(tmp_path, spec_ignore=None)
    assert matcher("apps/notes.txt", False)
    assert matcher("apps/deep/notes.txt", False)
    assert not matcher("notes.txt", False)
    assert matcher("apps/local.yaml", False)  # anchored at apps/, not the root
    assert not matcher("apps/deep/local.yaml", False)
    assert not matcher("local.yaml", False)


def test_deeper_sourceignore_overrides_parent(tmp_path: pathlib.Path) -> None:
    _tree(tmp_path, {".sourceignore": "*.yaml\n", "keep/.sourceignore": "!*.yaml\n"})
    matcher = ignoring.source_matcher(tmp_path, spec_ignore=None)
    assert matcher("drop/a.yaml", False)
    assert not matcher("keep/a.yaml", False)


def test_spec_ignore_wins_over_files(tmp_path: pathlib.Path) -> None:
    _tree(tmp_path, {".sourceignore": "!important.md\n"})
    matcher = ignoring.source_matcher(tmp_path, spec_ignore="*.md\n")
    assert matcher("important.md", False)


def test_spec_ignore_replaces_defaults(tmp_path: pathlib.Path) -> None:
    matcher = ignoring.source_matcher(tmp_path, spec_ignore="/secret/\n")
    assert matcher("secret", True)
    assert not matcher("other/secret", True)
    assert not matcher("logo.png", False)
    assert matcher(".git", True)


def test_empty_spec_ignore_keeps_defaults(tmp_path: pathlib.Path) -> None:
    # Flux reads no pattern from "" and so falls back to the default matcher.
    matcher = ignoring.source_matcher(tmp_path, spec_ignore="")
    assert matcher("logo.png", False)


def test_with_defaults_keeps_defaults_beside_patterns(tmp_path: pathlib.Path) -> None:
    matcher = ignoring.source_matcher(tmp_path, spec_ignore="*.md\n", with_defaults=True)
    assert matcher("README.md", False)
    assert matcher("logo.png", False)


def test_negation_reincludes_within_a_run_of_patterns() -> None:
    matcher = ignoring.Matcher(ignoring.parse_patterns("config/*\n!config/keep.yaml\n*.bak\n"))
    assert matcher("config/drop.yaml", False)
    assert not matcher("config/keep.yaml", False)
    assert matcher("config/keep.bak", False)


def test_sourceignore_under_dot_git_is_not_read(tmp_path: pathlib.Path) -> None:
    _tree(tmp_path, {".git/.sourceignore": "*.yaml\n"})
    assert ignoring.load_ignore_files(tmp_path) == []


def test_unreadable_sourceignore_is_ignore_rules_error(tmp_path: pathlib.Path) -> None:
    (tmp_path / "sub" / ".sourceignore").mkdir(parents=True)
    with pytest.raises(errors.IgnoreRulesError, match=r"sub/\.sourceignore"):
        ignoring.load_ignore_files(tmp_path)


def test_patterns_keep_their_priority_order(tmp_path: pathlib.Path) -> None:
    _tree(tmp_path, {".sourceignore": "a\n", "x/.sourceignore": "b\n", "y/.sourceignore": "c\n"})
    loaded = ignoring.load_ignore_files(tmp_path)
    assert [(p.domain, p.text) for p in loaded] == [("", "a"), ("x", "b"), ("y", "c")]
