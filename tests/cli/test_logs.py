"""Reading the controllers' log lines: both encodings and the filters."""

from __future__ import annotations

import argparse
import json

from headwater.cli import logs

JSON_LINE = json.dumps(
    {
        "level": "error",
        "ts": "2026-01-01T00:00:00.000Z",
        "msg": "Reconciliation failed",
        "controllerKind": "Kustomization",
        "name": "apps",
        "namespace": "flux-system",
        "error": "kustomize build failed",
    }
)
CONSOLE_LINE = (
    "[info     ] changes=['Deployment/apps/web configured (drift: "
    "spec.template.spec.containers[name=web].image)'] controllerKind=Kustomization "
    "msg='server-side apply completed' name=apps namespace=flux-system ts=2026-01-01T00:00:00Z"
)


def _filters(**overrides: object) -> argparse.Namespace:
    values: dict[str, object] = {
        "kind": None, "name": None, "namespace": "flux-system", "all_namespaces": False,
        "level": None,
    }  # fmt: skip
    return argparse.Namespace(**(values | overrides))


def test_a_json_line_prints_as_flux_does() -> None:
    record = logs.parse(JSON_LINE)

    assert record["text"] == (
        "2026-01-01T00:00:00.000Z error Kustomization/apps.flux-system - "
        "Reconciliation failed: kustomize build failed"
    )


def test_a_console_line_keeps_its_own_name_over_a_list_entry() -> None:
    record = logs.parse(CONSOLE_LINE)

    assert record["name"] == "apps"
    assert record["level"] == "info"
    assert record["text"] == CONSOLE_LINE


def test_filters_by_kind_name_namespace_and_level() -> None:
    info, error = logs.parse(CONSOLE_LINE), logs.parse(JSON_LINE)

    assert logs.wanted(info, _filters(kind="kustomization", name="apps"))
    assert not logs.wanted(info, _filters(kind="GitRepository"))
    assert not logs.wanted(info, _filters(name="web"))
    assert not logs.wanted(info, _filters(namespace="other"))
    assert logs.wanted(info, _filters(namespace="other", all_namespaces=True))
    assert not logs.wanted(info, _filters(level="error"))
    assert logs.wanted(error, _filters(level="error"))
