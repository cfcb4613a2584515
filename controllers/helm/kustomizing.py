"""``kubectl kustomize`` for the kustomize post-renderers (the engine's ``Kustomize``).

The post-renderer's directory holds only what the engine wrote (the rendered
objects and a ``kustomization.yaml`` of patches and images), so kustomize
runs with its load restrictor on, no plugins, no Helm, in a scratch working
directory and home, and within a time limit. A failure becomes the engine's
``ChartError`` (``post-rendering failed: …``), which fails the action.
"""

from __future__ import annotations

import asyncio
import pathlib
import tempfile

from controllers.helm.engine import failures, postrendering

TIMEOUT = 60.0


def runner(binary: str, *, timeout: float = TIMEOUT) -> postrendering.Kustomize:
    """The engine's ``Kustomize``: ``binary kustomize <directory>``'s output."""

    async def run(directory: pathlib.Path) -> str:
        with tempfile.TemporaryDirectory(prefix="helm-kustomize-home-") as home:
            process = await asyncio.create_subprocess_exec(
                binary,
                "kustomize",
                str(directory),
                "--load-restrictor=LoadRestrictionsRootOnly",
                "--enable-alpha-plugins=false",
                "--enable-helm=false",
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env={"HOME": home, "PATH": ""},
                cwd=home,
            )
            try:
                stdout, stderr = await asyncio.wait_for(process.communicate(), timeout)
            except TimeoutError as late:
                raise failures.ChartError(
                    f"post-rendering failed: kustomize timed out after {timeout:g}s"
                ) from late
            finally:
                if process.returncode is None:
                    process.kill()
                    await process.wait()
        if process.returncode != 0:
            message = stderr.decode(errors="replace").strip().removeprefix("error: ")
            raise failures.ChartError(f"post-rendering failed: {message}")
        return stdout.decode()

    return run
