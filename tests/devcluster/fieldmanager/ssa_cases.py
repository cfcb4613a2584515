"""Server-side apply conformance cases (what kube-apiserver answers), as data.

Each ``Case`` is a list of ``Step``s against one object (``resource`` is the
plural of a built-in kind, ``NAME`` its name; bodies carry no namespace, so a
server runner uses its test namespace). Two runners drive the same table:
``tests/devcluster/fieldmanager/test_ssa_cases.py`` calls the pure functions
(``fieldmanager``, ``patches``) with a small in-memory store, and a server
runner can send the same steps as HTTP requests:

- ``apply`` → ``PATCH`` ``application/apply-patch+yaml`` with ``fieldManager``
  (omitted when ``manager`` is None), ``force``, ``dryRun=All``, ``subresource``;
- ``create`` → ``POST`` with ``fieldManager``;
- ``merge`` / ``json`` → ``PATCH`` merge-patch / json-patch with ``fieldManager``
  (and ``force`` when set, which must be rejected);
- ``put`` → ``PUT`` with ``fieldManager``.

``body`` is a value, or a callable taking the current stored object (or None)
and returning the body. ``Expect`` states what to check after the step:
``values`` are checked on the response object, everything about
managedFields and ``unchanged`` on the stored object (read back with GET).
Deployment cases need the API server's defaults (``replicas: 1``,
``imagePullPolicy``…); the pure runner supplies a small defaulter.
``server_only`` cases test checks the pure functions leave to the server.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

NAME = "ssa"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


class _Absent:
    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Any = _Absent()
"""In ``Expect.values``: the path must not exist."""

# A path into an object: str keys; a dict selects the list item with those fields.
ValuePath = tuple[str | Mapping[str, Any], ...]
Body = Any | Callable[[dict[str, Any] | None], Any]


@dataclasses.dataclass(frozen=True)
class Expect:
    """What a step must produce. Entry keys are ``manager:Operation[:subresource]``."""

    code: int = 200
    codes: tuple[int, ...] = ()  # any of these (when the exact code is not specified)
    message: str | None = None
    message_contains: str | None = None
    causes: tuple[tuple[str, str], ...] | None = None  # (message, field)
    no_causes: bool = False
    entries: tuple[str, ...] | None = None  # exact managedFields entries, in order
    entries_prefix: tuple[str, ...] = ()
    entry_count: int | None = None
    fields: Mapping[str, Any] = dataclasses.field(default_factory=dict)  # exact fieldsV1
    fields_subset: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    timed: Mapping[str, bool] = dataclasses.field(default_factory=dict)
    values: tuple[tuple[ValuePath, Any], ...] = ()
    stored_values: tuple[tuple[ValuePath, Any], ...] = ()
    unchanged: bool = False  # stored object identical to before the step (RV, times)
    rv_changed: bool | None = None


@dataclasses.dataclass(frozen=True)
class Step:
    action: str  # apply | create | merge | json | put
    manager: str | None
    body: Body
    expect: Expect = Expect()
    force: bool = False
    subresource: str = ""
    dry_run: bool = False


@dataclasses.dataclass(frozen=True)
class Case:
    id: str
    title: str
    resource: str  # "configmaps" or "deployments"
    steps: tuple[Step, ...]
    server_only: bool = False

    def known_managers(self) -> frozenset[str]:
        """Managers the case itself involves; others (a server's controllers writing
        status, e.g. a simulated kubelet) are ignored by the checks."""
        names = {"before-first-apply", "ancient-changes"}
        for step in self.steps:
            if step.manager:
                names.add(step.manager)
            expect = step.expect
            keys = [*(expect.entries or ()), *expect.entries_prefix, *expect.fields]
            keys += [*expect.fields_subset, *expect.timed]
            names.update(key.split(":", 1)[0] for key in keys)
        return frozenset(names)


def cm(
    data: Mapping[str, str] | None = None,
    *,
    labels: Mapping[str, str] | None = None,
    finalizers: list[str] | None = None,
    annotations: Mapping[str, str] | None = None,
    **meta: Any,
) -> dict[str, Any]:
    """A ConfigMap body."""
    metadata: dict[str, Any] = {"name": NAME, **meta}
    if labels is not None:
        metadata["labels"] = dict(labels)
    if finalizers is not None:
        metadata["finalizers"] = list(finalizers)
    if annotations is not None:
        metadata["annotations"] = dict(annotations)
    body: dict[str, Any] = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata}
    if data is not None:
        body["data"] = dict(data)
    return body


def container(name: str = "web", image: str = "nginx:1.27", **extra: Any) -> dict[str, Any]:
    return {"name": name, "image": image, **extra}


def deploy(
    *,
    replicas: Any = 2,
    containers: list[dict[str, Any]] | None = None,
    selector: Mapping[str, Any] | None = None,
    pod_spec: Mapping[str, Any] | None = None,
    api_version: str = "apps/v1",
    **top: Any,
) -> dict[str, Any]:
    """A Deployment body; ``replicas=ABSENT`` leaves the field out."""
    spec: dict[str, Any] = {
        "selector": dict(selector or {"matchLabels": {"app": "web"}}),
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": containers or [container()], **(pod_spec or {})},
        },
    }
    if replicas is not ABSENT:
        spec = {"replicas": replicas, **spec}
    return {
        "apiVersion": api_version,
        "kind": "Deployment",
        "metadata": {"name": NAME, "labels": {"app": "web"}},
        "spec": spec,
        **top,
    }


def deploy_fields(*, replicas: bool = True, web: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The fieldsV1 an applier of ``deploy()`` owns; ``web``: more fields of its web container.

    ``replicas=False`` for ``deploy(replicas=ABSENT)``. Keys are in the order the
    server writes them (the runner compares the JSON text).
    """
    spec: dict[str, Any] = {
        "f:selector": {},
        "f:template": {
            "f:metadata": {"f:labels": {"f:app": {}}},
            "f:spec": {
                "f:containers": {
                    'k:{"name":"web"}': {".": {}, "f:image": {}, "f:name": {}, **(web or {})},
                }
            },
        },
    }
    if replicas:
        spec = {"f:replicas": {}, **spec}
    return {"f:metadata": {"f:labels": {"f:app": {}}}, "f:spec": spec}


