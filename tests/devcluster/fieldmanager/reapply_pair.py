"""Two in-process clusters fed the same writes, for ``test_reapply``.

One runs as the server does (``reapply``'s fast path on), one with
``fast_reapply=False`` (every apply through the full algorithm, no cached
decoding); both have a clock that ticks a second per write, so managedFields
times must match exactly. ``Pair.both`` asserts that the answers (object or
error) and the stored objects are the same JSON text (key order and number
types included), up to the uid and creationTimestamp a create draws.
``run_sequence`` drives one random sequence of writes: leaf changes (the fast
path's case) mixed with everything that must leave it — added/removed
fields, list items added/removed/reordered, list keys and set items changed,
nulls and type changes, other managers' applies (forced or not) and updates,
``/status`` applies, the ``kubectl`` manager, dry runs — on Deployments,
ConfigMaps, Services and a custom resource with atomic, set and map lists.
"""

from __future__ import annotations

import copy
import datetime
import json
import random
from collections.abc import Callable, Iterator
from typing import Any

from devcluster.machinery import errors
from devcluster.registry import cluster as cluster_mod
from devcluster.schemas import resources
from devcluster.storage import storage
from devcluster.structuredmerge import typeinfo
from tests.fixtures import crdbodies

Obj = dict[str, Any]
NAMESPACE = "ns"
NAME = "obj"
EPOCH = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)

STRING = {"type": "string"}
CRD: Obj = crdbodies.crd(
    group="diff.example.com",
    plural="widgets",
    kind="Widget",
    status_subresource=True,
    spec={
        "type": "object",
        "properties": {
            "count": {"type": "integer"},
            "mode": {"type": "string", "enum": ["a", "b", "c"]},
            "items": crdbodies.array(STRING),
            "tags": crdbodies.array(STRING, list_type="set"),
            "rules": crdbodies.array(
                {
                    "type": "object",
                    "required": ["name"],
                    "properties": {
                        "name": STRING,
                        "v": {"type": "integer"},
                        "note": STRING,
                    },
                },
                list_type="map",
                map_keys=["name"],
            ),
            "ref": {
                "type": "object",
                "x-kubernetes-map-type": "atomic",
                "additionalProperties": STRING,
            },
            "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            "nested": {
                "type": "object",
                "properties": {
                    "a": STRING,
                    "b": {"type": "object", "properties": {"c": {"type": "integer"}}},
                },
            },
        },
    },
    status={
        "type": "object",
        "properties": {"phase": STRING, "observed": {"type": "integer"}},
    },
)

