"""kustomize-controller as Flux 2.9 behaves where production users lean on it.

Config watchers (a labelled ConfigMap or Secret triggers its Kustomizations),
SOPS beyond age keys, and the events Flux emits. The GitOps loop fixtures
are those of ``test_kustomize_controller``.
"""

from __future__ import annotations

import pytest

from tests.e2e import test_kustomize_controller as gitops
from tests.e2e.test_kustomize_controller import CONFIGMAP, Loop
from tests.fixtures.polling import eventually_sync

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# The GitOps loop's fixtures, shared with the core loop's tests.
kustomize_flags = gitops.kustomize_flags
controllers = gitops.controllers
loop = gitops.loop


def test_a_watched_config_change_triggers_the_kustomization_at_once(loop: Loop) -> None:
    repo = loop.make_repo("watched.git")
    head = repo.commit(
        "Templated config", {"deploy/config.yaml": CONFIGMAP.format(name="app", color="${color}")}
    )
    loop.kubectl("create", "configmap", "vars", "--from-literal=color=red")
    loop.kubectl("label", "configmap", "vars", "reconcile.fluxcd.io/watch=Enabled")
    # NB: spec.interval is an hour: only the watch can bring the new value in time.
    loop.sources(
        "watched.git", path="./deploy",
        postBuild={"substituteFrom": [{"kind": "ConfigMap", "name": "vars"}]},
    )  # fmt: skip
    loop.wait_ready("app", head)
    assert (loop.get("configmap", "app") or {})["data"]["color"] == "red"

    loop.kubectl("patch", "configmap", "vars", "--type=merge", "-p", '{"data":{"color":"blue"}}')

    def recolored() -> bool:
        return bool((loop.get("configmap", "app") or {}).get("data", {}).get("color") == "blue")

    eventually_sync(recolored, within=60, message="the watched ConfigMap's change was not applied")