def _with_managed_fields_renamed(current: dict[str, Any] | None) -> dict[str, Any]:
    assert current is not None
    body = copy.deepcopy(current)
    for entry in body["metadata"]["managedFields"]:
        entry["manager"] = "z"
    return body


def _get(current: dict[str, Any] | None) -> dict[str, Any]:
    assert current is not None
    return copy.deepcopy(current)


EX1 = cm({"b": "2", "a": "1"}, labels={"app": "web"})
EX1_APPLY = {"f:data": {"f:a": {}, "f:b": {}}, "f:metadata": {"f:labels": {"f:app": {}}}}
EX2 = deploy(
    containers=[
        container(
            ports=[{"containerPort": 80, "name": "http"}, {"containerPort": 53, "protocol": "UDP"}]
        )
    ]
)
EX2_APPLY = deploy_fields(
    web={
        "f:ports": {
            'k:{"containerPort":53,"protocol":"UDP"}': {
                ".": {},
                "f:containerPort": {},
                "f:protocol": {},
            },
            'k:{"containerPort":80,"protocol":"TCP"}': {
                ".": {},
                "f:containerPort": {},
                "f:name": {},
            },
        }
    }
)
PORT80_NAME = (
    '.spec.template.spec.containers[name="web"].ports[containerPort=80,protocol="TCP"].name'
)
WEB = {"name": "web"}
CONTAINERS = ("spec", "template", "spec", "containers")


def _data_k(manager: str) -> dict[str, Any]:
    return {f"{manager}:Apply": {"f:data": {"f:k": {}}}}


