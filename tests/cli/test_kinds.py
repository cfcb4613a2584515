"""``headwater.cli.kinds``: suspending, the source ``--with-source`` reconciles, static objects."""

from __future__ import annotations

from typing import Any

import pytest

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


def _obj(kind: str, spec: dict[str, Any], name: str = "podinfo") -> dict[str, Any]:
    return {"kind": kind, "metadata": {"name": name, "namespace": "apps"}, "spec": spec}


SOURCES = {
    "a Kustomization's sourceRef in another namespace": (
        _obj("Kustomization", {"sourceRef": {"kind": "GitRepository", "name": "repo",
                                             "namespace": "infra"}}),
        ("GitRepository", "infra", "repo"),
    ),
    "a HelmRelease's chartRef, in its own namespace": (
        _obj("HelmRelease", {"chartRef": {"kind": "OCIRepository", "name": "chart"}}),
        ("OCIRepository", "apps", "chart"),
    ),
    "the HelmChart helm-controller makes from a HelmRelease's template": (
        _obj("HelmRelease", {"chart": {"spec": {"chart": "podinfo", "sourceRef": {
            "kind": "HelmRepository", "name": "charts", "namespace": "flux-system"}}}}),
        ("HelmChart", "flux-system", "apps-podinfo"),
    ),
    "a HelmChart's repository": (
        _obj("HelmChart", {"sourceRef": {"kind": "HelmRepository", "name": "charts"}}),
        ("HelmRepository", "apps", "charts"),
    ),
}  # fmt: skip


@pytest.mark.parametrize(("obj", "expected"), SOURCES.values(), ids=list(SOURCES))
def test_source_of_names_what_flux_reconciles_first(
    obj: dict[str, Any], expected: tuple[str, str, str]
) -> None:
    found = kinds.source_of(kinds.by_kind_name(obj["kind"]), obj)

    assert found is not None
    assert (found[0].name, found[1], found[2]) == expected


def test_an_object_without_a_source_has_none() -> None:
    alert = _obj("Alert", {"providerRef": {"name": "slack"}})

    assert kinds.source_of(kinds.by_kind_name("Alert"), alert) is None


@pytest.mark.parametrize(
    ("obj", "static"),
    [
        (_obj("Alert", {}), True),
        (_obj("Provider", {"type": "slack"}), True),
        (_obj("HelmRepository", {"type": "oci", "url": "oci://ghcr.io/charts"}), True),
        (_obj("HelmRepository", {"url": "https://charts.example.com"}), False),
        (_obj("Receiver", {"type": "github"}), False),
    ],
)
def test_static_objects_are_those_no_controller_reconciles(
    obj: dict[str, Any], static: bool
) -> None:
    assert kinds.is_static(obj) is static
