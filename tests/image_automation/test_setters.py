"""The Setters strategy: Flux's setter cases as tables, and byte-for-byte preservation."""

from __future__ import annotations

import pathlib

import pytest
import yaml

from controllers.image_automation import setters
from shared.api import image

DIGEST = "sha256:6745aaad46d795c9836632e1fb62f24b7e7f4c843144da8e47a5465c411a14be"
POLICIES = {
    ("automation-ns", "policy"): image.ImageRef(name="index.repo.fake/updated", tag="v1.0.1"),
    ("automation-ns", "unchanged"): image.ImageRef(name="image", tag="v1.0.0"),
    ("automation-ns", "policy-with-digest"): image.ImageRef(
        name="image", tag="v1.0.0", digest=DIGEST
    ),
    ("automation-ns", "numeric"): image.ImageRef(name="app", tag="1.10"),
}
SETTERS = setters.setter_values(POLICIES)


@pytest.mark.parametrize(
    ("before", "after", "changes"),
    [
        pytest.param(
            'image: image:v1.0.0 # {"$imagepolicy": "automation-ns:policy"}\n',
            'image: index.repo.fake/updated:v1.0.1 # {"$imagepolicy": "automation-ns:policy"}\n',
            [("image:v1.0.0", "index.repo.fake/updated:v1.0.1", "automation-ns:policy")],
            id="full image",
        ),
        pytest.param(
            'newName: replaced # {"$imagepolicy": "automation-ns:policy:name"}\n',
            'newName: index.repo.fake/updated # {"$imagepolicy": "automation-ns:policy:name"}\n',
            [("replaced", "index.repo.fake/updated", "automation-ns:policy:name")],
            id="name",
        ),
        pytest.param(
            'newTag: v1 # {"$imagepolicy": "automation-ns:policy:tag"}\n',
            'newTag: v1.0.1 # {"$imagepolicy": "automation-ns:policy:tag"}\n',
            [("v1", "v1.0.1", "automation-ns:policy:tag")],
            id="tag",
        ),
        pytest.param(
            'd: sha256:1234 # {"$imagepolicy": "automation-ns:policy-with-digest:digest"}\n',
            f'd: {DIGEST} # {{"$imagepolicy": "automation-ns:policy-with-digest:digest"}}\n',
            [("sha256:1234", DIGEST, "automation-ns:policy-with-digest:digest")],
            id="digest",
        ),
        pytest.param(
            'image: image # {"$imagepolicy": "automation-ns:policy-with-digest"}\n',
            f"image: image:v1.0.0@{DIGEST}"
            ' # {"$imagepolicy": "automation-ns:policy-with-digest"}\n',
            [("image", f"image:v1.0.0@{DIGEST}", "automation-ns:policy-with-digest")],
            id="full image with digest",
        ),
        pytest.param(
            'image: image:v1.0.0 # {"$imagepolicy": "automation-ns:unchanged"}\n',
            'image: image:v1.0.0 # {"$imagepolicy": "automation-ns:unchanged"}\n',
            [],
            id="already up to date",
        ),
        pytest.param(
            'image: user:v1.0.0 # {"$imagepolicy": "other-namespace:policy"}\n',
            'image: user:v1.0.0 # {"$imagepolicy": "other-namespace:policy"}\n',
            [],
            id="policy not selected",
        ),
        pytest.param(
            'd: sha256:1 # {"$imagepolicy": "automation-ns:policy:digest"}\n',
            'd: sha256:1 # {"$imagepolicy": "automation-ns:policy:digest"}\n',
            [],
            id="digest setter without a digest",
        ),
        pytest.param(
            "image: image:v1.0.0 # uses the same image but is left alone\n",
            "image: image:v1.0.0 # uses the same image but is left alone\n",
            [],
            id="unmarked",
        ),
        pytest.param(
            'containers:\n- image:v1 # {"$imagepolicy": "automation-ns:policy"}\n',
            "containers:\n- index.repo.fake/updated:v1.0.1"
            ' # {"$imagepolicy": "automation-ns:policy"}\n',
            [("image:v1", "index.repo.fake/updated:v1.0.1", "automation-ns:policy")],
            id="sequence item",
        ),
        pytest.param(
            'newTag: \'v1\' # {"$imagepolicy": "automation-ns:policy:tag"}\n',
            'newTag: \'v1.0.1\' # {"$imagepolicy": "automation-ns:policy:tag"}\n',
            [("v1", "v1.0.1", "automation-ns:policy:tag")],
            id="single quotes kept",
        ),
        pytest.param(
            'newTag: "v1" # {"$imagepolicy": "automation-ns:policy:tag"}\n',
            'newTag: "v1.0.1" # {"$imagepolicy": "automation-ns:policy:tag"}\n',
            [("v1", "v1.0.1", "automation-ns:policy:tag")],
            id="double quotes kept",
        ),
        pytest.param(
            'tag: v1 # {"$imagepolicy": "automation-ns:numeric:tag"}\n',
            'tag: "1.10" # {"$imagepolicy": "automation-ns:numeric:tag"}\n',
            [("v1", "1.10", "automation-ns:numeric:tag")],
            id="a number-like plain value is quoted",
        ),
        pytest.param(
            'tag: v1 # {"$imagepolicy": "automation-ns:policy:tag"}\r\nother: x\r\n',
            'tag: v1.0.1 # {"$imagepolicy": "automation-ns:policy:tag"}\r\nother: x\r\n',
            [("v1", "v1.0.1", "automation-ns:policy:tag")],
            id="CRLF line endings",
        ),
        pytest.param(
            'patch: |\n  image: a:1 # {"$imagepolicy": "automation-ns:policy"}\n',
            'patch: |\n  image: a:1 # {"$imagepolicy": "automation-ns:policy"}\n',
            [],
            id="text inside a block scalar is not a field",
        ),
        pytest.param(
            'image: a:1 # {"$imagepolicy": "automation-ns:policy"} trailing\n',
            'image: a:1 # {"$imagepolicy": "automation-ns:policy"} trailing\n',
            [],
            id="comment that is not only the marker",
        ),
    ],
)
def test_setters_rewrite_the_marked_values_only(
    before: str, after: str, changes: list[tuple[str, str, str]]
) -> None:
    result = setters.Result()
    assert setters.update_text(before, SETTERS, "f.yaml", result) == after
    assert [(c.old_value, c.new_value, c.setter) for c in result.changes()] == changes


