"""Pure parts of the CLI's readers: when a reconcile is decided, revisions, trees, owners."""

from __future__ import annotations

from typing import Any

import pytest

from headwater.cli import getting, reconciling, releases, trees

TOKEN = "2026-01-01T00:00:00.000000+00:00"


def _cond(type_: str, status: str, reason: str = "Succeeded") -> dict[str, str]:
    return {"type": type_, "status": status, "reason": reason, "message": ""}


def _release(*conditions: dict[str, str], handled: str = TOKEN) -> dict[str, Any]:
    return {
        "kind": "HelmRelease",
        "metadata": {"generation": 2},
        "status": {
            "observedGeneration": 2,
            "lastHandledReconcileAt": handled,
            "conditions": list(conditions),
        },
    }


@pytest.mark.parametrize(
    ("obj", "decided"),
    [
        pytest.param(_release(_cond("Ready", "True")), True, id="ready"),
        pytest.param(_release(_cond("Ready", "False")), True, id="failed"),
        pytest.param(
            _release(_cond("Ready", "True"), _cond("Reconciling", "True", "Progressing")),
            False,
            id="midway: the previous verdict still stands",
        ),
        pytest.param(
            _release(_cond("Ready", "False"), _cond("Reconciling", "True", "ProgressingWithRetry")),
            True,
            id="a failure being retried",
        ),
        pytest.param(
            _release(
                _cond("Ready", "False"),
                _cond("Reconciling", "True", "Progressing"),
                _cond("Stalled", "True"),
            ),
            True,
            id="stalled",
        ),
        pytest.param(_release(_cond("Ready", "Unknown")), False, id="unknown"),
        pytest.param(_release(_cond("Ready", "True"), handled="older"), False, id="not handled"),
    ],
)
def test_a_reconcile_is_decided_only_once_it_is_over(obj: dict[str, Any], decided: bool) -> None:
    assert reconciling._decided(obj, TOKEN, None) is decided


def test_a_helm_release_shows_its_latest_chart_version_else_the_attempted_one() -> None:
    status: dict[str, Any] = {"lastAttemptedRevision": "1.1.0"}
    release = {"kind": "HelmRelease", "status": status}
    assert getting.revision(release) == "1.1.0"
    status["history"] = [{"chartVersion": "1.0.0"}, {"chartVersion": "0.9.0"}]
    assert getting.revision(release) == "1.0.0"


def test_the_owner_labels_of_helm_controller() -> None:
    labels = {releases.OWNER_NAME: "app", releases.OWNER_NAMESPACE: "flux-system"}
    assert releases.owner(labels, "apps") == ("flux-system", "app")
    assert releases.owner({releases.OWNER_NAME: "app"}, "apps") == ("apps", "app")
    assert releases.owner({"kustomize.toolkit.fluxcd.io/name": "app"}, "apps") is None


def _node(kind: str, name: str, *children: dict[str, Any]) -> dict[str, Any]:
    node: dict[str, Any] = {
        "resource": {"Namespace": "ns", "Name": name, "GroupKind": {"Group": "", "Kind": kind}}
    }
    if children:
        node["resources"] = list(children)
    return node


def test_a_tree_prints_as_flux_prints_it() -> None:
    tree = _node(
        "Kustomization",
        "apps",
        _node("HelmRelease", "web", _node("Service", "web"), _node("Deployment", "web")),
        _node("ConfigMap", "config"),
    )
    assert trees.render(tree) == [
        "Kustomization/ns/apps",
        "├── HelmRelease/ns/web",
        "│   ├── Service/ns/web",
        "│   └── Deployment/ns/web",
        "└── ConfigMap/ns/config",
    ]
