"""ExternalArtifact end to end: a Kustomization applies an artifact another controller published.

Nothing in Flux reconciles an ExternalArtifact: its producer writes
``status.artifact``. Here the producer is the test, which publishes the
artifacts source-controller stored for a GitRepository (served over its
storage HTTP server), so the kustomize-controller process fetches, verifies
and applies them exactly as it would a producer's.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e import objects
from tests.e2e import test_kustomize_controller as loops
from tests.e2e.test_kustomize_controller import CONFIGMAP, Loop
from tests.fixtures.polling import eventually_sync

BASE = """apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [app.yaml]
"""
STAGING = """apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [../base, env.yaml]
"""
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


def _applied(loop: Loop, name: str, revision: str) -> Callable[[], dict[str, Any] | None]:
    """A probe: Kustomization ``name`` Ready with ``revision`` applied."""

    def probe() -> dict[str, Any] | None:
        obj = loop.get("kustomization", name)
        ready = objects.condition(obj, "Ready")
        if obj and ready and ready["status"] == "True":
            return obj if obj["status"].get("lastAppliedRevision") == revision else None
        return None

    return probe


def _external_revision(loop: Loop, name: str, *, other_than: str = "") -> str:
    """The revision of generated ExternalArtifact ``name`` (once it differs from ``other_than``)."""

    def probe() -> str | None:
        artifact = ((loop.get("externalartifact", name) or {}).get("status") or {}).get("artifact")
        revision = (artifact or {}).get("revision")
        return revision if revision and revision != other_than else None

    found: str = eventually_sync(probe, within=60, message=f"no artifact {name}")
    return found


def test_artifact_generator_splits_a_monorepo_into_two_applied_artifacts(loop: Loop) -> None:
    """flux2-kustomize-helm-example's layout: infrastructure and apps from one repository."""
    repo = loop.make_repo("monorepo.git")
    first = repo.commit(
        "Layout",
        {
            "infrastructure/controllers/ctl.yaml": CONFIGMAP.format(name="ctl", color="c"),
            "infrastructure/configs/issuer.yaml": CONFIGMAP.format(name="issuer", color="i"),
            "infrastructure/README.md": "not a manifest\n",
            "apps/base/app.yaml": CONFIGMAP.format(name="app", color="base"),
            "apps/staging/env.yaml": CONFIGMAP.format(name="env", color="staging"),
            "apps/base/kustomization.yaml": BASE,
            "apps/staging/kustomization.yaml": STAGING,
        },
    )
    objects.apply(
        loop.cluster,
        {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
         "metadata": {"name": "monorepo", "namespace": loop.namespace},
         "spec": {"interval": "1h", "url": loop.git.url("monorepo.git")}},
    )  # fmt: skip
    objects.apply(
        loop.cluster,
        {
            "apiVersion": "source.extensions.fluxcd.io/v1beta1",
            "kind": "ArtifactGenerator",
            "metadata": {"name": "split", "namespace": loop.namespace},
            "spec": {
                "sources": [{"alias": "monorepo", "kind": "GitRepository", "name": "monorepo"}],
                "artifacts": [
                    {"name": "infrastructure", "originRevision": "@monorepo",
                     "copy": [{"from": "@monorepo/infrastructure/**", "to": "@artifact/",
                               "exclude": ["*.md"]}]},
                    {"name": "apps", "originRevision": "@monorepo",
                     "copy": [{"from": "@monorepo/apps/base/**", "to": "@artifact/base/"},
                              {"from": "@monorepo/apps/staging/**", "to": "@artifact/staging/"}]},
                ],
            },
        },
    )  # fmt: skip
    loop.kustomization(
        "infra-configs",
        path="./configs",
        sourceRef={"kind": "ExternalArtifact", "name": "infrastructure"},
    )
    loop.kustomization(
        "apps", path="./staging", sourceRef={"kind": "ExternalArtifact", "name": "apps"}
    )  # fmt: skip

    infrastructure = _external_revision(loop, "infrastructure")
    apps = _external_revision(loop, "apps")
    assert infrastructure.startswith("latest@sha256:"), infrastructure
    generated = loop.get("externalartifact", "infrastructure") or {}
    assert (
        generated["status"]["artifact"]["metadata"]["org.opencontainers.image.revision"]
        == f"master@sha1:{first}"
    )
    assert generated["spec"]["sourceRef"]["kind"] == "ArtifactGenerator"
    eventually_sync(
        _applied(loop, "infra-configs", infrastructure), within=90, message=loop.kustomize.output()
    )
    eventually_sync(_applied(loop, "apps", apps), within=90, message=loop.kustomize.output())
    # Only the configs of the infrastructure artifact; apps/staging builds on ../base.
    assert loop.get("configmap", "issuer") is not None
    assert loop.get("configmap", "ctl") is None
    assert (loop.get("configmap", "app") or {})["data"]["color"] == "base"
    assert (loop.get("configmap", "env") or {})["data"]["color"] == "staging"
    generator = loop.get("artifactgenerator", "split") or {}
    assert objects.condition(generator, "Ready")["status"] == "True"  # type: ignore[index]
    assert {e["name"] for e in generator["status"]["inventory"]} == {"infrastructure", "apps"}

    # A commit touching only apps: the generator follows the GitRepository's new
    # artifact; the apps artifact changes, the infrastructure one keeps its revision.
    second = repo.commit(
        "Staging", {"apps/staging/env.yaml": CONFIGMAP.format(name="env", color="v2")}
    )
    objects.request_reconcile(loop.cluster, loop.namespace, "gitrepository", "monorepo", "second")
    new_apps = _external_revision(loop, "apps", other_than=apps)
    eventually_sync(_applied(loop, "apps", new_apps), within=90, message=loop.kustomize.output())
    assert (loop.get("configmap", "env") or {})["data"]["color"] == "v2"
    assert _external_revision(loop, "infrastructure") == infrastructure
    origin = (loop.get("externalartifact", "apps") or {})["status"]["artifact"]["metadata"]
    assert origin["org.opencontainers.image.revision"] == f"master@sha1:{second}"


