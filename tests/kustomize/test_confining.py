"""Which paths and references a kustomize build may load: every field, every remote form."""

from __future__ import annotations

import dataclasses
import pathlib
import textwrap

import pytest

from controllers.kustomize import confining

OUTSIDE = confining.OUTSIDE
REMOTE = confining.REMOTE


@dataclasses.dataclass(frozen=True)
class Case:
    """A kustomization at ``root/app`` (``kustomization``) and the refusal expected, if any."""

    name: str
    kustomization: str
    want: tuple[str, str, str] | None  # (field, entry, reason)
    files: tuple[tuple[str, str], ...] = ()


ESCAPE = "../../outside"
ABSOLUTE = "/etc"

# One case per path field: the entry escapes the artifact root (its parent).
ESCAPING = [
    Case("resources", f"resources: [{ESCAPE}]", ("resources", ESCAPE, OUTSIDE)),
    Case("bases", f"bases: [{ESCAPE}]", ("bases", ESCAPE, OUTSIDE)),
    Case("components", f"components: [{ESCAPE}]", ("components", ESCAPE, OUTSIDE)),
    Case("crds", f"crds: [{ESCAPE}/crd.yaml]", ("crds", f"{ESCAPE}/crd.yaml", OUTSIDE)),
    Case(
        "configurations",
        f"configurations: [{ESCAPE}/c.yaml]",
        ("configurations", f"{ESCAPE}/c.yaml", OUTSIDE),
    ),
    Case("generators", f"generators: [{ESCAPE}]", ("generators", ESCAPE, OUTSIDE)),
    Case("transformers", f"transformers: [{ESCAPE}]", ("transformers", ESCAPE, OUTSIDE)),
    Case("validators", f"validators: [{ESCAPE}]", ("validators", ESCAPE, OUTSIDE)),
    Case(
        "patches path",
        f"patches: [{{path: {ESCAPE}/p.yaml}}]",
        ("patches[].path", f"{ESCAPE}/p.yaml", OUTSIDE),
    ),
    Case(
        "patchesJson6902 path",
        f"patchesJson6902: [{{path: {ESCAPE}/p.yaml, target: {{kind: X, name: y}}}}]",
        ("patchesJson6902[].path", f"{ESCAPE}/p.yaml", OUTSIDE),
    ),
    Case(
        "patchesStrategicMerge",
        f"patchesStrategicMerge: [{ESCAPE}/p.yaml]",
        ("patchesStrategicMerge", f"{ESCAPE}/p.yaml", OUTSIDE),
    ),
    Case(
        "replacements path",
        f"replacements: [{{path: {ESCAPE}/r.yaml}}]",
        ("replacements[].path", f"{ESCAPE}/r.yaml", OUTSIDE),
    ),
    Case(
        "openapi path",
        f"openapi: {{path: {ESCAPE}/schema.json}}",
        ("openapi.path", f"{ESCAPE}/schema.json", OUTSIDE),
    ),
    Case(
        "configMapGenerator files",
        f"configMapGenerator: [{{name: c, files: [key={ABSOLUTE}/passwd]}}]",
        ("configMapGenerator[].files", f"{ABSOLUTE}/passwd", OUTSIDE),
    ),
    Case(
        "configMapGenerator envs",
        f"configMapGenerator: [{{name: c, envs: [{ESCAPE}/a.env]}}]",
        ("configMapGenerator[].envs", f"{ESCAPE}/a.env", OUTSIDE),
    ),
    Case(
        "secretGenerator env",
        f"secretGenerator: [{{name: s, env: {ESCAPE}/a.env}}]",
        ("secretGenerator[].env", f"{ESCAPE}/a.env", OUTSIDE),
    ),
    Case(
        "secretGenerator files",
        f"secretGenerator: [{{name: s, files: [{ABSOLUTE}/shadow]}}]",
        ("secretGenerator[].files", f"{ABSOLUTE}/shadow", OUTSIDE),
    ),
    Case(
        "helmGlobals chartHome",
        f"helmGlobals: {{chartHome: {ESCAPE}}}",
        ("helmGlobals.chartHome", ESCAPE, OUTSIDE),
    ),
    Case(
        "helmGlobals configHome",
        f"helmGlobals: {{configHome: {ABSOLUTE}}}",
        ("helmGlobals.configHome", ABSOLUTE, OUTSIDE),
    ),
    Case(
        "helmCharts valuesFile",
        f"helmCharts: [{{name: c, valuesFile: {ESCAPE}/v.yaml}}]",
        ("helmCharts[].valuesFile", f"{ESCAPE}/v.yaml", OUTSIDE),
    ),
    Case(
        "helmCharts additionalValuesFiles",
        f"helmCharts: [{{name: c, additionalValuesFiles: [{ESCAPE}/v.yaml]}}]",
        ("helmCharts[].additionalValuesFiles", f"{ESCAPE}/v.yaml", OUTSIDE),
    ),
    Case(
        "helmChartInflationGenerator chartHome",
        f"helmChartInflationGenerator: [{{chartName: c, chartHome: {ESCAPE}}}]",
        ("helmChartInflationGenerator[].chartHome", ESCAPE, OUTSIDE),
    ),
    Case("absolute resource", f"resources: [{ABSOLUTE}]", ("resources", ABSOLUTE, OUTSIDE)),
    Case("NUL byte", 'resources: ["a\\0b"]', ("resources", "a\0b", OUTSIDE)),
    Case(
        "file URL",
        "resources: ['file:///etc/kubernetes']",
        ("resources", "file:///etc/kubernetes", OUTSIDE),
    ),
    Case(
        "transformer config file with an escaping path",
        "transformers: [t.yaml]",
        ("transformers 't.yaml': path", f"{ESCAPE}/p.yaml", OUTSIDE),
        files=(
            (
                "app/t.yaml",
                f"apiVersion: builtin\nkind: PatchTransformer\nmetadata: {{name: p}}\n"
                f"path: {ESCAPE}/p.yaml\n",
            ),
        ),
    ),
    Case(
        "inline generator config with an escaping file",
        "generators:\n- |\n  apiVersion: builtin\n  kind: ConfigMapGenerator\n"
        f"  metadata: {{name: c}}\n  files: [{ABSOLUTE}/hostname]\n",
        ("generators (inline): files", f"{ABSOLUTE}/hostname", OUTSIDE),
    ),
    Case(
        "inline replacement config with an escaping path",
        "transformers:\n- |\n  apiVersion: builtin\n  kind: ReplacementTransformer\n"
        f"  metadata: {{name: r}}\n  replacements: [{{path: {ESCAPE}/r.yaml}}]\n",
        ("transformers (inline): replacements[].path", f"{ESCAPE}/r.yaml", OUTSIDE),
    ),
]