CONFIGS: dict[str, Obj] = {
    "deployments": {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": NAME,
            "labels": {"app": "web", "tier": "front"},
            "annotations": {"iteration": "0", "owner": "team-a"},
        },
        "spec": {
            "replicas": 2,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
            },
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": "ghcr.io/example/app:1.2.3",
                            "args": ["--listen=:8080", "--log-level=info"],
                            "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                            "env": [
                                {"name": "MODE", "value": "production"},
                                {"name": "REGION", "value": "eu-west-1"},
                            ],
                            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                            "readinessProbe": {
                                "httpGet": {"path": "/healthz", "port": "http"},
                                "periodSeconds": 5,
                            },
                        },
                        {"name": "sidecar", "image": "ghcr.io/example/sidecar:0.9"},
                    ]
                },
            },
        },
    },
    "configmaps": {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": NAME, "labels": {"app": "web"}, "annotations": {"n": "1"}},
        "data": {"a": "1", "b": "2", "c": "3"},
    },
    "services": {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": NAME, "annotations": {"n": "1"}},
        "spec": {
            "selector": {"app": "web"},
            "ports": [
                {"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"},
                {"name": "https", "port": 443, "protocol": "TCP"},
            ],
            "sessionAffinity": "None",
        },
    },
    "widgets": {
        "apiVersion": "diff.example.com/v1",
        "kind": "Widget",
        "metadata": {"name": NAME, "annotations": {"n": "1"}},
        "spec": {
            "count": 1,
            "mode": "a",
            "items": ["x", "y"],
            "tags": ["t1", "t2"],
            "rules": [{"name": "r1", "v": 1, "note": "first"}, {"name": "r2", "v": 2}],
            "ref": {"k": "v"},
            "extra": {"free": {"form": 1}, "list": [1, 2]},
            "nested": {"a": "x", "b": {"c": 1}},
        },
    },
}
STATUS: dict[str, Obj] = {
    "deployments": {"replicas": 2, "readyReplicas": 1, "observedGeneration": 1},
    "widgets": {"phase": "Ready", "observed": 1},
}
GROUPS = {
    "deployments": ("apps", "v1"),
    "configmaps": ("", "v1"),
    "services": ("", "v1"),
    "widgets": ("diff.example.com", "v1"),
}
# Values GitOps changes most (image tags, replica counts, data): a "value" step changes one.
_CONTAINER = ("spec", "template", "spec", "containers", 0)
VALUES: dict[str, list[tuple[Any, ...]]] = {
    "deployments": [
        ("metadata", "annotations", "iteration"),
        ("spec", "replicas"),
        (*_CONTAINER, "image"),
        (*_CONTAINER, "env", 1, "value"),
        (*_CONTAINER, "args", 0),
        (*_CONTAINER, "resources", "requests", "cpu"),
        ("spec", "template", "spec", "containers", 1, "image"),
    ],
    "configmaps": [("metadata", "annotations", "n"), ("data", "a"), ("data", "c")],
    "services": [("metadata", "annotations", "n"), ("spec", "ports", 0, "targetPort")],
    "widgets": [
        ("metadata", "annotations", "n"),
        ("spec", "count"),
        ("spec", "items", 1),
        ("spec", "ref", "k"),
        ("spec", "rules", 0, "note"),
        ("spec", "extra", "free", "form"),
        ("spec", "nested", "b", "c"),
    ],
}
# Paths a random leaf change leaves alone (identity: every change there is a 400).
_FIXED = {("apiVersion",), ("kind",), ("metadata", "name")}


def _clock() -> Callable[[], datetime.datetime]:
    ticks = iter(range(1, 1_000_000))
    return lambda: EPOCH + datetime.timedelta(seconds=next(ticks))


class Pair:
    """The same writes to a fast-path cluster and a full-algorithm one, compared."""

    def __init__(self, catalog: typeinfo.Catalog, plural: str) -> None:
        self.fast = self._cluster(catalog, fast=True)
        self.full = self._cluster(catalog, fast=False)
        self.plural = plural
        group, version = GROUPS[plural]
        self.res = [self._resource(c, group, version, plural) for c in (self.fast, self.full)]

    @staticmethod
    def _cluster(catalog: typeinfo.Catalog, *, fast: bool) -> cluster_mod.Cluster:
        cluster = cluster_mod.Cluster(
            store=storage.MemoryStorage(), catalog=catalog, clock=_clock(), fast_reapply=fast
        )
        opts = cluster_mod.WriteOptions(manager="setup")
        namespaces = cluster.registry.lookup("", "v1", "namespaces")
        definitions = cluster.registry.lookup(
            "apiextensions.k8s.io", "v1", "customresourcedefinitions"
        )
        assert namespaces is not None
        assert definitions is not None
        cluster.create(namespaces, "", {"metadata": {"name": NAMESPACE}}, opts)
        cluster.create(definitions, "", copy.deepcopy(CRD), opts)
        return cluster

    @staticmethod
    def _resource(
        cluster: cluster_mod.Cluster, group: str, version: str, plural: str
    ) -> resources.Resource:
        found = cluster.registry.lookup(group, version, plural)
        assert found is not None
        return found

    def both(self, write: Callable[[cluster_mod.Cluster, resources.Resource], Any]) -> Any:
        """Run ``write`` on both clusters; assert equal answers and stored objects."""
        answers: list[tuple[Any, ...]] = []
        for cluster, res in zip((self.fast, self.full), self.res, strict=True):
            try:
                answers.append(("ok", _text(write(cluster, res))))
            except errors.ApiError as error:
                answers.append(("error", error.code, error.message, json.dumps(error.details)))
        assert answers[0] == answers[1]
        stored = [_text(c.store.get((r.key, NAMESPACE, NAME))) for c, r in self.pairs()]
        assert stored[0] == stored[1]
        return answers[0]

    def pairs(self) -> Iterator[tuple[cluster_mod.Cluster, resources.Resource]]:
        yield self.fast, self.res[0]
        yield self.full, self.res[1]

    def apply(
        self,
        config: Obj,
        *,
        manager: str = "a",
        force: bool = False,
        subresource: str = "",
        dry_run: bool = False,
    ) -> Any:
        def write(cluster: cluster_mod.Cluster, res: resources.Resource) -> Any:
            opts = cluster_mod.WriteOptions(manager=manager, force=force, dry_run=dry_run)
            body = copy.deepcopy(config)
            return cluster.apply(res, NAMESPACE, NAME, body, opts, subresource=subresource)[0]

        return self.both(write)

    def update(self, change: Callable[[Obj], None], *, manager: str = "u") -> Any:
        def write(cluster: cluster_mod.Cluster, res: resources.Resource) -> Any:
            current = copy.deepcopy(cluster.get(res, NAMESPACE, NAME))
            change(current)
            opts = cluster_mod.WriteOptions(manager=manager)
            return cluster.replace(res, NAMESPACE, NAME, current, opts)

        return self.both(write)

    def paths(self) -> dict[str, int]:
        return {k: v for k, v in self.fast.apply_paths.items() if k != "round_trip_checks"}


