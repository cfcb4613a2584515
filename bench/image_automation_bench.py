"""image-automation-controller: the Setters update over many files, and one whole run.

``python -m bench.image_automation_bench [--files 1000] [--rounds 5] [--output FILE]``

1. **setters** — in-process, a directory of ``--files`` Deployments (~40
   lines each, one ``$imagepolicy`` marker) plus as many unmarked YAML files:
   the median wall time of ``setters.update_with_setters`` changing every
   marked value (the files are rewritten before each round), and of the same
   call when nothing changes.
2. **run** — a bare repository with those files served by ``githttpd``
   (``git http-backend`` on 127.0.0.1): the median wall time of one
   ``committing.run`` — ls-remote, clone, update, commit, push — with a new
   tag each round, and of a run that finds nothing to change.

No target is set by the issue for these; they show where a run's time goes.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import sys
import tempfile
import time
from collections.abc import Callable

from controllers.image_automation import checkouts, committing, setters
from tests.fixtures import commands, gitservers

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-{i}
  namespace: apps
  labels:
    app: app-{i}
spec:
  replicas: 2
  selector:
    matchLabels:
      app: app-{i}
  template:
    metadata:
      labels:
        app: app-{i}
    spec:
      containers:
        - name: app
          image: ghcr.io/org/app:1.0.0 # {{"$imagepolicy": "apps:app"}}
          ports:
            - containerPort: 8080
          env:
            - name: LOG_LEVEL
              value: info
          resources:
            requests: {{cpu: 10m, memory: 32Mi}}
"""
UNMARKED = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i}\ndata:\n  k: v\n"


def _write_tree(root: pathlib.Path, files: int) -> None:
    for i in range(files):
        directory = root / "deploy" / f"d{i % 20}"
        directory.mkdir(parents=True, exist_ok=True)
        (directory / f"app-{i}.yaml").write_text(DEPLOYMENT.format(i=i))
        (directory / f"cm-{i}.yaml").write_text(UNMARKED.format(i=i))


def _median_s(action: Callable[[], object], rounds: int, before: Callable[[], None]) -> float:
    times = []
    for _ in range(rounds):
        before()
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_setters(files: int, rounds: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as scratch:
        root = pathlib.Path(scratch)
        values = {"apps:app": "ghcr.io/org/app:1.1.0"}
        changed = _median_s(
            lambda: setters.update_with_setters(root, values),
            rounds,
            before=lambda: _write_tree(root, files),
        )
        unchanged = _median_s(
            lambda: setters.update_with_setters(root, values), rounds, before=lambda: None
        )
    return {"setters_changed_s": changed, "setters_unchanged_s": unchanged}


def bench_run(files: int, rounds: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as scratch:
        base = pathlib.Path(scratch)
        repo = gitservers.RepoBuilder(base / "git", "apps.git")
        _write_tree(repo.work, files)
        repo.commit("initial")
        server = gitservers.start_githttpd(base / "git", log=base / "githttpd.log")
        try:
            counter = iter(range(1, 10_000))

            def job(tag: str) -> committing.Job:
                return committing.Job(
                    url=server.url("apps.git"),
                    credentials=committing.Credentials(),
                    checkout=checkouts.plan(None),
                    push=committing.PushTarget(branch="master"),
                    update_path="deploy",
                    setter_values={"apps:app": f"ghcr.io/org/app:{tag}"},
                    author=committing.Author(name="bench", email="bench@example.com"),
                    message=lambda result: f"{len(result.changes())} changes",
                )

            def one(tag: str) -> committing.Outcome:
                return committing.run(job(tag), workdir=base / f"work-{next(counter)}")

            pushed = _median_s(lambda: one(f"2.0.{next(counter)}"), rounds, before=lambda: None)
            one("3.0.0")
            unchanged = _median_s(lambda: one("3.0.0"), rounds, before=lambda: None)
        finally:
            commands.stop(server.process)
    return {"run_commit_push_s": pushed, "run_nothing_to_change_s": unchanged}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--output", type=pathlib.Path)
    args = parser.parse_args(argv)
    figures = {**bench_setters(args.files, args.rounds), **bench_run(args.files, args.rounds)}
    for name, value in figures.items():
        print(f"{name} {value:.3f}  (files={args.files}, rounds={args.rounds})")
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
