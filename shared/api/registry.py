"""Every Flux kind Headwater models, and lookup by apiVersion and kind.

Kinds are discovered, not listed: every module of ``shared.api`` is imported
and each ``ApiObject`` subclass that declares its own ``crd`` is a kind. A new
group module therefore needs no registration.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil

import shared.api
from shared.api import objects


@functools.cache
def all_kinds() -> tuple[type[objects.ApiObject], ...]:
    """Every top-level kind, ordered by module name, then definition order."""
    kinds: list[type[objects.ApiObject]] = []
    for info in sorted(pkgutil.iter_modules(shared.api.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"shared.api.{info.name}")
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, objects.ApiObject)
                and value.__module__ == module.__name__
                and "crd" in vars(value)
            ):
                kinds.append(value)
    return tuple(kinds)


def kind_for(api_version: str, kind: str) -> type[objects.ApiObject]:
    """The model of ``apiVersion``/``kind``; ``LookupError`` if Headwater has none."""
    for model in all_kinds():
        if model.crd.api_version == api_version and model.crd.kind == kind:
            return model
    raise LookupError(f"no Headwater model for {kind} in {api_version}")