def _text(value: Any) -> str:
    """JSON text (order kept) with the uid and creationTimestamp a create draws blanked."""
    if isinstance(value, dict) and isinstance(value.get("metadata"), dict):
        meta = dict(value["metadata"])
        for volatile in ("uid", "creationTimestamp"):
            if volatile in meta:
                meta[volatile] = volatile
        value = {**value, "metadata": meta}
    return json.dumps(value)


# --- random configurations ----------------------------------------------------


def _scalars(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _scalars(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _scalars(item, (*path, index))
    elif path not in _FIXED:
        yield path


def _containers(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    if isinstance(value, dict | list):
        yield path, value
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            yield from _containers(item, (*path, key))


def _set(config: Obj, path: tuple[Any, ...], value: Any) -> None:
    target: Any = config
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value


def _get(config: Obj, path: tuple[Any, ...]) -> Any:
    target: Any = config
    for step in path:
        target = target[step]
    return target


def _new_value(old: Any, rng: random.Random, *, types: bool) -> Any:
    if types and rng.random() < 0.15:
        return rng.choice([1, 1.0, True, "1", 0, False])
    if isinstance(old, bool):
        return not old
    if isinstance(old, int | float):
        return old + rng.choice([1, 2, 3])
    return f"{old}-{rng.randrange(100)}"


def leaf_change(config: Obj, rng: random.Random, *, count: int = 1, types: bool = True) -> Obj:
    config = copy.deepcopy(config)
    paths = list(_scalars(config))
    for path in rng.sample(paths, min(count, len(paths))):
        _set(config, path, _new_value(_get(config, path), rng, types=types))
    return config


def value_change(config: Obj, rng: random.Random, plural: str) -> Obj:
    config = copy.deepcopy(config)
    path = rng.choice(VALUES[plural])
    try:
        old = _get(config, path)
    except (KeyError, IndexError, TypeError):
        return leaf_change(config, rng, types=False)
    if isinstance(old, dict | list) or old is None:
        return leaf_change(config, rng, types=False)
    _set(config, path, _new_value(old, rng, types=False))
    return config


def shape_change(config: Obj, rng: random.Random, base: Obj) -> Obj:
    config = copy.deepcopy(config)
    containers = [(p, c) for p, c in _containers(config) if p and p != ("metadata",)]
    path, container = rng.choice(containers)
    action = rng.choice(["drop", "add", "reorder", "null", "duplicate", "empty", "base"])
    if action == "base":
        return copy.deepcopy(base)
    if isinstance(container, dict):
        keys = [k for k in container if (*path, k) not in _FIXED]
        if action == "drop" and keys:
            del container[rng.choice(keys)]
        elif action == "null" and keys:
            container[rng.choice(keys)] = None
        elif action == "empty":
            _set(config, path, {})
        elif action == "reorder":
            _set(config, path, dict(reversed(list(container.items()))))
        else:
            container[f"k{rng.randrange(5)}"] = f"v{rng.randrange(5)}"
    else:
        if action == "drop" and container:
            container.pop(rng.randrange(len(container)))
        elif action == "reorder":
            container.reverse()
        elif action == "empty":
            container.clear()
        elif container:
            item = copy.deepcopy(rng.choice(container))
            if isinstance(item, dict) and "name" in item:
                item["name"] = f"{item['name']}-{rng.randrange(3)}"
            elif isinstance(item, str):
                item = f"{item}-{rng.randrange(3)}"
            container.append(item)
    return config


def partial(config: Obj, rng: random.Random) -> Obj:
    """A second manager's configuration: identity plus a few of ``config``'s leaves."""
    out: Obj = {
        "apiVersion": config["apiVersion"],
        "kind": config["kind"],
        "metadata": {"name": NAME},
    }
    scalars = list(_scalars(config))
    for path in rng.sample(scalars, min(2, len(scalars))):
        if all(isinstance(step, str) for step in path):
            value = _get(config, path)
            _set_deep(
                out, path, value if rng.random() < 0.5 else _new_value(value, rng, types=False)
            )
    return out


def _set_deep(config: Obj, path: tuple[Any, ...], value: Any) -> None:
    target = config
    for step in path[:-1]:
        target = target.setdefault(step, {})
        if not isinstance(target, dict):
            return
    target[path[-1]] = value


def _random_update(rng: random.Random) -> Callable[[Obj], None]:
    seed = rng.random()

    def change(obj: Obj) -> None:
        rng = random.Random(seed)  # the same change on both clusters
        meta = obj["metadata"]
        if rng.random() < 0.5:
            meta["annotations"] = {**(meta.get("annotations") or {}), "n": str(rng.randrange(3))}
        else:
            paths = [p for p in _scalars(obj) if p[0] not in ("metadata", "status")]
            if paths:
                path = rng.choice(paths)
                _set(obj, path, _new_value(_get(obj, path), rng, types=False))

    return change


def _status(plural: str, rng: random.Random) -> Obj:
    config = CONFIGS[plural]
    status = leaf_change(STATUS[plural], rng, types=False) if rng.random() < 0.7 else STATUS[plural]
    return {
        "apiVersion": config["apiVersion"],
        "kind": config["kind"],
        "metadata": {"name": NAME},
        "status": status,
    }


def kubectl_config(config: Obj) -> Obj:
    config = copy.deepcopy(config)
    annotations = config["metadata"].setdefault("annotations", {})
    annotations["kubectl.kubernetes.io/last-applied-configuration"] = json.dumps(config) + "\n"
    return config


def run_sequence(catalog: typeinfo.Catalog, plural: str, seed: int) -> int:
    """One random sequence of 30 writes on both clusters; the fast applies it saw."""
    rng = random.Random(f"{plural}-{seed}")
    pair = Pair(catalog, plural)
    base = CONFIGS[plural]
    config = copy.deepcopy(base)
    pair.apply(config)
    steps = ["value"] * 6 + ["leaf"] * 4 + ["leaves", "shape", "shape", "same", "other"]
    steps += ["update", "dry"]
    steps += ["force", "kubectl"] + (["status", "status"] if plural in STATUS else [])
    good = config
    for _ in range(30):
        step = rng.choice(steps)
        if step in ("value", "leaf", "leaves", "shape", "same", "force"):
            if step == "value":
                config = value_change(config, rng, plural)
            elif step == "leaf":
                config = leaf_change(config, rng)
            elif step == "leaves":
                config = leaf_change(config, rng, count=3)
            elif step == "shape":
                config = shape_change(config, rng, base)
            elif step == "force":
                config = leaf_change(config, rng, types=False)
            answer = pair.apply(config, force=step == "force")
            # A rejected configuration is fixed before the next change (as its author would).
            good = config = config if answer[0] == "ok" else good
        elif step == "other":
            pair.apply(partial(config, rng), manager="b", force=rng.random() < 0.5)
        elif step == "update":
            pair.update(_random_update(rng))
        elif step == "dry":
            pair.apply(leaf_change(config, rng), dry_run=True)
        elif step == "kubectl":
            pair.apply(kubectl_config(leaf_change(config, rng, types=False)), manager="kubectl")
        else:
            pair.apply(_status(plural, rng), manager=rng.choice(["a", "s"]), subresource="status")
    assert pair.full.apply_paths["fast"] == 0
    return pair.fast.apply_paths["fast"]
