"""``dependsOn``: an object waits until the objects it depends on are ready.

A dependency is ready (Flux's ``checkDependencies``) when

- its ``readyExpr`` (CEL over ``dep`` and ``self``, the two objects as JSON)
  is true — which, as in Flux, replaces both rules below unless
  ``Settings.additive_cel`` (the ``AdditiveCELDependencyCheck`` gate) asks for
  all three;
- it is Ready=True for its current generation;
- and, when it applies from the same source as the dependent, it has applied
  the revision the dependent is about to apply — otherwise the dependent
  would run ahead of it on a new commit.

A dependency that is not ready raises ``DependencyNotReadyError`` (a wait,
re-checked after ``--requeue-dependency``); an invalid ``readyExpr`` stalls;
a cross-namespace dependency under ``--no-cross-namespace-refs`` stalls with
``AccessDenied``.

Dependencies are read from the informer cache, which holds only the watched
namespaces and shard; a cache miss is read from the API server, so that a
dependency outside the cache is checked for what it is instead of being
reported missing. Only a 404 from the API server means "not found".
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import celpy
import celpy.adapter
import celpy.celparser
import celpy.celtypes
import celpy.evaluation

from shared.api import meta, validation
from shared.kube import client, errors, resources
from shared.runtime import informers, results

SourceKey = tuple[str, str, str]
"""(kind, namespace, name) of the source an object applies from."""


class DependencyNotReadyError(results.WaitingError):
    """A dependency is missing or not ready yet."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Source:
    """How dependent and dependency relate through their source (kind-specific)."""

    key_of: Callable[[Mapping[str, Any]], SourceKey | None]
    """The source an object (as JSON) applies from."""
    applied_revision_of: Callable[[Mapping[str, Any]], str | None]
    """The revision an object (as JSON) last applied."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Settings:
    requeue_after: float = 30.0
    """``--requeue-dependency``: seconds until a not-ready dependency is checked again."""
    no_cross_namespace_refs: bool = False
    """``--no-cross-namespace-refs``: refuse dependencies in other namespaces."""
    additive_cel: bool = False
    """The ``AdditiveCELDependencyCheck`` gate: a ``readyExpr`` adds to the built-in rules."""


class Checker:
    """Checks the ``dependsOn`` of objects of one kind (see the module docstring)."""

    def __init__(
        self,
        *,
        api: client.Client,
        cache: informers.Informer,
        resource: resources.Resource,
        source: Source | None,
        settings: Settings,
    ) -> None:
        self._api = api
        self._cache = cache
        self._resource = resource
        self._source = source
        self._settings = settings

    async def check(
        self,
        obj: Mapping[str, Any],
        depends_on: Sequence[meta.DependencyReference],
        *,
        revision: str | None = None,
    ) -> None:
        """Raise unless every dependency of ``obj`` (as JSON) is ready.

        ``revision`` is the source revision ``obj`` is about to apply (for the
        same-source rule); None skips that rule.
        """
        namespace = obj["metadata"].get("namespace") or "default"
        kind = obj.get("kind", "")
        for dependency in depends_on:
            dep_namespace = dependency.namespace or namespace
            name = f"{dep_namespace}/{dependency.name}"
            if self._settings.no_cross_namespace_refs and dep_namespace != namespace:
                raise results.StallingError(
                    f"cannot access {kind}/{name}: cross-namespace references are not allowed",
                    reason=meta.ACCESS_DENIED_REASON,
                )
            dep = await self._read(dep_namespace, dependency.name)
            if dep is None:
                raise self._not_ready(f"dependency '{name}' not found")
            if dependency.ready_expr:
                if not ready_expr(dependency.ready_expr, dep=dep, self_=obj):
                    raise self._not_ready(
                        f"dependency '{name}' is not ready according to readyExpr"
                    )
                if not self._settings.additive_cel:
                    continue
            if not is_ready(dep):
                raise self._not_ready(f"dependency '{name}' is not ready")
            if revision is not None and self._source is not None:
                mine = self._source.key_of(obj)
                same_source = mine is not None and mine == self._source.key_of(dep)
                if same_source and self._source.applied_revision_of(dep) != revision:
                    raise self._not_ready(f"dependency '{name}' revision is not up to date")

    async def _read(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        cached = self._cache.get(f"{namespace}/{name}")
        if cached is not None:
            return cached
        # NB: the cache holds only the watched namespaces and shard; ask the
        # API server before saying that the dependency does not exist.
        try:
            found: Mapping[str, Any] = await self._api.request(
                "GET", self._resource.path(namespace=namespace, name=name), verb="get"
            )
        except errors.NotFoundError:
            return None
        return found

    def _not_ready(self, message: str) -> DependencyNotReadyError:
        return DependencyNotReadyError(
            message,
            reason=meta.DEPENDENCY_NOT_READY_REASON,
            requeue_after=self._settings.requeue_after,
        )


def is_ready(obj: Mapping[str, Any]) -> bool:
    """Ready=True for the object's current generation."""
    status = obj.get("status") or {}
    ready = any(
        c.get("type") == meta.READY and c.get("status") == "True"
        for c in status.get("conditions") or []
    )
    return ready and status.get("observedGeneration") == obj["metadata"].get("generation")


def ready_expr(expression: str, *, dep: Mapping[str, Any], self_: Mapping[str, Any]) -> bool:
    """Evaluate a ``readyExpr``: true only for a true boolean; an invalid one stalls."""
    try:
        value = validation.program(expression).evaluate(
            {
                "dep": celpy.adapter.json_to_cel(dict(dep)),
                "self": celpy.adapter.json_to_cel(dict(self_)),
            }
        )
    except (celpy.celparser.CELParseError, celpy.evaluation.CELEvalError) as invalid:
        raise results.StallingError(
            f"invalid readyExpr {expression!r}: {invalid}",
            reason=meta.INVALID_CEL_EXPRESSION_REASON,
        ) from invalid
    return isinstance(value, celpy.celtypes.BoolType) and bool(value)