MULTI_DOCUMENT = """\
# A leading comment, kept.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: foo
  namespace: bar   # odd spacing, kept
spec:
  template:
    spec:
      containers:
        - name: c
          image: image:v1.0.0 # {"$imagepolicy": "automation-ns:policy"}
        - name: "d"
          image: 'image:v1.0.0'   # not marked
---
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
images:
  - name: container
    newName: replaced # {"$imagepolicy": "automation-ns:policy:name"}
    newTag:   v1 # {"$imagepolicy": "automation-ns:policy:tag"}
...
"""


def test_only_the_changed_values_differ_byte_for_byte(tmp_path: pathlib.Path) -> None:
    (tmp_path / "apps").mkdir()
    target = tmp_path / "apps" / "all.yaml"
    target.write_bytes(MULTI_DOCUMENT.encode())
    result = setters.update_with_setters(tmp_path, SETTERS)
    expected = (
        MULTI_DOCUMENT.replace(
            "image: image:v1.0.0 # {", "image: index.repo.fake/updated:v1.0.1 # {"
        )
        .replace("newName: replaced", "newName: index.repo.fake/updated")
        .replace("newTag:   v1 ", "newTag:   v1.0.1 ")
    )
    assert target.read_bytes() == expected.encode()
    deployment = setters.ObjectIdentifier("apps/v1", "Deployment", name="foo", namespace="bar")
    kustomization = setters.ObjectIdentifier("kustomize.config.k8s.io/v1beta1", "Kustomization")
    assert list(result.file_changes) == ["apps/all.yaml"]
    assert result.file_changes["apps/all.yaml"] == {
        deployment: [
            setters.Change("image:v1.0.0", "index.repo.fake/updated:v1.0.1", "automation-ns:policy")
        ],
        kustomization: [
            setters.Change("replaced", "index.repo.fake/updated", "automation-ns:policy:name"),
            setters.Change("v1", "v1.0.1", "automation-ns:policy:tag"),
        ],
    }
    assert [c.new_value for c in result.changes()] == [
        "index.repo.fake/updated:v1.0.1",
        "index.repo.fake/updated",
        "v1.0.1",
    ]


def test_files_are_chosen_as_flux_chooses_them(tmp_path: pathlib.Path) -> None:
    marked = 'tag: v1 # {"$imagepolicy": "automation-ns:policy:tag"}\n'
    for name in ("a.yaml", "b.yml", "Kustomization", "c.json", "d.txt", ".git/e.yaml"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(marked)
    (tmp_path / "broken.yaml").write_text('a: [1 # {"$imagepolicy": "automation-ns:policy"}\n')
    (tmp_path / "link.yaml").symlink_to(tmp_path / "a.yaml")
    result = setters.update_with_setters(tmp_path, SETTERS)
    assert sorted(result.file_changes) == ["Kustomization", "a.yaml", "b.yml"]
    assert result.problem_files == ["broken.yaml"]
    for untouched in ("c.json", "d.txt", ".git/e.yaml"):
        assert (tmp_path / untouched).read_text() == marked


def test_unchanged_files_are_not_rewritten(tmp_path: pathlib.Path) -> None:
    current = 'image: image:v1.0.0 # {"$imagepolicy": "automation-ns:unchanged"}\n'
    target = tmp_path / "a.yaml"
    target.write_text(current)
    before = target.stat().st_mtime_ns
    result = setters.update_with_setters(tmp_path, SETTERS)
    assert result.file_changes == {}
    assert target.stat().st_mtime_ns == before


@pytest.mark.parametrize("loader", [yaml.SafeLoader, getattr(yaml, "CSafeLoader", yaml.SafeLoader)])
def test_both_yaml_loaders_edit_the_same_characters(
    loader: type[yaml.SafeLoader], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(setters, "_LOADER", loader)
    text = (
        'a: "héllo ☃" # ü\nc: 😀😀\n'
        'image: image:v1.0.0 # {"$imagepolicy": "automation-ns:policy"}\n---\n'
        "x: 😀\n"
        'tag: v1 # {"$imagepolicy": "automation-ns:policy:tag"}\n'
    )
    expected = text.replace("image:v1.0.0", "index.repo.fake/updated:v1.0.1").replace(
        "tag: v1 ", "tag: v1.0.1 "
    )
    assert setters.update_text(text, SETTERS, "f.yaml", setters.Result()) == expected