REMOTE_FORMS = [
    "https://github.com/example/repo//deploy?ref=v1",
    "http://127.0.0.1:8080/t.yaml",
    "git::https://example.com/repo.git//deploy",
    "GIT::http://127.0.0.1:1/repo",
    "github.com/example/repo/deploy?ref=main",
    "gitlab.com/example/repo",
    "example.org/team/repo.git",
    "gh:example/repo",
    "ssh://git@example.com/repo.git",
    "git@github.com:example/repo.git",
    "deploy@host.example:repo.git",
    "oci://registry.example/charts/x",
]
REMOTE_FIELDS = [
    ("resources", "resources: ['{ref}']"),
    ("bases", "bases: ['{ref}']"),
    ("components", "components: ['{ref}']"),
    ("transformers", "transformers: ['{ref}']"),
    ("generators", "generators: ['{ref}']"),
    ("validators", "validators: ['{ref}']"),
    ("configurations", "configurations: ['{ref}']"),
    ("crds", "crds: ['{ref}']"),
    ("openapi.path", "openapi: {{path: '{ref}'}}"),
    ("patches[].path", "patches: [{{path: '{ref}'}}]"),
    ("patchesJson6902[].path", "patchesJson6902: [{{path: '{ref}'}}]"),
    ("patchesStrategicMerge", "patchesStrategicMerge: ['{ref}']"),
    ("replacements[].path", "replacements: [{{path: '{ref}'}}]"),
    ("configMapGenerator[].files", "configMapGenerator: [{{name: c, files: ['key={ref}']}}]"),
    ("secretGenerator[].envs", "secretGenerator: [{{name: s, envs: ['{ref}']}}]"),
    ("transformers (inline): path", "transformers: [{{kind: PatchTransformer, path: '{ref}'}}]"),
]


