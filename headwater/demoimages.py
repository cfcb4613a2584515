"""The demo's image automation step: a new image tag in the registry becomes a commit.

What CI and Flux do together, in ``headwater dev``'s environment: a tag is
pushed to the local registry (``headwater artifact push`` stands in for
``docker push``: the image reflector needs only the tag); an ImageRepository
scans it, an ImagePolicy (``headwater create image policy``) elects it, an
ImageUpdateAutomation (``headwater create image update``) rewrites the
Deployment's ``image:`` line behind its ``$imagepolicy`` marker, commits
and pushes to the Git server; ``headwater reconcile kustomization
--with-source`` then fetches that commit at once and applies it.
"""

from __future__ import annotations

import tempfile
from typing import Any

from headwater import demokit
from headwater.demokit import APP_NAMESPACE, FLUX_NAMESPACE, NAME, Demo, DemoError

TAG = "1.0.0"
AUTHOR = "Headwater Image Automation"


def image_repository(namespace: str, name: str, image: str) -> str:
    # NB: ``headwater create image repository`` has Flux's flags, and Flux's
    # have no --insecure; the dev registry is plain HTTP, hence kubectl.
    return f"""\
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageRepository
metadata:
  name: {name}
  namespace: {namespace}
spec:
  image: {image}
  interval: 1m
  insecure: true        # the dev registry speaks plain HTTP
"""


def new_tag_becomes_a_commit(demo: Demo, registry_port: int) -> None:
    demo.header("A new image tag in the registry becomes a commit and a rollout")
    image = f"127.0.0.1:{registry_port}/{NAME}"
    with tempfile.TemporaryDirectory(prefix="headwater-demo-") as content:
        demokit.headwater_shown(
            demo, "artifact", "push", f"oci://{image}:{TAG}", "--path", content,
            "--source", "ci", "--revision", TAG, "--insecure",
        )  # fmt: skip
    manifest = image_repository(FLUX_NAMESPACE, NAME, image)
    demo.show("kubectl apply --server-side -f - <<EOF", manifest + "EOF")
    demo.kubectl("apply", "--server-side", "-f", "-", input=manifest)
    demokit.headwater_shown(
        demo, "create", "image", "policy", NAME, "--image-ref", NAME, "--select-semver", ">=1.0.0"
    )
    policy = demo.get("imagepolicy", NAME, namespace=FLUX_NAMESPACE) or {}
    latest = ((policy.get("status") or {}).get("latestRef") or {}).get("tag")
    if latest != TAG:
        raise DemoError(f"ImagePolicy {NAME} elected {latest!r}, the registry has {TAG}")
    demo.ok(f"ImagePolicy {NAME} elected {image}:{TAG}")
    demokit.headwater_shown(
        demo, "create", "image", "update", NAME, "--git-repo-ref", NAME,
        "--checkout-branch", "main", "--author-name", AUTHOR,
        "--author-email", "automation@headwater.invalid",
    )  # fmt: skip
    demo.git("pull", "--quiet", "--ff-only", demo.git_url, "main")
    log = demo.git("log", "-1", "--format=%an: %s")
    if not log.startswith(AUTHOR):
        raise DemoError(f"the last commit on main is not the automation's: {log}")
    demo.show("git log -1 --format='%an: %s'", log)
    demo.ok("the automation committed the new tag to main")
    demokit.headwater_shown(demo, "reconcile", "kustomization", NAME, "--with-source")

    def rolled_out() -> dict[str, Any] | None:
        deployment = demo.get("deployment", NAME, namespace=APP_NAMESPACE) or {}
        containers = deployment.get("spec", {}).get("template", {}).get("spec", {})
        found = [c.get("image") for c in containers.get("containers") or []]
        return deployment if found == [f"{image}:{TAG}"] else None

    demo.eventually(f"Deployment {NAME} runs {image}:{TAG}", rolled_out)
