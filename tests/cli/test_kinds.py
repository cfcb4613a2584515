"""How the CLI suspends each kind: ``spec.suspend``, or ArtifactGenerator's annotation."""

from __future__ import annotations

from headwater.cli import kinds

ANNOTATION = "source.extensions.fluxcd.io/reconcile"


def test_artifact_generator_is_suspended_by_its_annotation() -> None:
    generator = kinds.by_kind_name("ArtifactGenerator")

    assert generator.suspend_patch(True) == {"metadata": {"annotations": {ANNOTATION: "disabled"}}}
    assert generator.suspend_patch(False) == {"metadata": {"annotations": {ANNOTATION: None}}}
    served = {"kind": "ArtifactGenerator", "metadata": {"annotations": {ANNOTATION: "Disabled"}}}
    assert kinds.is_suspended(served)
    assert not kinds.is_suspended({"kind": "ArtifactGenerator", "metadata": {}})


def test_other_kinds_are_suspended_by_spec_suspend() -> None:
    git = kinds.by_kind_name("GitRepository")

    assert git.suspend_patch(True) == {"spec": {"suspend": True}}
    assert kinds.is_suspended({"kind": "GitRepository", "metadata": {}, "spec": {"suspend": True}})
    # The annotation means nothing on a kind that has spec.suspend.
    annotated = {"kind": "GitRepository", "metadata": {"annotations": {ANNOTATION: "disabled"}}}
    assert not kinds.is_suspended(annotated)
