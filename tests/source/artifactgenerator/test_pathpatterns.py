"""``spec.pathPattern`` expansion on real directory trees (Flux source-watcher's cases)."""

from __future__ import annotations

import pathlib

import pytest

from controllers.source.artifactgenerator import pathpatterns
from shared.api import source_extensions


def _artifact(name: str, *copies: tuple[str, str]) -> source_extensions.OutputArtifact:
    return source_extensions.OutputArtifact.model_validate(
        {"name": name, "copy": [{"from": f, "to": t} for f, t in copies]}
    )


TEMPLATE = _artifact("{app}-{env}", ("@mono/apps/{app}/envs/{env}/**", "@artifact/"))


@pytest.fixture
def mono(tmp_path: pathlib.Path) -> pathlib.Path:
    for path in ("apps/Auth/envs/prod/a.yaml", "apps/Auth/envs/dev/a.yaml",
                 "apps/web/envs/prod/w.yaml", "apps/web/README.md", "apps/web/envs/prod/x/y.yaml",
                 "infra/envs/prod/i.yaml"):  # fmt: skip
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("x")
    return tmp_path


def test_without_a_pattern_the_artifacts_are_built_as_written(mono: pathlib.Path) -> None:
    plain = _artifact("plain", ("@mono/apps/**", "@artifact/"))

    assert pathpatterns.expand(None, [plain], {"mono": mono}) == [pathpatterns.Request(plain)]


def test_each_matching_directory_renders_the_templates(mono: pathlib.Path) -> None:
    requests = pathpatterns.expand("@mono/apps/{app}/envs/{env}", [TEMPLATE], {"mono": mono})

    assert [(r.output.name, r.labels) for r in requests] == [
        ("auth-dev", {"app": "auth", "env": "dev"}),
        ("auth-prod", {"app": "auth", "env": "prod"}),
        ("web-prod", {"app": "web", "env": "prod"}),
    ]
    # Copy paths keep the directory's case; names and labels are lowercased.
    first = requests[0].output.copy_[0]
    assert (first.from_, first.to) == ("@mono/apps/Auth/envs/dev/**", "@artifact/")


def test_several_templates_render_per_match(mono: pathlib.Path) -> None:
    config = _artifact("{app}-config", ("@mono/apps/{app}/README.md", "@artifact/README.md"))

    requests = pathpatterns.expand("@mono/apps/{app}", [config], {"mono": mono})

    assert [r.output.name for r in requests] == ["auth-config", "web-config"]


@pytest.mark.parametrize(
    ("pattern", "templates", "message"),
    [
        ("mono/apps/{app}", [TEMPLATE], "invalid pathPattern format: mono/apps/{app}"),
        ("@other/apps/{app}", [TEMPLATE], "source alias other not found in local sources"),
        ("@mono/apps/{app", [TEMPLATE], "invalid capture starting at offset 5: missing closing"),
        ("@mono/apps/app}", [TEMPLATE], "invalid capture ending at offset 8: missing opening"),
        ("@mono/apps/{}", [TEMPLATE], "empty capture variable"),
        ("@mono/{app}/{app}", [TEMPLATE], 'duplicate capture variable "app"'),
        ("@mono/apps/{a-b}", [TEMPLATE], 'capture variable "a-b" must be a valid capture name'),
        ("@mono/apps/{_app}", [TEMPLATE], 'capture variable "_app" is not a valid Kubernetes'),
        ("@mono/apps/{app}", [TEMPLATE], 'capture variable "env" is not defined by pathPattern'),
        ("@mono/apps/{app}", [_artifact("same", ("@mono/apps/{app}/**", "@artifact/"))],
         'directories "apps/Auth" and "apps/web" both resolve to artifact name "same"'),
        ("@mono/apps/{app}", [_artifact("{app}_x", ("@mono/apps/**", "@artifact/"))],
         'rendered artifact name "auth_x" is not a valid Kubernetes object name'),
    ],
)  # fmt: skip
def test_a_pattern_that_cannot_give_valid_artifacts_is_refused(
    mono: pathlib.Path,
    pattern: str,
    templates: list[source_extensions.OutputArtifact],
    message: str,
) -> None:
    with pytest.raises(pathpatterns.PatternError) as refused:
        pathpatterns.expand(pattern, templates, {"mono": mono})

    assert message in str(refused.value)


def test_directories_differing_only_in_case_collide(tmp_path: pathlib.Path) -> None:
    (tmp_path / "apps/Auth").mkdir(parents=True)
    (tmp_path / "apps/auth").mkdir(parents=True)
    template = _artifact("{app}", ("@mono/apps/{app}/**", "@artifact/"))

    with pytest.raises(pathpatterns.PatternError, match="both resolve to artifact name"):
        pathpatterns.expand("@mono/apps/{app}", [template], {"mono": tmp_path})


def test_a_captured_value_that_is_no_label_value_is_refused(tmp_path: pathlib.Path) -> None:
    (tmp_path / "apps/.hidden").mkdir(parents=True)
    template = _artifact("x-{app}", ("@mono/apps/{app}/**", "@artifact/"))

    with pytest.raises(pathpatterns.PatternError, match=r'captured value "\.hidden" for variable'):
        pathpatterns.expand("@mono/apps/{app}", [template], {"mono": tmp_path})