def test_artifact_generator_without_its_source_says_so(loop: Loop) -> None:
    objects.apply(
        loop.cluster,
        {"apiVersion": "source.extensions.fluxcd.io/v1beta1", "kind": "ArtifactGenerator",
         "metadata": {"name": "orphan", "namespace": loop.namespace},
         "spec": {"sources": [{"alias": "repo", "kind": "GitRepository", "name": "absent"}],
                  "artifacts": [{"name": "out", "copy": [{"from": "@repo/**",
                                                          "to": "@artifact/"}]}]}},
    )  # fmt: skip

    def failed() -> dict[str, Any] | None:
        ready = objects.condition(loop.get("artifactgenerator", "orphan"), "Ready")
        return ready if ready and ready["reason"] == "SourceFetchFailed" else None

    ready = eventually_sync(failed, within=60, message="no SourceFetchFailed")
    assert ready["status"] == "False"
    assert f"GitRepository/{loop.namespace}/absent' not found" in ready["message"]
    warnings = [
        e for e in objects.events(loop.cluster, loop.namespace)
        if e["type"] == "Warning" and e["reason"] == "SourceFetchFailed"
    ]  # fmt: skip
    assert warnings, "no Warning event"
    assert loop.get("externalartifact", "out") is None


def _generator(loop: Loop, name: str, spec: dict[str, Any]) -> None:
    objects.apply(
        loop.cluster,
        {"apiVersion": "source.extensions.fluxcd.io/v1beta1", "kind": "ArtifactGenerator",
         "metadata": {"name": name, "namespace": loop.namespace}, "spec": spec},
    )  # fmt: skip


def _git_source(loop: Loop, repo: str) -> None:
    objects.apply(
        loop.cluster,
        {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
         "metadata": {"name": "repo", "namespace": loop.namespace},
         "spec": {"interval": "1h", "url": loop.git.url(repo)}},
    )  # fmt: skip


def _git_revision(loop: Loop, revision: str) -> None:
    def probe() -> bool:
        status = (loop.get("gitrepository", "repo") or {}).get("status") or {}
        return str((status.get("artifact") or {}).get("revision", "")).endswith(revision)

    eventually_sync(probe, within=60, message=f"GitRepository not at {revision}")


