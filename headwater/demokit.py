"""What the demo's steps share: the run's state, output, tools and probes.

``Demo`` carries one run (the environment's layout, the Git URL, the step
counter) and prints in the demo's format (``=== Step``, ``$ command``,
``[ok] verified``); ``eventually`` polls with the step deadline;
``ready_at`` is the probe of a Flux object Ready at a revision;
``headwater_shown`` runs the ``headwater`` command as a user would.
The steps are in ``headwater.demo``, ``headwater.demoimages``,
``headwater.demohelm``.
"""

from __future__ import annotations

import json
import os
import pathlib
import shlex
import subprocess
import time
from collections.abc import Callable
from typing import Any, TypeVar

from headwater import demowebhooks, dev

EXAMPLE = pathlib.Path(__file__).resolve().parents[1] / "examples" / "webapp"
NAME = "webapp"
FLUX_NAMESPACE = dev.RUNTIME_NAMESPACE
APP_NAMESPACE = "webapp"
STEPS = 9
T = TypeVar("T")


class DemoError(Exception):
    """A step could not be verified; the message says what was expected and seen."""


class Demo:
    """The state one demo run shares between its steps."""

    def __init__(self, layout: dev.Layout, *, step_timeout: float) -> None:
        self.layout = layout
        self.step_timeout = step_timeout
        self.workdir = layout.root / "demo" / NAME
        self.git_url = ""
        self.webhook_url = ""
        self.step = 1  # step 1 starts the environment, before there is a Demo

    # -- output -----------------------------------------------------------------

    def header(self, title: str) -> None:
        self.step += 1
        print(f"\n=== Step {self.step}/{STEPS}: {title}", flush=True)

    @staticmethod
    def say(text: str) -> None:
        print(f"    {text}", flush=True)

    @staticmethod
    def ok(text: str) -> None:
        print(f"  [ok] {text}", flush=True)

    @staticmethod
    def show(command: str, output: str) -> None:
        print(f"  $ {command}", flush=True)
        for line in output.rstrip("\n").splitlines():
            print(f"    {line}", flush=True)

    # -- tools ------------------------------------------------------------------

    def kubectl(self, *args: str, input: str | None = None) -> str:
        result = dev.kubectl(self.layout, *args, input=input)
        if result.returncode != 0:
            raise DemoError(f"kubectl {' '.join(args)} failed:\n{result.stderr}")
        return result.stdout

    def kubectl_shown(self, *args: str) -> str:
        """Run kubectl and print the command as a user would type it, and its output."""
        output = self.kubectl(*args)
        self.show("kubectl " + " ".join(args), output)
        return output

    def get(self, resource: str, name: str, *, namespace: str) -> dict[str, Any] | None:
        """The object as JSON, or None when it does not exist."""
        result = dev.kubectl(
            self.layout, "get", "-n", namespace, resource, name, "-o", "json", "--ignore-not-found"
        )
        if result.returncode != 0:
            raise DemoError(f"kubectl get {resource} {name} failed:\n{result.stderr}")
        if not result.stdout.strip():
            return None
        obj: dict[str, Any] = json.loads(result.stdout)
        return obj

    def git(self, *args: str) -> str:
        env = {
            **os.environ,
            # The user's own git configuration (signing, hooks, templates) stays out.
            "GIT_CONFIG_GLOBAL": "/dev/null",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_TERMINAL_PROMPT": "0",
        }
        identity = ["-c", "user.name=Headwater Demo", "-c", "user.email=demo@headwater.invalid"]
        result = subprocess.run(
            ["git", *identity, *args], cwd=self.workdir, env=env,
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        if result.returncode != 0:
            raise DemoError(f"git {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
        return result.stdout

    def eventually(self, what: str, probe: Callable[[], T | None]) -> T:
        """Poll ``probe`` until it returns a value; fail after the step deadline."""
        began = time.monotonic()
        while True:
            value = probe()
            if value is not None:
                self.ok(f"{what} ({time.monotonic() - began:.1f}s)")
                return value
            if time.monotonic() - began > self.step_timeout:
                raise DemoError(f"timed out after {self.step_timeout:.0f}s waiting for: {what}")
            time.sleep(0.25)

    def commit_and_push(self, message: str) -> str:
        self.git("add", "--all")
        self.git("commit", "--quiet", "-m", message)
        self.git("push", "--quiet", self.git_url, "main")
        sha = self.git("rev-parse", "HEAD").strip()
        self.say(f'$ git commit -m "{message}" && git push   -> main@sha1:{sha[:12]}')
        return f"main@sha1:{sha}"


def condition(obj: dict[str, Any], type_: str) -> dict[str, Any]:
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if condition.get("type") == type_:
            return dict(condition)
    return {}


def ready_at(demo: Demo, resource: str, revision: str) -> Callable[[], dict[str, Any] | None]:
    """A probe: the Flux object once it is Ready=True at ``revision``."""
    field = "artifact" if resource == "gitrepository" else "lastAppliedRevision"

    def probe() -> dict[str, Any] | None:
        obj = demo.get(resource, NAME, namespace=FLUX_NAMESPACE)
        if obj is None:
            return None
        status = obj.get("status") or {}
        seen = (
            (status.get("artifact") or {}).get("revision")
            if field == "artifact"
            else status.get(field)
        )
        ready = condition(obj, "Ready")
        if seen == revision and ready.get("status") == "True":
            return obj
        return None

    return probe


def headwater_shown(demo: Demo, *args: str) -> str:
    """Run ``headwater ARGS…``, print it as a user would type it and what it said."""
    result = demowebhooks.headwater(demo.layout, *args)
    demo.show(shlex.join(["headwater", *args]), result.stderr + result.stdout)
    if result.returncode != 0:
        raise DemoError(f"headwater {' '.join(args)} exited {result.returncode}")
    return result.stdout
