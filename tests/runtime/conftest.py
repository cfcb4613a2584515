"""Fixtures of the runtime tests: a devcluster with the Widget CRD, managers on it."""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
import json
import logging as std_logging
from collections.abc import AsyncIterator, Iterator

import pytest
import structlog

from shared.api import crdgen
from shared.kube import client
from shared.runtime import logging, manager, options
from tests.fixtures import devcluster as devcluster_fixtures
from tests.runtime import widgets

_names = itertools.count()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[devcluster_fixtures.Devcluster]:
    """A devcluster (one per module) with the Widget CRD installed."""
    with devcluster_fixtures.start_devcluster(tmp_path_factory.mktemp("cluster")) as running:
        running.kubectl(
            "apply", "--server-side", "-f", "-", input=json.dumps(crdgen.crd_for(widgets.Widget))
        )
        running.kubectl("wait", "--for=condition=Established", "crd/widgets.test.headwater.dev")
        yield running


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """Log lines (JSON, level info) captured for one test."""
    with configured_logging("info", io.StringIO()) as buffer:
        yield buffer


@contextlib.contextmanager
def configured_logging(level: str, buffer: io.StringIO) -> Iterator[io.StringIO]:
    """``logging.configure`` into ``buffer``; the standard loggers restored after."""
    loggers = [std_logging.getLogger(name) for name in ("", *logging.VERBOSE_SOURCES)]
    root = loggers[0]
    handlers, levels = list(root.handlers), [logger.level for logger in loggers]
    logging.configure(level=level, encoding="json", stream=buffer)
    try:
        yield buffer
    finally:
        structlog.reset_defaults()
        for handler in root.handlers:
            if handler not in handlers:
                root.removeHandler(handler)
        for logger, level_before in zip(loggers, levels, strict=True):
            logger.setLevel(level_before)


@pytest.fixture
def namespace(cluster: devcluster_fixtures.Devcluster) -> Iterator[str]:
    name = f"rt{next(_names)}"
    cluster.kubectl("create", "namespace", name)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
async def api(cluster: devcluster_fixtures.Devcluster) -> AsyncIterator[client.Client]:
    async with client.connected(kubeconfig=str(cluster.kubeconfig)) as connected:
        yield connected


def manager_options(**overrides: object) -> options.Options:
    ports = {
        "metrics_addr": f"127.0.0.1:{devcluster_fixtures.free_port()}",
        "health_addr": f"127.0.0.1:{devcluster_fixtures.free_port()}",
    }
    return options.Options(**{**ports, "instance": f"test-{next(_names)}", **overrides})  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def running_manager(
    api: client.Client,
    reconciler: widgets.WidgetReconciler,
    *,
    namespace: str,
    lazy_finalizer: bool = False,
    **overrides: object,
) -> AsyncIterator[manager.Manager]:
    """A manager reconciling the Widgets of one namespace, stopped (and drained) on exit."""
    opts = manager_options(watch_all_namespaces=False, runtime_namespace=namespace, **overrides)
    mgr = manager.Manager(name="widget-controller", opts=opts, api=api)
    await mgr.add_controller(reconciler, lazy_finalizer=lazy_finalizer)
    task = asyncio.create_task(mgr.run())
    try:
        yield mgr
    finally:
        mgr.stop()
        await asyncio.wait_for(task, timeout=30)