CASES: tuple[Case, ...] = (
    Case(
        "01",
        "apply creates a ConfigMap with one Apply entry (Ex.1)",
        "configmaps",
        (
            Step(
                "apply",
                "a",
                EX1,
                Expect(
                    code=201,
                    entries=("a:Apply",),
                    fields={"a:Apply": EX1_APPLY},
                    timed={"a:Apply": True},
                    values=((("data", "a"), "1"), (("metadata", "labels", "app"), "web")),
                ),
            ),
        ),
    ),
    Case(
        "02",
        "re-applying the same body is a no-op (same RV and time)",
        "configmaps",
        (
            Step("apply", "a", EX1, Expect(code=201)),
            Step("apply", "a", EX1, Expect(unchanged=True, fields={"a:Apply": EX1_APPLY})),
        ),
    ),
    Case(
        "03",
        "a second applier with the same values shares ownership, no conflict",
        "configmaps",
        (
            Step("apply", "a", EX1, Expect(code=201)),
            Step(
                "apply",
                "b",
                EX1,
                Expect(
                    # NB: b's entry has no time (the apply changed nothing), so sorts first.
                    entries=("b:Apply", "a:Apply"),
                    fields={"a:Apply": EX1_APPLY, "b:Apply": EX1_APPLY},
                    timed={"a:Apply": True, "b:Apply": False},
                    rv_changed=True,
                ),
            ),
        ),
    ),
    Case(
        "04",
        "a different value owned by another applier conflicts",
        "configmaps",
        (
            Step("apply", "a", cm({"k": "1"}), Expect(code=201)),
            Step(
                "apply",
                "b",
                cm({"k": "2"}),
                Expect(
                    code=409,
                    message='Apply failed with 1 conflict: conflict with "a": .data.k',
                    causes=(('conflict with "a"', ".data.k"),),
                    unchanged=True,
                ),
            ),
        ),
    ),
    Case(
        "05",
        "force takes the field over",
        "configmaps",
        (
            Step("apply", "a", cm({"k": "1"}), Expect(code=201)),
            Step(
                "apply",
                "b",
                cm({"k": "2"}),
                Expect(
                    entries=("b:Apply",),
                    fields=_data_k("b"),
                    values=((("data", "k"), "2"),),
                ),
                force=True,
            ),
        ),
    ),
    Case(
        "06",
        "two conflicts with one Update manager",
        "configmaps",
        (
            Step("create", "kubectl-edit", cm({"a": "1", "b": "1"}), Expect(code=201)),
            Step(
                "apply",
                "a",
                cm({"a": "2", "b": "2"}),
                Expect(
                    code=409,
                    message=(
                        'Apply failed with 2 conflicts: conflicts with "kubectl-edit" using v1:\n'
                        "- .data.a\n- .data.b"
                    ),
                    causes=(
                        ('conflict with "kubectl-edit" using v1', ".data.a"),
                        ('conflict with "kubectl-edit" using v1', ".data.b"),
                    ),
                    unchanged=True,
                ),
            ),
        ),
    ),
    Case(
        "07",
        "conflicts with two managers are grouped and sorted by manager",
        "configmaps",
        (
            Step("create", "u2", cm({"a": "1"}), Expect(code=201)),
            Step("merge", "u1", {"data": {"b": "1"}}),
            Step(
                "apply",
                "a",
                cm({"a": "2", "b": "2"}),
                Expect(
                    code=409,
                    message=(
                        'Apply failed with 2 conflicts: conflicts with "u1" using v1:\n'
                        '- .data.b\nconflicts with "u2" using v1:\n- .data.a'
                    ),
                    causes=(
                        ('conflict with "u1" using v1', ".data.b"),
                        ('conflict with "u2" using v1', ".data.a"),
                    ),
                ),
            ),
        ),
    ),
    Case(
        "08",
        "a key its only applier stops applying is deleted",
        "configmaps",
        (
            Step("apply", "a", cm({"k": "1", "j": "1"}), Expect(code=201)),
            Step(
                "apply",
                "a",
                cm({"j": "1"}),
                Expect(
                    values=((("data", "k"), ABSENT), (("data", "j"), "1")),
                    fields={"a:Apply": {"f:data": {"f:j": {}}}},
                ),
            ),
        ),
    ),
    Case(
        "09",
        "a key another applier also applied is kept and owned by it alone",
        "configmaps",
        (
            Step("apply", "a", cm({"k": "1", "j": "1"}), Expect(code=201)),
            Step("apply", "b", cm({"k": "1"})),
            Step(
                "apply",
                "a",
                cm({"j": "1"}),
                Expect(
                    values=((("data", "k"), "1"),),
                    fields={"a:Apply": {"f:data": {"f:j": {}}}, **_data_k("b")},
                ),
            ),
        ),
    ),
    Case(
        "10",
        "a key an updater changed is kept, owned by the updater",
        "configmaps",
        (
            Step("apply", "a", cm({"k": "1", "j": "1"}), Expect(code=201)),
            Step("merge", "u", {"data": {"k": "2"}}),
            Step(
                "apply",
                "a",
                cm({"j": "1"}),
                Expect(
                    values=((("data", "k"), "2"),),
                    fields={
                        "a:Apply": {"f:data": {"f:j": {}}},
                        "u:Update": {"f:data": {"f:k": {}}},
                    },
                ),
            ),
        ),
    ),
    Case(
        "11",
        "dropping replicas restores its default with no owner; dropping hostname removes it",
        "deployments",
        (
            Step("apply", "a", deploy(replicas=3, pod_spec={"hostname": "h"}), Expect(code=201)),
            Step(
                "apply",
                "a",
                deploy(replicas=ABSENT),
                Expect(
                    values=(
                        (("spec", "replicas"), 1),
                        (("spec", "template", "spec", "hostname"), ABSENT),
                    ),
                    fields={"a:Apply": deploy_fields(replicas=False)},
                ),
            ),
        ),
    ),
    Case(
        "12",
        "a list item only the applier owned goes with a child another manager set",
        "deployments",
        (
            Step("apply", "a", deploy(containers=[container("c1")]), Expect(code=201)),
            Step(
                "json",
                "u",
                [
                    {
                        "op": "add",
                        "path": "/spec/template/spec/containers/0/workingDir",
                        "value": "/w",
                    }
                ],
                Expect(
                    fields_subset={
                        "u:Update": {
                            "f:spec": {
                                "f:template": {
                                    "f:spec": {
                                        "f:containers": {'k:{"name":"c1"}': {"f:workingDir": {}}}
                                    }
                                }
                            }
                        }
                    }
                ),
            ),
            Step(
                "apply",
                "a",
                deploy(containers=[container("c2")]),
                Expect(
                    values=(
                        ((*CONTAINERS, {"name": "c1"}), ABSENT),
                        ((*CONTAINERS, {"name": "c2"}, "image"), "nginx:1.27"),
                    ),
                    entries=("a:Apply",),
                ),
            ),
        ),
    ),
    Case(
        "13",
        "ports keyed by containerPort and defaulted protocol (Ex.2); renaming conflicts",
        "deployments",
        (
            Step("apply", "a", EX2, Expect(code=201, fields={"a:Apply": EX2_APPLY})),
            Step(
                "apply",
                "b",
                deploy(
                    containers=[
                        container(
                            ports=[
                                {"containerPort": 80, "name": "www"},
                                {"containerPort": 53, "protocol": "UDP"},
                            ]
                        )
                    ]
                ),
                Expect(
                    code=409,
                    message=f'Apply failed with 1 conflict: conflict with "a": {PORT80_NAME}',
                    causes=(('conflict with "a"', PORT80_NAME),),
                    unchanged=True,
                ),
            ),
        ),
    ),
    Case(
        "14",
        "an atomic selector conflicts as a whole; identical is shared",
        "deployments",
        (
            Step("apply", "a", deploy(), Expect(code=201)),
            Step(
                "apply",
                "b",
                deploy(selector={"matchLabels": {"app": "web", "tier": "x"}}),
                Expect(
                    code=409,
                    message='Apply failed with 1 conflict: conflict with "a": .spec.selector',
                    causes=(('conflict with "a"', ".spec.selector"),),
                ),
            ),
            Step(
                "apply",
                "b",
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "metadata": {"name": NAME},
                    "spec": {"selector": {"matchLabels": {"app": "web"}}},
                },
                Expect(
                    fields={"b:Apply": {"f:spec": {"f:selector": {}}}},
                    entries=("b:Apply", "a:Apply"),
                ),
            ),
        ),
    ),
    Case(
        "15",
        "finalizers are a set: two appliers each own their value",
        "configmaps",
        (
            Step("apply", "a", cm(finalizers=["example.com/x"]), Expect(code=201)),
            Step(
                "apply",
                "b",
                cm(finalizers=["example.com/y"]),
                Expect(
                    values=((("metadata", "finalizers"), ["example.com/x", "example.com/y"]),),
                    fields={
                        "a:Apply": {"f:metadata": {"f:finalizers": {'v:"example.com/x"': {}}}},
                        "b:Apply": {"f:metadata": {"f:finalizers": {'v:"example.com/y"': {}}}},
                    },
                ),
            ),
            Step(
                "apply",
                "a",
                cm(),
                Expect(
                    values=((("metadata", "finalizers"), ["example.com/y"]),),
                    entries=("b:Apply",),
                ),
            ),
        ),
    ),
    Case(
        "16",
        "a merge patch takes over an applied field without conflict",
        "configmaps",
        (
            Step("apply", "a", cm({"k": "1"}, labels={"x": "1"}), Expect(code=201)),
            Step(
                "merge",
                "u",
                {"data": {"k": "2"}},
                Expect(
                    fields={
                        "u:Update": {"f:data": {"f:k": {}}},
                        "a:Apply": {"f:metadata": {"f:labels": {"f:x": {}}}},
                    },
                    timed={"u:Update": True},
                    entries=("a:Apply", "u:Update"),
                ),
            ),
        ),
    ),
    Case(
        "17",
        "the first label added by an update owns the labels map; a second does not",
        "configmaps",
        (
            Step("apply", "a", cm({"k": "1"}), Expect(code=201)),
            Step(
                "merge",
                "u1",
                {"metadata": {"labels": {"n": "1"}}},
                Expect(fields={"u1:Update": {"f:metadata": {"f:labels": {".": {}, "f:n": {}}}}}),
            ),
            Step(
                "merge",
                "u2",
                {"metadata": {"labels": {"m": "1"}}},
                Expect(fields={"u2:Update": {"f:metadata": {"f:labels": {"f:m": {}}}}}),
            ),
        ),
    ),
    Case(
        "18",
        "an update deleting an applied label: the applier loses it and re-adds it freely",
        "configmaps",
        (
            Step("apply", "a", cm({"k": "1"}, labels={"x": "1"}), Expect(code=201)),
            Step(
                "merge",
                "u",
                {"metadata": {"labels": {"x": None}}},
                Expect(
                    entries=("a:Apply",),
                    fields=_data_k("a"),
                    values=((("metadata", "labels", "x"), ABSENT),),
                ),
            ),
            Step(
                "apply",
                "a",
                cm({"k": "1"}, labels={"x": "1"}),
                Expect(
                    values=((("metadata", "labels", "x"), "1"),),
                    fields={
                        "a:Apply": {
                            "f:data": {"f:k": {}},
                            "f:metadata": {"f:labels": {"f:x": {}}},
                        }
                    },
                ),
            ),
        ),
    ),
    Case(
        "19",
        "a PUT of the object as read changes nothing",
        "configmaps",
        (
            Step("apply", "a", cm({"k": "1"}), Expect(code=201)),
            Step("put", "kubectl-replace", _get, Expect(unchanged=True, entries=("a:Apply",))),
        ),
    ),
    Case(
        "20",
        "a POST owns the defaults; applying a different default conflicts",
        "deployments",
        (
            Step(
                "create",
                "kubectl-create",
                deploy(),
                Expect(
                    code=201,
                    fields_subset={
                        "kubectl-create:Update": {
                            "f:spec": {
                                "f:selector": {},
                                "f:template": {
                                    "f:spec": {
                                        "f:dnsPolicy": {},
                                        "f:containers": {
                                            'k:{"name":"web"}': {
                                                ".": {},
                                                "f:imagePullPolicy": {},
                                            }
                                        },
                                    }
                                },
                            }
                        }
                    },
                ),
            ),
            Step(
                "apply",
                "a",
                deploy(containers=[container(imagePullPolicy="Never")]),
                Expect(
                    code=409,
                    message=(
                        'Apply failed with 1 conflict: conflict with "kubectl-create" using'
                        ' apps/v1: .spec.template.spec.containers[name="web"].imagePullPolicy'
                    ),
                ),
            ),
        ),
    ),
    Case(
        "21",
        "more than ten Update entries fold into ancient-changes",
        "configmaps",
        (
            Step("apply", "a", cm({"k": "1"}), Expect(code=201)),
            *(Step("merge", f"u{i:02d}", {"data": {f"k{i:02d}": "1"}}) for i in range(1, 12)),
            Step(
                "merge",
                "u12",
                {"data": {"k12": "1"}},
                Expect(entry_count=11, entries_prefix=("a:Apply", "ancient-changes:Update")),
            ),
        ),
    ),
    Case(
        "22",
        "managedFields reset to [{}]: nothing tracked, then before-first-apply",
        "configmaps",
        (
            Step("create", "u", cm({"k": "1"}), Expect(code=201)),
            Step("merge", "u", {"metadata": {"managedFields": [{}]}}, Expect(entries=())),
            Step("merge", "u", {"data": {"j": "1"}}, Expect(entries=())),
            Step(
                "apply",
                "a",
                cm({"k": "2"}),
                Expect(
                    code=409,
                    message=(
                        'Apply failed with 1 conflict: conflict with "before-first-apply"'
                        " using v1: .data.k"
                    ),
                ),
            ),
            Step(
                "apply",
                "a",
                cm({"k": "1"}),
                Expect(
                    entries=("a:Apply", "before-first-apply:Update"),
                    fields={
                        **_data_k("a"),
                        "before-first-apply:Update": {"f:data": {"f:j": {}, "f:k": {}}},
                    },
                ),
            ),
        ),
    ),
    Case(
        "23",
        "a PUT renaming two Apply entries to one name keeps the last",
        "configmaps",
        (
            Step("apply", "a", cm({"k": "1"}), Expect(code=201)),
            Step("apply", "b", cm({"j": "1"})),
            Step(
                "put",
                "editor",
                _with_managed_fields_renamed,
                Expect(entries=("z:Apply",), fields={"z:Apply": {"f:data": {"f:j": {}}}}),
            ),
        ),
    ),
    Case(
        "24",
        "request and body errors",
        "deployments",
        (
            Step(
                "apply",
                "a",
                {**deploy(), "metadata": {"name": NAME, "managedFields": [{"manager": "x"}]}},
                Expect(code=400, message_contains="metadata.managedFields must be nil"),
            ),
            Step(
                "apply",
                None,
                deploy(),
                Expect(
                    code=422,
                    message_contains="fieldManager: Required value: is required for apply patch",
                ),
            ),
            Step(
                "merge",
                "u",
                {"spec": {"replicas": 1}},
                Expect(
                    code=422,
                    message_contains="force: Forbidden: may not be specified for non-apply patch",
                ),
                force=True,
            ),
            Step(
                "apply",
                "a",
                deploy(api_version="apps/v1beta1"),
                Expect(code=400, message_contains="apps/v1beta1, Kind=Deployment"),
            ),
            Step(
                "apply",
                "a",
                {**deploy(), "spec": {**deploy()["spec"], "foo": 1}},
                Expect(
                    codes=(400, 422, 500),
                    message_contains=".spec.foo: field not declared in schema",
                ),
            ),
            Step(
                "apply",
                "a",
                {**deploy(), "metadata": {"name": NAME, "uid": "0000-1111"}},
                Expect(code=409, message_contains="uid mismatch"),
            ),
        ),
    ),
    Case(
        "25",
        "status is ignored on the main resource; /status applies get their own entry",
        "deployments",
        (
            Step(
                "apply",
                "a",
                {**deploy(), "status": {"collisionCount": 3}},
                Expect(
                    code=201,
                    fields_subset={"a:Apply": {"f:spec": {"f:replicas": {}}}},
                    values=((("status", "collisionCount"), ABSENT),),
                ),
            ),
            Step(
                "apply",
                "a",
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "metadata": {"name": NAME},
                    "status": {"collisionCount": 3},
                },
                Expect(
                    fields={"a:Apply:status": {"f:status": {"f:collisionCount": {}}}},
                    values=((("status", "collisionCount"), 3), (("spec", "replicas"), 2)),
                ),
                subresource="status",
            ),
        ),
    ),
    Case(
        "26",
        "dryRun=All computes the result and still raises conflicts, saving nothing",
        "configmaps",
        (
            Step("apply", "a", cm({"k": "1"}), Expect(code=201)),
            Step(
                "apply",
                "a",
                cm({"k": "2"}),
                Expect(
                    values=((("data", "k"), "2"),),
                    stored_values=((("data", "k"), "1"),),
                    unchanged=True,
                ),
                dry_run=True,
            ),
            Step(
                "apply",
                "b",
                cm({"k": "3"}),
                Expect(code=409, message_contains='conflict with "a"', unchanged=True),
                dry_run=True,
            ),
        ),
    ),
    Case(
        "27",
        "applying replicas: null as its sole owner restores the default and keeps ownership",
        "deployments",
        (
            Step("apply", "a", deploy(replicas=3), Expect(code=201)),
            Step(
                "apply",
                "a",
                deploy(replicas=None),
                Expect(
                    values=((("spec", "replicas"), 1),),
                    fields_subset={"a:Apply": {"f:spec": {"f:replicas": {}}}},
                ),
            ),
        ),
    ),
    Case(
        "28",
        "labels: {} owns the map itself and leaves its contents alone",
        "configmaps",
        (
            Step("create", "u", cm({"k": "1"}, labels={"x": "1"}), Expect(code=201)),
            Step(
                "apply",
                "a",
                cm(labels={}),
                Expect(
                    fields={"a:Apply": {"f:metadata": {"f:labels": {}}}},
                    values=((("metadata", "labels", "x"), "1"),),
                ),
            ),
        ),
    ),
    Case(
        "28b",
        "ports: [] gives no ownership of the granular list",
        "deployments",
        (
            Step(
                "apply",
                "a",
                deploy(containers=[container(ports=[])]),
                Expect(
                    code=201,
                    fields={"a:Apply": deploy_fields()},
                ),
            ),
        ),
    ),
    Case(
        "29",
        "kubectl's client-side → server-side upgrade via the last-applied annotation",
        "configmaps",
        (
            Step(
                "create",
                "kubectl-client-side-apply",
                cm(
                    {"k": "1", "j": "1"},
                    annotations={
                        LAST_APPLIED: '{"apiVersion":"v1","data":{"j":"1","k":"1"},'
                        '"kind":"ConfigMap","metadata":{"annotations":{},"name":"ssa"}}\n'
                    },
                ),
                Expect(code=201),
            ),
            Step(
                "apply",
                "kubectl",
                cm({"k": "2", "j": "1"}),
                Expect(
                    values=(
                        (("data", "k"), "2"),
                        (
                            ("metadata", "annotations", LAST_APPLIED),
                            '{"apiVersion":"v1","data":{"j":"1","k":"2"},"kind":"ConfigMap",'
                            '"metadata":{"name":"ssa"}}\n',
                        ),
                    ),
                    fields_subset={"kubectl:Apply": {"f:data": {"f:k": {}, "f:j": {}}}},
                ),
            ),
            Step("merge", "u", {"data": {"j": "9"}}),
            Step(
                "apply",
                "kubectl",
                cm({"k": "2", "j": "3"}),
                Expect(code=409, message_contains='conflict with "u" using v1: .data.j'),
            ),
        ),
    ),
    Case(
        "30",
        "a stale metadata.resourceVersion is a precondition failure, not a field conflict",
        "configmaps",
        (
            Step("apply", "a", cm({"k": "1"}), Expect(code=201)),
            Step(
                "apply",
                "a",
                cm({"k": "2"}, resourceVersion="1"),
                Expect(code=409, message_contains="the object has been modified", no_causes=True),
            ),
        ),
        server_only=True,
    ),
)
