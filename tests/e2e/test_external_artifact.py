"""ExternalArtifact end to end: a Kustomization applies an artifact another controller published.

Nothing in Flux reconciles an ExternalArtifact: its producer writes
``status.artifact``. Here the producer is the test, which publishes the
artifacts source-controller stored for a GitRepository (served over its
storage HTTP server), so the kustomize-controller process fetches, verifies
and applies them exactly as it would a producer's.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.e2e import objects
from tests.e2e import test_kustomize_controller as loops
from tests.e2e.test_kustomize_controller import CONFIGMAP, Loop
from tests.fixtures.polling import eventually_sync

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
controllers = loops.controllers
kustomize_flags = loops.kustomize_flags
loop = loops.loop


def _publish(loop: Loop, name: str, artifact: dict[str, Any]) -> None:
    """Write ``artifact`` as ExternalArtifact ``name``'s status, as a producer would."""
    status = {
        "status": {
            "artifact": artifact,
            "conditions": [
                {"type": "Ready", "status": "True", "reason": "Succeeded",
                 "message": f"stored artifact for revision '{artifact['revision']}'",
                 "lastTransitionTime": artifact["lastUpdateTime"]},
            ],
        }
    }  # fmt: skip
    loop.kubectl(
        "patch", "externalartifact", name, "--subresource=status",
        "--type=merge", "-p", json.dumps(status),
    )  # fmt: skip


def test_kustomization_applies_an_external_artifact_and_follows_its_updates(loop: Loop) -> None:
    repo = loop.make_repo("external.git")
    first = repo.commit("Blue", {"deploy/config.yaml": CONFIGMAP.format(name="ext", color="blue")})
    loop.sources("external.git", path="./deploy")
    loop.wait_ready("app", first, message=f"git source not applied:\n{loop.kustomize.output()}")
    objects.apply(
        loop.cluster,
        {
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "ExternalArtifact",
            "metadata": {"name": "published", "namespace": loop.namespace},
            "spec": {
                "sourceRef": {
                    "apiVersion": "source.toolkit.fluxcd.io/v1",
                    "kind": "GitRepository",
                    "name": "repo",
                }
            },
        },
    )
    # Before the producer writes an artifact, the Kustomization waits for it.
    loop.kustomization(
        "from-external",
        path="./deploy",
        namePrefix="external-",
        sourceRef={"kind": "ExternalArtifact", "name": "published"},
    )
    waiting = eventually_sync(
        loop.failed_with("from-external", "ArtifactFailed"),
        within=60,
        message=f"no wait for the artifact:\n{loop.kustomize.output()}",
    )
    assert "ExternalArtifact" in waiting["message"], waiting
    assert "artifact not found" in waiting["message"], waiting

    _publish(loop, "published", (loop.get("gitrepository", "repo") or {})["status"]["artifact"])
    obj = loop.wait_ready("from-external", first, message=loop.kustomize.output())
    assert obj["status"]["lastAttemptedRevision"] == f"master@sha1:{first}"
    assert (loop.get("configmap", "external-ext") or {})["data"]["color"] == "blue"

    # A new artifact published in the status is applied at once (the source is watched).
    second = repo.commit(
        "Green", {"deploy/config.yaml": CONFIGMAP.format(name="ext", color="green")}
    )
    objects.request_reconcile(loop.cluster, loop.namespace, "gitrepository", "repo", "second")
    loop.wait_ready("app", second)
    _publish(loop, "published", (loop.get("gitrepository", "repo") or {})["status"]["artifact"])
    loop.wait_ready("from-external", second, message=loop.kustomize.output())
    assert (loop.get("configmap", "external-ext") or {})["data"]["color"] == "green"
