"""``dependsOn`` checks (``shared.runtime.dependencies``), table-driven against the devcluster.

Dependencies are Widgets whose status the test writes; the checker's cache is
an informer on the test's namespace only, so a dependency in another
namespace is read from the API server.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest

from shared.api import meta
from shared.kube import client, resources
from shared.runtime import dependencies, informers, results
from tests.fixtures import devcluster as devcluster_fixtures
from tests.runtime import widgets

STAMP = "2026-01-01T00:00:00Z"


def _ready_status(status: str = "True", observed: int = 1) -> dict[str, Any]:
    return {
        "observedGeneration": observed,
        "conditions": [
            {
                "type": meta.READY,
                "status": status,
                "reason": "Succeeded",
                "message": "ok",
                "lastTransitionTime": STAMP,
            }
        ],
    }


async def _widget(
    api: client.Client,
    namespace: str,
    name: str,
    *,
    status: dict[str, Any] | None = None,
    revision: str | None = None,
    source: str = "repo",
) -> dict[str, Any]:
    body = widgets.manifest(name, message=source)
    if revision is not None:
        body["metadata"]["annotations"] = {"test/applied": revision}
    created: dict[str, Any] = await api.request(
        "POST", widgets.PATH.format(ns=namespace), body=body, verb="create"
    )
    if status is not None:
        created = await api.request(
            "PATCH",
            f"{widgets.PATH.format(ns=namespace)}/{name}/status",
            body={"status": status},
            content_type=client.MERGE_PATCH,
            verb="patch",
        )
    return created


def _source_key(obj: Mapping[str, Any]) -> dependencies.SourceKey | None:
    # The Widget's spec.message stands for its source name in these tests.
    return ("Widget", obj["metadata"].get("namespace", ""), obj["spec"].get("message", ""))


def _applied(obj: Mapping[str, Any]) -> str | None:
    revision: str | None = (obj["metadata"].get("annotations") or {}).get("test/applied")
    return revision


@contextlib.asynccontextmanager
async def _checker(
    api: client.Client, namespace: str, **settings: Any
) -> AsyncIterator[dependencies.Checker]:
    resource = await resources.Discovery(api).resolve(f"{widgets.GROUP}/v1", "Widget")
    cache = informers.Informer(
        api=api, resource=resource, scope=informers.Scope(namespace=namespace)
    )
    task = asyncio.create_task(cache.run())
    try:
        await asyncio.wait_for(cache.wait_synced(), timeout=30)
        yield dependencies.Checker(
            api=api,
            cache=cache,
            resource=resource,
            source=dependencies.Source(key_of=_source_key, applied_revision_of=_applied),
            settings=dependencies.Settings(requeue_after=7, **settings),
        )
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.fixture
def other_namespace(cluster: devcluster_fixtures.Devcluster, namespace: str) -> str:
    name = f"{namespace}-other"
    cluster.kubectl("create", "namespace", name)
    return name


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    dependency: dict[str, Any]
    """Keyword arguments of ``_widget`` for the dependency ``dep`` (None: not created)."""
    reference: dict[str, Any]
    """The dependsOn entry (name ``dep`` unless given)."""
    revision: str | None = None
    settings: dict[str, Any] = dataclasses.field(default_factory=dict)
    elsewhere: bool = False
    """Create the dependency in the other namespace (outside the checker's cache)."""
    error: type[results.ReconcileError] | None = None
    reason: str = ""
    message: str = ""


CASES = [
    Case("ready", {"status": _ready_status()}, {}),
    Case(
        "missing",
        {},
        {"name": "absent"},
        error=dependencies.DependencyNotReadyError,
        reason=meta.DEPENDENCY_NOT_READY_REASON,
        message="dependency '{ns}/absent' not found",
    ),
    Case(
        "not ready",
        {"status": _ready_status("False")},
        {},
        error=dependencies.DependencyNotReadyError,
        message="dependency '{ns}/dep' is not ready",
    ),
    Case(
        "ready for an old generation",
        {"status": _ready_status(observed=0)},
        {},
        error=dependencies.DependencyNotReadyError,
        message="dependency '{ns}/dep' is not ready",
    ),
    Case(
        "readyExpr true although not Ready",
        {"status": _ready_status("False")},
        {"readyExpr": "dep.spec.message == self.spec.message"},
    ),
    Case(
        "readyExpr false although Ready",
        {"status": _ready_status()},
        {"readyExpr": "dep.metadata.name == 'other'"},
        error=dependencies.DependencyNotReadyError,
        message="dependency '{ns}/dep' is not ready according to readyExpr",
    ),
    Case(
        "readyExpr that does not parse stalls",
        {"status": _ready_status()},
        {"readyExpr": "dep.metadata.name =="},
        error=results.StallingError,
        reason=meta.INVALID_CEL_EXPRESSION_REASON,
    ),
    Case(
        "readyExpr true: the revision rule is replaced too",
        {"status": _ready_status(), "revision": "main@sha1:0"},
        {"readyExpr": "dep.metadata.name == 'dep'"},
        revision="main@sha1:1",
    ),
    Case(
        "additive: readyExpr true but not Ready",
        {"status": _ready_status("False")},
        {"readyExpr": "dep.spec.message == self.spec.message"},
        settings={"additive_cel": True},
        error=dependencies.DependencyNotReadyError,
        message="dependency '{ns}/dep' is not ready",
    ),
    Case(
        "additive: readyExpr true and Ready, but an older applied revision",
        {"status": _ready_status(), "revision": "main@sha1:0"},
        {"readyExpr": "dep.metadata.name == 'dep'"},
        revision="main@sha1:1",
        settings={"additive_cel": True},
        error=dependencies.DependencyNotReadyError,
        message="dependency '{ns}/dep' revision is not up to date",
    ),
    Case(
        "additive: readyExpr false fails first",
        {"status": _ready_status()},
        {"readyExpr": "dep.metadata.name == 'other'"},
        settings={"additive_cel": True},
        error=dependencies.DependencyNotReadyError,
        message="dependency '{ns}/dep' is not ready according to readyExpr",
    ),
    Case(
        "additive: readyExpr true and Ready for this revision",
        {"status": _ready_status(), "revision": "main@sha1:1"},
        {"readyExpr": "dep.metadata.name == 'dep'"},
        revision="main@sha1:1",
        settings={"additive_cel": True},
    ),
    Case(
        "same source, same applied revision",
        {"status": _ready_status(), "revision": "main@sha1:1"},
        {},
        revision="main@sha1:1",
    ),
    Case(
        "same source, older applied revision",
        {"status": _ready_status(), "revision": "main@sha1:0"},
        {},
        revision="main@sha1:1",
        error=dependencies.DependencyNotReadyError,
        message="dependency '{ns}/dep' revision is not up to date",
    ),
    Case(
        "other source: its revision does not matter",
        {"status": _ready_status(), "revision": "x@sha1:0", "source": "other"},
        {},
        revision="main@sha1:1",
    ),
    Case(
        "outside the watched namespace: read from the API server",
        {"status": _ready_status()},
        {"namespace": "{other}"},
        elsewhere=True,
    ),
    Case(
        "outside the watched namespace and not ready",
        {"status": _ready_status("False")},
        {"namespace": "{other}"},
        elsewhere=True,
        error=dependencies.DependencyNotReadyError,
        message="dependency '{other}/dep' is not ready",
    ),
    Case(
        "--no-cross-namespace-refs refuses another namespace",
        {"status": _ready_status()},
        {"namespace": "{other}"},
        elsewhere=True,
        settings={"no_cross_namespace_refs": True},
        error=results.StallingError,
        reason=meta.ACCESS_DENIED_REASON,
        message="cannot access Widget/{other}/dep: cross-namespace references are not allowed",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_dependency_check(
    api: client.Client, namespace: str, other_namespace: str, case: Case
) -> None:
    where = other_namespace if case.elsewhere else namespace
    if case.reference.get("name", "dep") == "dep":
        await _widget(api, where, "dep", **case.dependency)
    me = await _widget(api, namespace, "me")
    reference = meta.DependencyReference.model_validate(
        {"name": "dep"}
        | {k: v.format(ns=namespace, other=other_namespace) for k, v in case.reference.items()}
    )
    async with _checker(api, namespace, **case.settings) as checker:
        if case.error is None:
            await checker.check(me, [reference], revision=case.revision)
            return
        with pytest.raises(case.error) as raised:
            await checker.check(me, [reference], revision=case.revision)
    if case.reason:
        assert raised.value.reason == case.reason
    if case.message:
        assert raised.value.message == case.message.format(ns=namespace, other=other_namespace)
    if isinstance(raised.value, dependencies.DependencyNotReadyError):
        assert raised.value.requeue_after == 7
