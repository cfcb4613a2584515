"""Helm's sorting of rendered templates into a manifest and hooks (pure)."""

from __future__ import annotations

import textwrap

import pytest

from controllers.helm.engine import failures, manifests


def doc(text: str) -> str:
    return textwrap.dedent(text).lstrip()


FILES = {
    "demo/templates/_helpers.tpl": "",
    "demo/templates/b.yaml": doc("""
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: web}
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: web}
    """),
    "demo/templates/a.yaml": doc("""
        # only a comment
        ---
        apiVersion: example.org/v1
        kind: Widget
        metadata: {name: w}
        ---
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: cm}
    """),
    "demo/templates/hooks.yaml": doc("""
        apiVersion: batch/v1
        kind: Job
        metadata:
          name: late
          annotations:
            helm.sh/hook: post-install
            helm.sh/hook-weight: "5"
            helm.sh/hook-delete-policy: "hook-succeeded, Hook-Failed"
        ---
        apiVersion: v1
        kind: Pod
        metadata:
          name: test
          annotations: {helm.sh/hook: test}
        ---
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: odd
          annotations: {helm.sh/hook: "pre-install, not-an-event"}
        ---
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: plain
          annotations: {team: a}
    """),
}


def test_objects_are_sorted_in_helms_install_order() -> None:
    _, generic = manifests.sort(FILES)

    assert [(m.kind, m.obj["metadata"]["name"]) for m in generic] == [
        ("ConfigMap", "cm"),
        ("ConfigMap", "plain"),
        ("Service", "web"),
        ("Deployment", "web"),
        ("Widget", "w"),
    ]
    assert generic[0].path == "demo/templates/a.yaml"


def test_hooks_carry_events_weight_and_policies_and_unknown_events_are_dropped() -> None:
    hooks, _ = manifests.sort(FILES)

    assert [(h.kind, h.name, h.events) for h in hooks] == [
        ("Pod", "test", ("test",)),
        ("Job", "late", ("post-install",)),
    ]
    late = hooks[1]
    assert (late.weight, late.delete_policies) == (5, ("hook-succeeded", "hook-failed"))
    assert late.path == "demo/templates/hooks.yaml"
    assert late.manifest.startswith("apiVersion: batch/v1\nkind: Job")


def test_the_manifest_text_is_helms() -> None:
    _, generic = manifests.sort(
        {"demo/templates/cm.yaml": "kind: ConfigMap\nmetadata: {name: a}\n"}
    )

    assert manifests.manifest_text(generic) == (
        "---\n# Source: demo/templates/cm.yaml\nkind: ConfigMap\nmetadata: {name: a}\n\n"
    )


def test_stored_manifests_parse_back_into_objects() -> None:
    _, generic = manifests.sort(FILES)

    parsed = manifests.objects(manifests.manifest_text(generic))

    assert parsed == [m.obj for m in generic]


def test_only_the_charts_own_notes_are_kept() -> None:
    files = {
        "demo/templates/NOTES.txt": "mine",
        "demo/charts/sub/templates/NOTES.txt": "theirs",
        "demo/templates/cm.yaml": "kind: ConfigMap",
    }

    kept, notes = manifests.split_notes(files, chart_name="demo")

    assert (list(kept), notes) == (["demo/templates/cm.yaml"], "mine")


def test_a_document_that_is_not_an_object_is_a_chart_error() -> None:
    with pytest.raises(failures.ChartError, match=r"YAML parse error on demo/templates/x\.yaml"):
        manifests.sort({"demo/templates/x.yaml": "- a list\n"})


def test_separators_glued_to_text_still_split_as_helm_splits_them() -> None:
    assert manifests.split_documents("a: 1\n---b: 2\n---  \nc: 3") == ["a: 1\n", "b: 2\n", "c: 3"]


@pytest.mark.parametrize(
    ("annotations", "kept"),
    [({"helm.sh/resource-policy": "keep"}, True), ({"helm.sh/resource-policy": "Keep "}, True),
     ({}, False), ({"helm.sh/resource-policy": "delete"}, False)],
)  # fmt: skip
def test_resource_policy_keep(annotations: dict[str, str], kept: bool) -> None:
    assert manifests.kept({"metadata": {"annotations": annotations}}) is kept
