"""The demo's Helm step: a HelmRelease installed from a chart repository, then upgraded.

The demo serves its own chart repository on 127.0.0.1 (``ChartRepository``:
Python's HTTP server over a directory holding ``index.yaml`` and the chart
archive, packaged here as Helm packages one: a gzipped tar of
``<name>/Chart.yaml``, ``values.yaml`` and ``templates/``). With the
``headwater`` command it creates a HelmRepository for it and a HelmRelease
of the chart into the app's namespace, checks the ConfigMap the release
rendered, then changes the release's values, which helm-controller turns
into a Helm upgrade (release revision 2). ``tree`` and ``trace`` show what
the release applied and where it came from.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import http.server
import io
import pathlib
import tarfile
import threading
from collections.abc import Iterator
from typing import Any

import yaml

from headwater import demokit
from headwater.demokit import APP_NAMESPACE, FLUX_NAMESPACE, Demo, DemoError

CHART = "greeter"
VERSION = "1.0.0"
TEMPLATE = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}
data:
  greeting: {{ .Values.greeting | quote }}
"""


def package(directory: pathlib.Path) -> pathlib.Path:
    """Write the chart archive and ``index.yaml`` into ``directory``; the archive's path."""
    files = {
        "Chart.yaml": yaml.safe_dump({"apiVersion": "v2", "name": CHART, "version": VERSION}),
        "values.yaml": yaml.safe_dump({"greeting": "hello"}),
        "templates/configmap.yaml": TEMPLATE,
    }
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{CHART}/{path}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    directory.mkdir(parents=True, exist_ok=True)
    chart = directory / f"{CHART}-{VERSION}.tgz"
    chart.write_bytes(buffer.getvalue())
    entry = {
        "apiVersion": "v2",
        "name": CHART,
        "version": VERSION,
        "urls": [chart.name],
        "digest": hashlib.sha256(buffer.getvalue()).hexdigest(),
        "created": "2026-01-01T00:00:00Z",
    }
    index = {"apiVersion": "v1", "entries": {CHART: [entry]}}
    (directory / "index.yaml").write_text(yaml.safe_dump(index))
    return chart


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Requests are not the demo's output."""


@contextlib.contextmanager
def chart_repository(directory: pathlib.Path) -> Iterator[str]:
    """Serve ``directory`` on 127.0.0.1 until the block ends; yields its URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _released(demo: Demo, greeting: str, version: int) -> Any:
    """A probe: the release's ConfigMap says ``greeting`` and the release is at ``version``."""

    def probe() -> dict[str, Any] | None:
        release = demo.get("helmrelease", CHART, namespace=FLUX_NAMESPACE) or {}
        history = (release.get("status") or {}).get("history") or [{}]
        configmap = demo.get("configmap", CHART, namespace=APP_NAMESPACE) or {}
        said = (configmap.get("data") or {}).get("greeting")
        ready = demokit.condition(release, "Ready").get("status")
        if said == greeting and history[0].get("version") == version and ready == "True":
            return release
        return None

    return probe


def install_and_upgrade(demo: Demo) -> None:
    demo.header("A HelmRelease installed from a chart repository, then upgraded")
    charts = demo.layout.root / "demo" / "charts"
    package(charts)
    with chart_repository(charts) as url:
        demo.say(f"a chart repository with {CHART} {VERSION} is served at {url}")
        demokit.headwater_shown(demo, "create", "source", "helm", "charts", "--url", url,
                                "--interval", "10m")  # fmt: skip
        values = demo.layout.root / "demo" / "greeter-values.yaml"
        values.write_text("greeting: hello\n")
        release = ("create", "helmrelease", CHART, "--source", "HelmRepository/charts",
                   "--chart", CHART, "--target-namespace", APP_NAMESPACE,
                   "--release-name", CHART, "--values", str(values))  # fmt: skip
        demokit.headwater_shown(demo, *release)
        demo.eventually(
            f"HelmRelease {CHART} installed {CHART} {VERSION}: ConfigMap {CHART} says hello",
            _released(demo, "hello", 1),
        )
        demokit.headwater_shown(demo, "get", "helmreleases")
        tree = demokit.headwater_shown(demo, "tree", "helmrelease", CHART)
        if f"ConfigMap/{APP_NAMESPACE}/{CHART}" not in tree:
            raise DemoError(f"headwater tree does not show the release's ConfigMap:\n{tree}")
        demo.ok("headwater tree reads what the release applied from Helm's storage")

        values.write_text("greeting: bonjour\n")
        demo.say(f"$ echo 'greeting: bonjour' > {values.name}   # new values, same chart")
        demokit.headwater_shown(demo, *release)
        demo.eventually(
            f"HelmRelease {CHART} upgraded to release revision 2: ConfigMap {CHART} says bonjour",
            _released(demo, "bonjour", 2),
        )
        trace = demokit.headwater_shown(demo, "trace", f"configmap/{CHART}", "-n", APP_NAMESPACE)
        if f"HelmRelease:    {CHART}" not in trace or "HelmRepository: charts" not in trace:
            raise DemoError(f"headwater trace does not lead to the HelmRelease:\n{trace}")
        demo.ok(f"headwater trace leads from ConfigMap {CHART} to its HelmRelease and chart")
