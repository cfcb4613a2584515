"""``make demo``'s walk-through, run end to end in a temporary state directory.

The demo itself verifies each step with a deadline and exits 0 only when all
of them passed; this test also checks that it said so and left no process.
"""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

from headwater import dev, devprocesses

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
REPO = pathlib.Path(__file__).resolve().parents[2]


def test_demo_walks_through_the_gitops_loop_and_exits_0(tmp_path: pathlib.Path) -> None:
    state = tmp_path / "state"
    process = subprocess.Popen(
        [sys.executable, "-m", "headwater.demo", "--state-dir", str(state)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        output, _ = process.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
    finally:
        # The demo stops its environment itself; this only cleans up after a
        # demo that was killed or failed half-way.
        record = dev.read_run(dev.Layout(state)) or {}
        for child in [record.get("supervisor"), *(record.get("children") or {}).values()]:
            if child:
                devprocesses.terminate(devprocesses.Identity.from_json(child), grace=15)

    assert process.returncode == 0, output
    assert "All 9 steps verified" in output
    for verified in (
        "GitRepository webapp is Ready",
        "Kustomization webapp is Ready",
        "the Deployment is back to 2 replicas",
        "ConfigMap webapp-config has LOG_LEVEL=debug",
        "Service webapp/webapp was pruned",
        "Alert webapp sends the events of GitRepository and Kustomization webapp",
        "GitRepository webapp fetched main@sha1:",
        "the sink received the alert of main@sha1:",
        "ImagePolicy webapp elected 127.0.0.1:",
        "the automation committed the new tag to main",
        "Deployment webapp runs 127.0.0.1:",
        "HelmRelease greeter installed greeter 1.0.0: ConfigMap greeter says hello",
        "headwater tree reads what the release applied from Helm's storage",
        "HelmRelease greeter upgraded to release revision 2: ConfigMap greeter says bonjour",
        "headwater trace leads from ConfigMap greeter to its HelmRelease and chart",
        "headwater dev up and its 9 processes exited",
    ):
        assert f"[ok] {verified}" in output, output
    assert "READY   STATUS" in output  # kubectl's Flux printer columns were shown
    assert not dev.Layout(state).run_file.exists()