def _tree(root: pathlib.Path, kustomization: str, files: tuple[tuple[str, str], ...]) -> None:
    (root / "app").mkdir(parents=True)
    (root / "app" / "kustomization.yaml").write_text(textwrap.dedent(kustomization) + "\n")
    for name, text in files:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def _refusals(root: pathlib.Path, *, allow_remote: bool = False) -> list[tuple[str, str, str]]:
    found = confining.refusals(root / "app", root=root, allow_remote=allow_remote)
    assert all(r.kustomization == "app/kustomization.yaml" for r in found), found
    return [(r.field, r.entry, r.reason) for r in found]


@pytest.mark.parametrize("case", ESCAPING, ids=lambda c: c.name)
def test_paths_leaving_the_root_are_refused(tmp_path: pathlib.Path, case: Case) -> None:
    root = tmp_path / "artifact"
    _tree(root, case.kustomization, case.files)
    assert _refusals(root) == [case.want]


@pytest.mark.parametrize("case", ESCAPING, ids=lambda c: c.name)
def test_paths_are_refused_with_remote_references_allowed(
    tmp_path: pathlib.Path, case: Case
) -> None:
    root = tmp_path / "artifact"
    _tree(root, case.kustomization, case.files)
    assert _refusals(root, allow_remote=True) == [case.want]


@pytest.mark.parametrize("reference", REMOTE_FORMS)
@pytest.mark.parametrize(("field", "template"), REMOTE_FIELDS, ids=[f for f, _ in REMOTE_FIELDS])
def test_remote_references_are_refused(
    tmp_path: pathlib.Path, field: str, template: str, reference: str
) -> None:
    _tree(tmp_path, template.format(ref=reference), ())
    assert _refusals(tmp_path) == [(field, reference, REMOTE)]


@pytest.mark.parametrize("reference", REMOTE_FORMS)
@pytest.mark.parametrize(("field", "template"), REMOTE_FIELDS, ids=[f for f, _ in REMOTE_FIELDS])
def test_remote_references_pass_when_allowed(
    tmp_path: pathlib.Path, field: str, template: str, reference: str
) -> None:
    _tree(tmp_path, template.format(ref=reference), ())
    assert _refusals(tmp_path, allow_remote=True) == []


@pytest.mark.parametrize(
    ("kustomization", "want"),
    [
        ("helmCharts: [{name: c, repo: 'https://charts.example'}]", "https://charts.example"),
        ("helmCharts: [{name: c, repo: 'oci://r.example/c'}]", "oci://r.example/c"),
        (
            "helmChartInflationGenerator: [{chartName: c, chartRepoUrl: 'charts.example/x'}]",
            "git::charts.example/x",
        ),
    ],
)
def test_chart_repositories_are_remote(
    tmp_path: pathlib.Path, kustomization: str, want: str
) -> None:
    _tree(tmp_path, kustomization, ())
    [(field, entry, reason)] = _refusals(tmp_path)
    assert (field.endswith(("repo", "chartRepoUrl")), entry, reason) == (True, want, REMOTE)
    assert _refusals(tmp_path, allow_remote=True) == []


@pytest.mark.parametrize(
    ("kustomization", "link", "target", "field"),
    [
        ("resources: [linked]", "linked", "host/kustomization.yaml", "resources"),
        (
            "secretGenerator: [{name: s, envs: [creds.env]}]",
            "creds.env",
            "secret.env",
            "secretGenerator[].envs",
        ),
    ],
    ids=["directory", "file"],
)
def test_a_symlink_leaving_the_root_is_refused(
    tmp_path: pathlib.Path, kustomization: str, link: str, target: str, field: str
) -> None:
    outside = tmp_path / target
    outside.parent.mkdir(parents=True, exist_ok=True)
    outside.write_text("resources: []\n")
    root = tmp_path / "artifact"
    _tree(root, kustomization, ())
    linked_to = outside.parent if link == "linked" else outside
    (root / "app" / link).symlink_to(linked_to)
    assert _refusals(root) == [(field, link, OUTSIDE)]


