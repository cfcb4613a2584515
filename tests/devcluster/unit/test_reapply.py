"""The fast path of server-side apply (``reapply``) against the full algorithm.

Two in-process clusters receive the same writes: one as the server runs
(fast path on), one with ``fast_reapply=False`` (every apply through
``fieldmanager.apply_tracked``, no cached decoding). Both have a clock that
ticks a second per write, so managedFields times must match exactly. After
every write the answers (object or error) and the stored objects must be the
same JSON text (key order and number types included), up to the uid and
creationTimestamp a create draws. Random sequences mix leaf changes (the
fast path's case) with everything that must leave it: added/removed fields,
list items added/removed/reordered, list keys and set items changed, nulls
and type changes, other managers' applies (forced or not) and updates,
``/status`` applies, the ``kubectl`` manager, dry runs — on Deployments,
ConfigMaps, Services and a custom resource with atomic, set and map lists.
The ``apply_paths`` counters show which path each apply took.
"""

from __future__ import annotations

import copy
import datetime
import json
import random
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from headwater.devcluster import cluster as cluster_mod
from headwater.devcluster import errors, reapply, resources, storage, typeinfo

Obj = dict[str, Any]
NAMESPACE = "ns"
NAME = "obj"
EPOCH = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)

CRD: Obj = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.diff.example.com"},
    "spec": {
        "group": "diff.example.com",
        "scope": "Namespaced",
        "names": {"plural": "widgets", "kind": "Widget"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "properties": {
                                    "count": {"type": "integer"},
                                    "mode": {"type": "string", "enum": ["a", "b", "c"]},
                                    "items": {"type": "array", "items": {"type": "string"}},
                                    "tags": {
                                        "type": "array",
                                        "x-kubernetes-list-type": "set",
                                        "items": {"type": "string"},
                                    },
                                    "rules": {
                                        "type": "array",
                                        "x-kubernetes-list-type": "map",
                                        "x-kubernetes-list-map-keys": ["name"],
                                        "items": {
                                            "type": "object",
                                            "required": ["name"],
                                            "properties": {
                                                "name": {"type": "string"},
                                                "v": {"type": "integer"},
                                                "note": {"type": "string"},
                                            },
                                        },
                                    },
                                    "ref": {
                                        "type": "object",
                                        "x-kubernetes-map-type": "atomic",
                                        "additionalProperties": {"type": "string"},
                                    },
                                    "extra": {
                                        "type": "object",
                                        "x-kubernetes-preserve-unknown-fields": True,
                                    },
                                    "nested": {
                                        "type": "object",
                                        "properties": {
                                            "a": {"type": "string"},
                                            "b": {
                                                "type": "object",
                                                "properties": {"c": {"type": "integer"}},
                                            },
                                        },
                                    },
                                },
                            },
                            "status": {
                                "type": "object",
                                "properties": {
                                    "phase": {"type": "string"},
                                    "observed": {"type": "integer"},
                                },
                            },
                        },
                    }
                },
            }
        ],
    },
}

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


@pytest.fixture(scope="module")
def catalog() -> typeinfo.Catalog:
    return typeinfo.load_builtin()


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
            except TypeError as error:
                # NB: lastapplied.rewrite fails on a null annotation value (both paths alike).
                answers.append(("crash", str(error)))
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


def _kubectl(config: Obj) -> Obj:
    config = copy.deepcopy(config)
    annotations = config["metadata"].setdefault("annotations", {})
    annotations["kubectl.kubernetes.io/last-applied-configuration"] = json.dumps(config) + "\n"
    return config


SEEDS = 12


@pytest.mark.parametrize("plural", list(CONFIGS))
def test_random_sequences_match_the_full_algorithm(catalog: typeinfo.Catalog, plural: str) -> None:
    fast = 0
    for seed in range(SEEDS):
        try:
            fast += run_sequence(catalog, plural, seed)
        except AssertionError as error:
            raise AssertionError(f"{plural} seed {seed}: {error}") from error
    # The comparison covered the fast path (about a third of the applies take it).
    assert fast >= 3 * SEEDS


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
            pair.apply(_kubectl(leaf_change(config, rng, types=False)), manager="kubectl")
        else:
            pair.apply(_status(plural, rng), manager=rng.choice(["a", "s"]), subresource="status")
    assert pair.full.apply_paths["fast"] == 0
    return pair.fast.apply_paths["fast"]


def test_random_sequences_take_the_fast_path(catalog: typeinfo.Catalog) -> None:
    """Leaf changes that nothing else touches: every apply after the first is fast."""
    for plural in CONFIGS:
        rng = random.Random(plural)
        pair = Pair(catalog, plural)
        config = copy.deepcopy(CONFIGS[plural])
        pair.apply(config)
        for _ in range(20):
            # Values only where the manager is the sole owner and the value is not a list key
            # or set item: annotations, and (changed through the same path) a spec scalar.
            config = copy.deepcopy(config)
            config["metadata"]["annotations"]["n" if plural != "deployments" else "iteration"] = (
                str(rng.randrange(10**6))
            )
            pair.apply(config)
        assert pair.paths() == {"full": 1, "fast": 20}, plural


