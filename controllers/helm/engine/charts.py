"""What is Helm's alone, through the Helm SDK: charts, values, schemas, templates.

The SDK (``helm_python``) is synchronous ctypes over Go, so every call that
does real work runs in a worker thread (``asyncio.to_thread``). Its errors
become ``failures.ChartError`` here and nowhere else.

- ``load`` reads a chart from a directory, a ``.tgz`` path or archive bytes;
- ``merged_values`` coalesces the chart's defaults with user values and,
  unless skipped, validates them against ``values.schema.json``;
- ``render_templates`` renders the templates (``lookup`` answered by the
  cluster when a ``kubeconfig`` is given, else empty) and returns template
  path → text;
- ``chart_json`` is the chart as Helm stores it in a release: metadata,
  lock, templates, values, schema and files, with ``[]byte`` fields in
  base64 as Go writes them. Sub-charts are not stored (Helm keeps them out
  of the JSON too).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import pathlib
import tempfile
from collections.abc import Mapping
from typing import Any

import helm_python

from controllers.helm.engine import failures

Chart = helm_python.Chart
ChartSource = helm_python.Chart | pathlib.Path | str | bytes
"""A loaded chart, a path to a chart directory or archive, or archive bytes."""

_GO_ZERO_TIME = "0001-01-01T00:00:00Z"


def _chart_error(what: str, error: helm_python.HelmError) -> failures.ChartError:
    return failures.ChartError(f"{what}: {error}")


def load_sync(source: ChartSource) -> helm_python.Chart:
    """The chart of ``source`` (blocking; see ``load``)."""
    if isinstance(source, helm_python.Chart):
        return source
    try:
        if isinstance(source, bytes):
            return helm_python.Chart.load_archive(source)
        return helm_python.Chart.load(os.fspath(source))
    except helm_python.HelmError as error:
        raise _chart_error("cannot load the chart", error) from error


async def load(source: ChartSource) -> helm_python.Chart:
    """The chart of ``source``, loaded in a worker thread."""
    return await asyncio.to_thread(load_sync, source)


def _merged_values_sync(
    chart: helm_python.Chart, values: Mapping[str, Any], *, validate: bool
) -> dict[str, Any]:
    try:
        merged = chart.merge_values(dict(values))
        if validate:
            chart.validate_schema(merged)
    except helm_python.HelmError as error:
        reason = "values don't meet the specifications of the schema(s)"
        raise _chart_error(reason, error) from error
    return merged


async def merged_values(
    chart: helm_python.Chart, values: Mapping[str, Any], *, validate: bool = True
) -> dict[str, Any]:
    """The chart's defaults coalesced with ``values``, checked against its schema."""
    return await asyncio.to_thread(_merged_values_sync, chart, values, validate=validate)


def _without_schema(chart: helm_python.Chart) -> helm_python.Chart:
    """The chart and its sub-charts without ``values.schema.json`` (rendering checks it)."""
    with tempfile.TemporaryDirectory(prefix="helm-chart-") as scratch:
        root = pathlib.Path(chart.save_dir(scratch))
        for schema in root.rglob("values.schema.json"):
            schema.unlink()
        return helm_python.Chart.load(root)


async def render_templates(
    chart: helm_python.Chart,
    values: Mapping[str, Any],
    *,
    name: str,
    namespace: str,
    revision: int,
    is_upgrade: bool,
    kubeconfig: str | None = None,
    validate: bool = True,
) -> dict[str, str]:
    """Template path → rendered text (see the module docstring), in a worker thread.

    Rendering checks the values against the chart's schema; without
    ``validate`` the chart is rendered from a copy without schemas.
    """
    options: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "revision": revision,
        "is_install": not is_upgrade,
        "is_upgrade": is_upgrade,
    }

    def render() -> dict[str, str]:
        try:
            loaded = _without_schema(chart) if not validate and chart.schema else chart
            if kubeconfig is None:
                return loaded.render(dict(values), **options)
            with helm_python.Config(kubeconfig_content=kubeconfig, namespace=namespace) as config:
                return config.render(loaded, dict(values), **options)
        except helm_python.HelmError as error:
            raise _chart_error("cannot render the chart", error) from error

    return await asyncio.to_thread(render)


def crds(chart: helm_python.Chart) -> list[tuple[str, str]]:
    """The ``crds/`` files of the chart and its sub-charts: (file name, YAML text)."""
    return [(entry["filename"], entry["data"]) for entry in chart.crds]


def _file(entry: Mapping[str, Any]) -> dict[str, Any]:
    data = entry.get("data", "")
    raw = data.encode() if isinstance(data, str) else bytes(data)
    return {"name": entry["name"], "data": base64.b64encode(raw).decode()}


def chart_json_sync(chart: helm_python.Chart) -> dict[str, Any]:
    """The chart as Helm stores it in a release (see the module docstring)."""
    schema = chart.schema
    return {
        "metadata": chart.metadata,
        "lock": None,
        "templates": [_file(entry) for entry in chart.templates],
        "values": chart.values,
        "schema": None
        if schema is None
        else base64.b64encode(json.dumps(schema).encode()).decode(),
        "schemamodtime": _GO_ZERO_TIME,
        "files": [_file(entry) for entry in chart.files],
    }


async def chart_json(chart: helm_python.Chart) -> dict[str, Any]:
    return await asyncio.to_thread(chart_json_sync, chart)
