"""Post-renderers and Helm 4's post-render strategies (pure but for kustomize)."""

from __future__ import annotations

import asyncio
import pathlib
import sys
import textwrap

import pytest
import yaml

from controllers.helm.engine import postrendering, requests
from shared.api import helm as helm_api
from shared.api import kustomize as kustomize_api

FILES = {
    "demo/templates/app.yaml": textwrap.dedent("""
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: web
          labels: {app: web, team: mine}
        spec:
          template:
            spec:
              containers: [{name: web, image: "nginx:1.27"}]
        ---
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: cm}
    """),
    "demo/templates/hook.yaml": textwrap.dedent("""
        apiVersion: batch/v1
        kind: Job
        metadata:
          name: migrate
          annotations: {helm.sh/hook: pre-install}
    """),
}


def objects(files: dict[str, str]) -> dict[str, dict[str, object]]:
    found = {}
    for text in files.values():
        for obj in yaml.safe_load_all(text):
            found[obj["metadata"]["name"]] = obj
    return found


def rendering(**changes: object) -> requests.Rendering:
    base: dict[str, object] = {"release_name": "demo", "namespace": "apps", "chart": "unused"}
    return requests.Rendering(**{**base, **changes})  # type: ignore[arg-type]


async def run(req: requests.Rendering, **kwargs: object) -> dict[str, dict[str, object]]:
    chain = postrendering.renderers(req, kustomize=kubectl_kustomize)
    files = await postrendering.apply(FILES, chain=chain, strategy=req.post_render_strategy)
    assert all(postrendering.PATH_ANNOTATION not in text for text in files.values())
    return objects(files)


async def kubectl_kustomize(directory: pathlib.Path) -> str:
    """The real kustomize (kubectl's), as the controller runs it."""
    kubectl = pathlib.Path(sys.executable).parent / "kubectl"
    process = await asyncio.create_subprocess_exec(
        str(kubectl),
        "kustomize",
        str(directory),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await process.communicate()
    assert process.returncode == 0, stderr.decode()
    return stdout.decode()


async def test_origin_labels_win_over_common_metadata_which_wins_over_the_objects() -> None:
    req = rendering(
        origin=requests.Origin(name="web", namespace="flux-system"),
        common_labels={"team": "platform", "helm.toolkit.fluxcd.io/name": "other"},
        common_annotations={"owner": "me"},
    )

    found = await run(req)

    labels = found["web"]["metadata"]["labels"]  # type: ignore[index]
    assert labels == {
        "app": "web",
        "team": "platform",
        "helm.toolkit.fluxcd.io/name": "web",
        "helm.toolkit.fluxcd.io/namespace": "flux-system",
    }
    assert found["migrate"]["metadata"]["annotations"] == {  # type: ignore[index]
        "helm.sh/hook": "pre-install",
        "owner": "me",
    }


def kustomize_renderer() -> helm_api.PostRenderer:
    return helm_api.PostRenderer(
        kustomize=helm_api.KustomizePostRenderer(
            patches=[
                kustomize_api.Patch(
                    patch="apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: any\n"
                    "  labels: {patched: 'yes'}\n",
                    target=kustomize_api.Selector(kind="Job"),
                )
            ],
            images=[kustomize_api.Image(name="nginx", new_tag="1.28")],
        )
    )


@pytest.mark.parametrize(
    ("strategy", "hook_patched"),
    [
        (requests.PostRenderStrategy.COMBINED, True),
        (requests.PostRenderStrategy.SEPARATE, True),
        (requests.PostRenderStrategy.NO_HOOKS, False),
    ],
)
async def test_kustomize_patches_and_images_by_strategy(
    strategy: requests.PostRenderStrategy, hook_patched: bool
) -> None:
    req = rendering(post_renderers=[kustomize_renderer()], post_render_strategy=strategy)

    found = await run(req)

    container = found["web"]["spec"]["template"]["spec"]["containers"][0]  # type: ignore[index]
    assert container["image"] == "nginx:1.28"
    labels = found["migrate"]["metadata"].get("labels") or {}  # type: ignore[attr-defined]
    assert ("patched" in labels) is hook_patched


async def test_without_post_renderers_the_files_are_untouched() -> None:
    files = await postrendering.apply(
        FILES, chain=[], strategy=requests.PostRenderStrategy.COMBINED
    )

    assert files == FILES
