"""The fast path of server-side apply (``reapply``) against the full algorithm.

Random sequences of writes go to a ``reapply_pair.Pair`` (a fast-path cluster
and a full-algorithm one, compared after every write); targeted cases check
through the ``apply_paths`` counters which path each apply took — the fast one
for leaf changes nobody else owns, the full one for everything else.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from typing import Any

import pytest

from devcluster.fieldmanager import reapply
from devcluster.structuredmerge import typeinfo
from tests.devcluster.fieldmanager import reapply_pair
from tests.devcluster.fieldmanager.reapply_pair import CONFIGS, NAME, NAMESPACE, Obj, Pair


@pytest.fixture(scope="module")
def catalog() -> typeinfo.Catalog:
    return typeinfo.load_builtin()


SEEDS = 12


@pytest.mark.parametrize("plural", list(CONFIGS))
def test_random_sequences_match_the_full_algorithm(catalog: typeinfo.Catalog, plural: str) -> None:
    fast = 0
    for seed in range(SEEDS):
        try:
            fast += reapply_pair.run_sequence(catalog, plural, seed)
        except AssertionError as error:
            raise AssertionError(f"{plural} seed {seed}: {error}") from error
    # The comparison covered the fast path (about a third of the applies take it).
    assert fast >= 3 * SEEDS


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
    config = reapply_pair.kubectl_config(_deployment())
    pair.apply(config, manager="kubectl")
    pair.apply(reapply_pair.kubectl_config(_image(_deployment(), "x:2")), manager="kubectl")
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