def _deployment() -> Obj:
    return copy.deepcopy(CONFIGS["deployments"])


def _pair(catalog: typeinfo.Catalog, plural: str = "deployments") -> Pair:
    pair = Pair(catalog, plural)
    pair.apply(CONFIGS[plural])
    return pair


def _image(config: Obj, image: str) -> Obj:
    config = copy.deepcopy(config)
    config["spec"]["template"]["spec"]["containers"][0]["image"] = image
    return config


def test_leaf_changes_in_spec_take_the_fast_path(catalog: typeinfo.Catalog) -> None:
    pair = _pair(catalog)
    config = _image(_deployment(), "ghcr.io/example/app:1.2.4")
    pair.apply(config)
    config["spec"]["replicas"] = 3
    config["spec"]["template"]["spec"]["containers"][0]["env"][1]["value"] = "us-east-1"
    config["spec"]["template"]["spec"]["containers"][0]["args"][1] = "--log-level=debug"
    pair.apply(config)
    config["metadata"]["labels"]["tier"] = "back"
    config["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["periodSeconds"] = 7
    pair.apply(config)
    assert pair.paths() == {"full": 1, "fast": 3}
    pair.apply(config)
    assert pair.paths() == {"full": 1, "fast": 3, "memo": 1}


def _containers_of(config: Obj) -> list[Obj]:
    containers: list[Obj] = config["spec"]["template"]["spec"]["containers"]
    return containers


@pytest.mark.parametrize(
    ("change", "why", "declined"),
    [
        (lambda c: _containers_of(c)[0].update(name="web"), "a list key", 1),
        (lambda c: _containers_of(c)[1].update(name="proxy"), "another list key", 1),
        (lambda c: c["metadata"].update(name="other"), "the name", 0),
        (lambda c: _containers_of(c).pop(), "an item removed", 0),
        (lambda c: _containers_of(c).reverse(), "items of other shapes reordered", 0),
        (lambda c: _containers_of(c)[0]["env"].reverse(), "items reordered", 1),
        (lambda c: c["metadata"]["annotations"].update(extra="1"), "a field added", 0),
        (lambda c: c["spec"].pop("revisionHistoryLimit"), "a field removed", 0),
        (lambda c: c["spec"].update(replicas=None), "a null", 0),
    ],
)
def test_other_changes_take_the_full_path(
    catalog: typeinfo.Catalog, change: Callable[[Obj], Any], why: str, declined: int
) -> None:
    pair = _pair(catalog)
    config = _deployment()
    change(config)
    pair.apply(config)
    paths = pair.paths()
    assert paths.get("fast", 0) == 0, why
    assert paths.get("declined", 0) == declined, why


@pytest.mark.parametrize(
    ("change", "code"),
    [
        (lambda c: c["spec"]["selector"]["matchLabels"].update(app="x"), 422),  # immutable
        (lambda c: c["spec"].update(replicas="3"), 400),  # a wrong type
        (lambda c: _containers_of(c)[0]["ports"][0].update(containerPort="x"), 400),
        (lambda c: c["metadata"]["annotations"].update(owner="x" * 300_000), 422),  # too long
    ],
)
def test_invalid_leaf_changes_fail_as_in_the_full_path(
    catalog: typeinfo.Catalog, change: Callable[[Obj], Any], code: int
) -> None:
    pair = _pair(catalog)
    config = _deployment()
    change(config)
    answer = pair.apply(config)
    assert answer[:2] == ("error", code)


def test_defaults_that_follow_a_changed_value_are_left_to_the_full_path(
    catalog: typeinfo.Catalog,
) -> None:
    config = _deployment()
    config["spec"]["strategy"] = {"type": "Recreate"}
    pair = Pair(catalog, "deployments")
    pair.apply(config)
    config = copy.deepcopy(config)
    config["spec"]["strategy"]["type"] = "RollingUpdate"  # the defaulter adds rollingUpdate
    answer = pair.apply(config)
    assert '"rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}' in answer[1]
    assert pair.paths() == {"full": 2, "declined": 1}


def test_changes_after_another_write_take_the_full_path(catalog: typeinfo.Catalog) -> None:
    pair = _pair(catalog)
    pair.update(lambda obj: obj["metadata"]["annotations"].update(extra="u"))
    pair.apply(_image(_deployment(), "x:2"))
    assert pair.paths() == {"full": 2}
    pair.apply(_image(_deployment(), "x:3"))
    assert pair.paths() == {"full": 2, "fast": 1}


def test_a_shared_value_is_left_to_the_full_path(catalog: typeinfo.Catalog) -> None:
    pair = _pair(catalog)
    other = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": NAME}}
    other["spec"] = {"replicas": 2}
    pair.apply(other, manager="b")  # shared ownership of the same value
    config = _image(_deployment(), "x:2")
    pair.apply(config)  # the object changed since a's last apply: full
    config = _image(config, "x:3")
    pair.apply(config)
    assert pair.paths() == {"full": 3, "fast": 1}
    config["spec"]["replicas"] = 5
    answer = pair.apply(config)
    assert answer[:2] == ("error", 409)
    assert pair.paths() == {"full": 3, "fast": 1, "declined": 1}
    forced = pair.apply(config, force=True)  # another memo key: full, then b has lost it
    assert forced[0] == "ok"
    assert '"manager": "b"' not in forced[1]
    pair.apply(_image(config, "x:4"), force=True)
    assert pair.paths() == {"full": 4, "fast": 2, "declined": 1}


def test_kubectl_and_status(catalog: typeinfo.Catalog) -> None:
    pair = _pair(catalog)
    config = _kubectl(_deployment())
    pair.apply(config, manager="kubectl")
    pair.apply(_kubectl(_image(_deployment(), "x:2")), manager="kubectl")
    assert pair.paths() == {"full": 3, "declined": 1}
    status = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": NAME}}
    status["status"] = {"replicas": 2, "readyReplicas": 1}
    pair.apply(status, subresource="status")
    status["status"] = {"replicas": 2, "readyReplicas": 2}
    pair.apply(status, subresource="status")
    assert pair.paths() == {"full": 4, "fast": 1, "declined": 1}


def test_a_configuration_that_does_not_round_trip(catalog: typeinfo.Catalog) -> None:
    """A null the decoder drops: the merge never gives live back, so no fast path,
    and the check of that is retried only now and then."""
    pair = Pair(catalog, "deployments")
    config = _deployment()
    config["spec"]["minReadySeconds"] = None
    for value in range(40):
        config = copy.deepcopy(config)
        config["metadata"]["annotations"]["iteration"] = str(value)
        pair.apply(config)
    assert pair.paths() == {"full": 40, "declined": 39}
    assert pair.fast.apply_paths["round_trip_checks"] == 3  # the 1st, 17th and 33rd


def test_dry_run_takes_the_fast_path_and_stores_nothing(catalog: typeinfo.Catalog) -> None:
    pair = _pair(catalog)
    before = pair.fast.store.get((pair.res[0].key, NAMESPACE, NAME))
    answer = pair.apply(_image(_deployment(), "x:2"), dry_run=True)
    assert '"x:2"' in answer[1]
    assert pair.fast.store.get((pair.res[0].key, NAMESPACE, NAME)) is before
    assert pair.paths() == {"full": 1, "fast": 1}


def test_leaf_changes_finds_scalars_and_refuses_other_shapes() -> None:
    before = {"a": {"b": [1, "x", None]}, "c": True}
    assert reapply.leaf_changes(before, copy.deepcopy(before)) == []
    assert reapply.leaf_changes(before, {"a": {"b": [1.0, "y", None]}, "c": 1}) == [
        ("a", "b", 0),
        ("a", "b", 1),
        ("c",),
    ]
    for after in (
        {"c": True, "a": {"b": [1, "x", None]}},  # keys moved
        {"a": {"b": [1, "x"]}, "c": True},  # shorter list
        {"a": {"b": [1, "x", 0]}, "c": True},  # null gone
        {"a": {"b": [1, "x", None]}, "c": {}},  # a container for a scalar
        {"a": {"b": [1, "x", None]}},  # key dropped
    ):
        assert reapply.leaf_changes(before, after) is None, after
    # Equal (==) subtrees are still told apart by JSON type and key order.
    nested = {"s": {"t": {"u": [1, 0, 1.5, -0.0], "v": {"x": 1, "y": 2}}}}
    assert reapply.leaf_changes(nested, {"s": {"t": {"u": [True, 0.0, 1.5, 0.0]}}}) is None
    same_shape = {"s": {"t": {"u": [True, 0.0, 1.5, 0.0], "v": {"x": 1.0, "y": 2}}}}
    assert reapply.leaf_changes(nested, same_shape) == [
        ("s", "t", "u", 0),
        ("s", "t", "u", 1),
        ("s", "t", "u", 3),
        ("s", "t", "v", "x"),
    ]
    assert (
        reapply.leaf_changes(nested, {"s": {"t": {"u": [1, 0, 1.5, -0.0], "v": {"y": 2, "x": 1}}}})
        is None
    )
    assert reapply.leaf_changes(nested, copy.deepcopy(nested)) == []


def test_key_order_of_an_atomic_map_follows_the_configuration(catalog: typeinfo.Catalog) -> None:
    """Reordering an atomic map's keys changes nothing (same value), but the next real
    change writes the configuration's order: the fast path must not keep live's."""
    pair = Pair(catalog, "widgets")
    config = copy.deepcopy(CONFIGS["widgets"])
    config["spec"]["ref"] = {"k": "v", "l": "w"}
    pair.apply(config)
    config = copy.deepcopy(config)
    config["spec"]["ref"] = {"l": "w", "k": "v"}
    pair.apply(config)  # no change: live keeps {"k", "l"}
    config = copy.deepcopy(config)
    config["spec"]["count"] = 2
    answer = pair.apply(config)
    assert '"ref": {"l": "w", "k": "v"}' in answer[1]
    assert pair.paths() == {"full": 3, "declined": 1}