def test_the_reconcile_disabled_annotation_pauses_the_generator(loop: Loop) -> None:
    repo = loop.make_repo("paused.git")
    repo.commit("One", {"deploy/a.yaml": CONFIGMAP.format(name="a", color="one")})
    _git_source(loop, "paused.git")
    _generator(loop, "paused", {
        "sources": [{"alias": "repo", "kind": "GitRepository", "name": "repo"}],
        "artifacts": [{"name": "deploy", "copy": [{"from": "@repo/deploy/**",
                                                   "to": "@artifact/"}]}],
    })  # fmt: skip
    first = _external_revision(loop, "deploy")

    loop.kubectl("annotate", "artifactgenerator", "paused",
                 "source.extensions.fluxcd.io/reconcile=Disabled")  # fmt: skip
    second = repo.commit("Two", {"deploy/a.yaml": CONFIGMAP.format(name="a", color="two")})
    objects.request_reconcile(loop.cluster, loop.namespace, "gitrepository", "repo", "two")
    _git_revision(loop, second)
    objects.request_reconcile(loop.cluster, loop.namespace, "artifactgenerator", "paused", "two")
    eventually_sync(
        lambda: ((loop.get("artifactgenerator", "paused") or {}).get("status") or {}).get(
            "lastHandledReconcileAt") == "two",
        within=60, message="the disabled generator did not handle the request",
    )  # fmt: skip
    assert _external_revision(loop, "deploy") == first

    # As Flux's resume: enabled, and a reconcile requested (the annotation alone,
    # like any metadata change, does not enqueue the object).
    loop.kubectl("annotate", "--overwrite", "artifactgenerator", "paused",
                 "source.extensions.fluxcd.io/reconcile=enabled")  # fmt: skip
    objects.request_reconcile(loop.cluster, loop.namespace, "artifactgenerator", "paused", "3")
    assert _external_revision(loop, "deploy", other_than=first) != first


def test_path_pattern_generates_an_artifact_per_matching_directory(loop: Loop) -> None:
    repo = loop.make_repo("patterns.git")
    repo.commit("Apps", {
        "apps/Auth/envs/prod/a.yaml": CONFIGMAP.format(name="auth-prod", color="p"),
        "apps/web/envs/dev/w.yaml": CONFIGMAP.format(name="web-dev", color="d"),
        "apps/web/README.md": "not matched\n",
    })  # fmt: skip
    _git_source(loop, "patterns.git")
    _generator(loop, "per-app", {
        "sources": [{"alias": "mono", "kind": "GitRepository", "name": "repo"}],
        "pathPattern": "@mono/apps/{app}/envs/{env}",
        "artifacts": [{"name": "{app}-{env}", "copy": [{"from": "@mono/apps/{app}/envs/{env}/**",
                                                        "to": "@artifact/"}]}],
    })  # fmt: skip

    _external_revision(loop, "auth-prod")
    web = _external_revision(loop, "web-dev")
    generated = loop.get("externalartifact", "auth-prod") or {}
    labels = generated["metadata"]["labels"]
    assert (labels["app"], labels["env"]) == ("auth", "prod")
    generator = loop.get("artifactgenerator", "per-app") or {}
    assert {e["name"] for e in generator["status"]["inventory"]} == {"auth-prod", "web-dev"}
    loop.kustomization("web", path="./", sourceRef={"kind": "ExternalArtifact", "name": "web-dev"})
    eventually_sync(_applied(loop, "web", web), within=90, message=loop.kustomize.output())
    assert loop.get("configmap", "web-dev") is not None
    assert loop.get("configmap", "auth-prod") is None

    # A directory that renders no valid name stalls the generator, as Flux does.
    second = repo.commit("Bad", {"apps/Bad_Name/envs/x/b.yaml": "x: 1\n"})
    objects.request_reconcile(loop.cluster, loop.namespace, "gitrepository", "repo", "bad")
    _git_revision(loop, second)

    def stalled() -> dict[str, Any] | None:
        cond = objects.condition(loop.get("artifactgenerator", "per-app"), "Stalled")
        return cond if cond and cond["status"] == "True" else None

    cond = eventually_sync(stalled, within=60, message="the generator did not stall")
    assert cond["reason"] == "BuildFailed"
    assert 'rendered artifact name "bad_name-x"' in cond["message"]
