"""A kustomize build sees only its artifact, and nothing remote under --no-remote-bases.

As processes: Git → source-controller → kustomize-controller → devcluster.
Each refusal shows as Ready=False BuildFailed naming the kustomization file,
the field and the entry, and as a Warning event with the same message.
"""

from __future__ import annotations

import pathlib
from typing import Any

import pytest

from tests.e2e import objects
from tests.e2e.test_kustomize_controller import (  # noqa: F401 - pytest fixtures
    CONFIGMAP,
    Loop,
    controllers,
    kustomize_flags,
    loop,
)
from tests.fixtures import recording
from tests.fixtures.polling import eventually_sync

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TRANSFORMER = b"""apiVersion: builtin
kind: AnnotationsTransformer
metadata:
  name: fetched
annotations:
  fetched: "yes"
fieldSpecs:
- path: metadata/annotations
  create: true
"""


def _build_failed(run: Loop, name: str, *needles: str) -> dict[str, Any]:
    """Ready=False BuildFailed whose message holds every needle, and its Warning event."""
    seen: list[dict[str, Any] | None] = [None]

    def probe() -> dict[str, Any] | None:
        ready = seen[0] = objects.condition(run.get("kustomization", name), "Ready")
        if ready is None or (ready["status"], ready["reason"]) != ("False", "BuildFailed"):
            return None
        return ready if all(n in ready["message"] for n in needles) else None

    try:
        ready = eventually_sync(probe, within=90)
    except AssertionError as failure:
        raise AssertionError(f"{name} not refused, Ready: {seen[0]}") from failure
    warnings = [
        e
        for e in objects.events(run.cluster, run.namespace)
        if e["reason"] == "BuildFailed"
        and e["type"] == "Warning"
        and e["involvedObject"]["name"] == name
    ]
    assert any(all(n in e["message"] for n in needles) for e in warnings), warnings
    return ready


def test_a_base_outside_the_artifact_is_refused(
    loop: Loop,  # noqa: F811 - the imported fixture
    tmp_path: pathlib.Path,
) -> None:
    # A directory of the controller's own filesystem that holds a kustomization.
    host = tmp_path / "controller-host-dir"
    host.mkdir()
    (host / "kustomization.yaml").write_text("resources: [stolen.yaml]\n")
    (host / "stolen.yaml").write_text(CONFIGMAP.format(name="stolen", color="red"))
    escape = "../" * 40 + str(host).lstrip("/")
    repo = loop.make_repo("escape.git")
    repo.commit(
        "A base on the controller's filesystem",
        {
            "deploy/kustomization.yaml": f"resources:\n- config.yaml\n- {escape}\n",
            "deploy/config.yaml": CONFIGMAP.format(name="config", color="blue"),
        },
    )
    loop.sources("escape.git", path="./deploy")

    ready = _build_failed(loop, "app", "resources", escape, "not in or below the artifact root")
    assert "deploy/kustomization.yaml" in ready["message"]
    assert loop.get("configmap", "stolen") is None
    assert loop.get("configmap", "config") is None


@pytest.mark.parametrize("kustomize_flags", [["--no-remote-bases"]])
def test_remote_references_are_refused_without_a_fetch(loop: Loop) -> None:  # noqa: F811
    with recording.serving({"/t.yaml": TRANSFORMER}) as server:
        transformer = f"{server.url}/t.yaml"
        forced_git = f"git::{server.url}/base.git//deploy?ref=main"
        repo = loop.make_repo("remote.git")
        repo.commit(
            "Remote references",
            {
                "transformer/kustomization.yaml": (
                    f"resources: [config.yaml]\ntransformers:\n- {transformer}\n"
                ),
                "transformer/config.yaml": CONFIGMAP.format(name="config", color="blue"),
                "git/kustomization.yaml": f"resources:\n- config.yaml\n- {forced_git}\n",
                "git/config.yaml": CONFIGMAP.format(name="other", color="green"),
            },
        )
        loop.sources("remote.git", path="./transformer")
        loop.kustomization("git", path="./git")

        for name, field, reference in (
            ("app", "transformers", transformer),
            ("git", "resources", forced_git),
        ):
            _build_failed(loop, name, field, f"remote reference '{reference}' is not allowed")
        assert server.requests == []
    assert loop.get("configmap", "config") is None
    assert loop.get("configmap", "other") is None