def test_a_symlink_loop_is_refused(tmp_path: pathlib.Path) -> None:
    _tree(tmp_path, "resources: [loop]", ())
    (tmp_path / "app" / "loop").symlink_to(tmp_path / "app" / "loop")
    assert _refusals(tmp_path) == [("resources", "loop", OUTSIDE)]


def test_a_symlinked_kustomization_file_is_refused(tmp_path: pathlib.Path) -> None:
    host = tmp_path / "host.yaml"
    host.write_text("resources: []\n")
    root = tmp_path / "artifact"
    (root / "app").mkdir(parents=True)
    (root / "app" / "kustomization.yaml").symlink_to(host)
    [refusal] = confining.refusals(root / "app", root=root, allow_remote=False)
    assert (refusal.field, refusal.reason) == ("kustomization file", OUTSIDE)


NESTED_ESCAPE = (
    "resources: [../base]",
    (
        ("base/kustomization.yaml", "components: [../component]\n"),
        ("component/kustomization.yaml", "transformers: [../../../etc]\n"),
    ),
    "component/kustomization.yaml: transformers: '../../../etc' "
    "is not in or below the artifact root",
)
NESTED_REMOTE = (
    "transformers: [../plugins]",
    (("plugins/kustomization.yaml", "resources: ['git::https://example.com/r.git']\n"),),
    "plugins/kustomization.yaml: resources: remote reference "
    "'git::https://example.com/r.git' is not allowed (--no-remote-bases)",
)


@pytest.mark.parametrize(
    ("kustomization", "files", "want"), [NESTED_ESCAPE, NESTED_REMOTE], ids=["escape", "remote"]
)
def test_a_nested_kustomization_is_checked(
    tmp_path: pathlib.Path, kustomization: str, files: tuple[tuple[str, str], ...], want: str
) -> None:
    root = tmp_path / "artifact"
    _tree(root, kustomization, files)
    found = confining.refusals(root / "app", root=root, allow_remote=False)
    assert [refusal.message() for refusal in found] == [want]


def test_paths_inside_the_root_are_accepted(tmp_path: pathlib.Path) -> None:
    root = tmp_path / "artifact"
    _tree(
        root,
        """\
        resources: [deploy.yaml, ../base, ./app.config/base, example.org/local]
        components: [../components/extra]
        crds: [crd.yaml]
        configurations: [conf.yaml]
        transformers: [t.yaml, ../plugins]
        generators:
        - |
          apiVersion: builtin
          kind: SecretGenerator
          metadata: {name: inline}
          files: [key=secret.txt]
        patches: [{path: patch.yaml}, {patch: '[{"op": "remove", "path": "/x"}]'}]
        patchesStrategicMerge:
        - patch.yaml
        - |
          apiVersion: v1
          kind: ConfigMap
          metadata: {name: inline}
        patchesJson6902: [{path: json.yaml, target: {kind: X, name: y}}]
        replacements: [{path: replacement.yaml}, {source: {kind: X}, targets: []}]
        openapi: {path: schema.json}
        configMapGenerator: [{name: c, files: [a.txt, b=b.txt], envs: [a.env], env: b.env}]
        helmGlobals: {chartHome: charts}
        helmCharts: [{name: c, valuesFile: values.yaml}]
        """,
        (
            ("base/kustomization.yaml", "resources: [../shared/cm.yaml]\n"),
            ("components/extra/kustomization.yaml", "kind: Component\n"),
            ("plugins/kustomization.yaml", "resources: [t.yaml]\n"),
            ("app/app.config/base/kustomization.yaml", "resources: []\n"),
            ("app/example.org/local/kustomization.yaml", "resources: []\n"),
            ("app/t.yaml", "apiVersion: builtin\nkind: PatchTransformer\npath: patch.yaml\n"),
        ),
    )
    (root / "app" / "inside").symlink_to(root / "base")
    assert _refusals(root) == []


def test_is_remote_prefers_an_existing_local_path(tmp_path: pathlib.Path) -> None:
    (tmp_path / "example.org" / "team").mkdir(parents=True)
    assert not confining.is_remote("example.org/team", directory=tmp_path)
    assert confining.is_remote("example.net/team", directory=tmp_path)
    (tmp_path / "github.com").mkdir()
    assert confining.is_remote("github.com/org/repo", directory=tmp_path)
    assert not confining.is_remote("./github.com/org/repo", directory=tmp_path)
