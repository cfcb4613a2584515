"""Copy operations of an ArtifactGenerator, on real directory trees."""

from __future__ import annotations

import pathlib

import pytest
import yaml

from controllers.source.artifactgenerator import building
from shared.api import source_extensions


def _tree(root: pathlib.Path, files: dict[str, str]) -> pathlib.Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def _files(root: pathlib.Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): p.read_text() for p in root.rglob("*") if p.is_file()}


def _op(from_: str, to: str, **extra: object) -> source_extensions.CopyOperation:
    return source_extensions.CopyOperation.model_validate({"from": from_, "to": to, **extra})


@pytest.fixture
def monorepo(tmp_path: pathlib.Path) -> pathlib.Path:
    return _tree(
        tmp_path / "repo",
        {
            "infrastructure/controllers/a.yaml": "a",
            "infrastructure/configs/b.yaml": "b",
            "infrastructure/README.md": "docs",
            "apps/base/app.yaml": "app",
            "apps/staging/values.yaml": "replicas: 1\nimage: {tag: v1, repo: x}\n",
            "apps/production/values.yaml": "image: {tag: v2}\n",
        },
    )


def test_dir_glob_strips_the_prefix_and_exclude_applies_at_any_depth(
    monorepo: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    out = tmp_path / "out"
    building.apply(
        [_op("@repo/infrastructure/**", "@artifact/", exclude=["*.md"])], {"repo": monorepo}, out
    )

    assert _files(out) == {"controllers/a.yaml": "a", "configs/b.yaml": "b"}


def test_layout_of_two_directories_under_new_names(
    monorepo: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    out = tmp_path / "out"
    building.apply(
        [_op("@repo/apps/base/**", "@artifact/base/"),
         _op("@repo/apps/staging/**", "@artifact/staging/")],
        {"repo": monorepo}, out,
    )  # fmt: skip

    assert set(_files(out)) == {"base/app.yaml", "staging/values.yaml"}


def test_named_file_and_directory_copy_like_cp(
    monorepo: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    out = tmp_path / "out"
    building.apply(
        [_op("@repo/apps/base", "@artifact/"),
         _op("@repo/apps/staging/values.yaml", "@artifact/values/"),
         _op("@repo/infrastructure/README.md", "@artifact/docs.md")],
        {"repo": monorepo}, out,
    )  # fmt: skip

    assert set(_files(out)) == {"base/app.yaml", "values/values.yaml", "docs.md"}


def test_merge_deep_merges_yaml_maps(monorepo: pathlib.Path, tmp_path: pathlib.Path) -> None:
    out = tmp_path / "out"
    building.apply(
        [_op("@repo/apps/staging/values.yaml", "@artifact/values.yaml"),
         _op("@repo/apps/production/values.yaml", "@artifact/values.yaml", strategy="Merge")],
        {"repo": monorepo}, out,
    )  # fmt: skip

    merged = yaml.safe_load((out / "values.yaml").read_text())
    assert merged == {"replicas": 1, "image": {"tag": "v2", "repo": "x"}}


def test_nothing_matched_and_unknown_alias_are_errors(
    monorepo: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    with pytest.raises(building.OperationError, match="no files match pattern 'nope/\\*'"):
        building.apply([_op("@repo/nope/*", "@artifact/")], {"repo": monorepo}, tmp_path / "a")
    with pytest.raises(building.OperationError, match="source alias 'other' not found"):
        building.apply([_op("@other/*", "@artifact/")], {"repo": monorepo}, tmp_path / "b")
    with pytest.raises(building.OperationError, match="does not exist"):
        building.apply([_op("@repo/gone.yaml", "@artifact/")], {"repo": monorepo}, tmp_path / "c")
