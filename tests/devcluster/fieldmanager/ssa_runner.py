"""Drives ``ssa_cases`` through the pure functions with a tiny in-memory store.

The store does what the server around ``fieldmanager`` would: request checks,
a test defaulter for Deployments, status copied from the old object for
main-resource writes of kinds with a status subresource, a resourceVersion
bumped only when the object changes, and a clock that ticks one second per
step (so entry times order deterministically).
"""

from __future__ import annotations

import copy
import dataclasses
import datetime
import json
from collections.abc import Mapping
from typing import Any

from devcluster.fieldmanager import fieldmanager
from devcluster.patching import patches
from devcluster.structuredmerge import typeinfo
from tests.devcluster.fieldmanager import ssa_cases

KINDS: Mapping[str, tuple[str, str, str, bool]] = {
    # resource: (group, version, kind, has status subresource)
    "configmaps": ("", "v1", "ConfigMap", False),
    "deployments": ("apps", "v1", "Deployment", True),
}
_EPOCH = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)


def _default_missing(obj: dict[str, Any], key: str, value: Any) -> None:
    if obj.get(key) is None:
        obj[key] = copy.deepcopy(value)


def default_deployment(obj: dict[str, Any]) -> dict[str, Any]:
    """The subset of the API server's Deployment defaults the cases rely on."""
    obj = copy.deepcopy(obj)
    spec = obj.setdefault("spec", {})
    _default_missing(spec, "replicas", 1)
    _default_missing(spec, "revisionHistoryLimit", 10)
    _default_missing(spec, "progressDeadlineSeconds", 600)
    _default_missing(
        spec,
        "strategy",
        {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
    )
    pod = spec.setdefault("template", {}).setdefault("spec", {})
    _default_missing(pod, "restartPolicy", "Always")
    _default_missing(pod, "terminationGracePeriodSeconds", 30)
    _default_missing(pod, "dnsPolicy", "ClusterFirst")
    _default_missing(pod, "schedulerName", "default-scheduler")
    _default_missing(pod, "securityContext", {})
    for item in pod.get("containers") or []:
        _default_missing(item, "imagePullPolicy", "IfNotPresent")
        _default_missing(item, "terminationMessagePath", "/dev/termination-log")
        _default_missing(item, "terminationMessagePolicy", "File")
        _default_missing(item, "resources", {})
        for port in item.get("ports") or []:
            _default_missing(port, "protocol", "TCP")
    return obj


def _identity(obj: dict[str, Any]) -> dict[str, Any]:
    return obj


@dataclasses.dataclass
class Outcome:
    code: int
    response: dict[str, Any]
    before: dict[str, Any] | None
    after: dict[str, Any] | None


class PureStore:
    """One object of one kind, written through the pure SSA functions."""

    def __init__(self, *, resource: str, catalog: typeinfo.Catalog) -> None:
        group, version, kind, has_status = KINDS[resource]
        schema = catalog.object_type(group=group, version=version, kind=kind)
        assert schema is not None
        self.schema = schema
        self.api_version = f"{group}/{version}" if group else version
        self.kind = kind
        self.has_status = has_status
        self.defaulter = default_deployment if kind == "Deployment" else _identity
        self.obj: dict[str, Any] | None = None
        self.rv = 100
        self.ticks = 0

    def _now(self) -> datetime.datetime:
        self.ticks += 1
        return _EPOCH + datetime.timedelta(seconds=self.ticks)

    def run(self, step: ssa_cases.Step) -> Outcome:
        before = copy.deepcopy(self.obj)
        body = step.body(copy.deepcopy(self.obj)) if callable(step.body) else step.body
        body = copy.deepcopy(body)
        try:
            new, code = self._write(step, body)
        except fieldmanager.FieldManagerError as error:
            return Outcome(error.code, error.status(), before, self.obj)
        except patches.PatchError as error:
            return Outcome(422, {"message": str(error)}, before, self.obj)
        if not step.dry_run:
            self._store(new)
            new = copy.deepcopy(self.obj) if self.obj is not None else new
        return Outcome(code, new, before, self.obj)

    def _write(self, step: ssa_cases.Step, body: Any) -> tuple[dict[str, Any], int]:
        now = self._now()
        common: dict[str, Any] = {
            "schema": self.schema,
            "now": now,
            "subresource": step.subresource,
            "status_subresource": self.has_status,
        }
        if step.action == "apply":
            fieldmanager.check_manager(step.manager, apply=True)
            fieldmanager.check_apply_body(
                body, api_version=self.api_version, kind=self.kind, name=ssa_cases.NAME
            )
            assert step.manager is not None
            new = fieldmanager.apply(
                self.obj,
                body,
                manager=step.manager,
                force=step.force,
                defaulter=self.defaulter,
                **common,
            )
            return new, 201 if self.obj is None else 200
        manager = step.manager or fieldmanager.manager_from_user_agent(None)
        fieldmanager.check_manager(step.manager, apply=False)
        fieldmanager.check_force(step.force, apply=False)
        if step.action == "create":
            created = fieldmanager.update(None, self.defaulter(body), manager=manager, **common)
            return created, 201
        assert self.obj is not None, "the case must create the object first"
        if step.action == "merge":
            patched = patches.merge_patch(self.obj, body)
        elif step.action == "json":
            patched = patches.json_patch(self.obj, body)
        elif step.action == "put":
            patched = body
        else:
            raise AssertionError(f"unknown action {step.action}")
        if self.has_status and not step.subresource:
            patched = {**patched, "status": copy.deepcopy(self.obj.get("status"))}
            if patched["status"] is None:
                del patched["status"]
        new = fieldmanager.update(self.obj, self.defaulter(patched), manager=manager, **common)
        return new, 200

    def _store(self, new: dict[str, Any]) -> None:
        candidate = copy.deepcopy(new)
        candidate.setdefault("metadata", {})
        if self.obj is not None:
            candidate["metadata"]["resourceVersion"] = self.obj["metadata"]["resourceVersion"]
            if candidate == self.obj:
                return
        self.rv += 1
        candidate["metadata"]["resourceVersion"] = str(self.rv)
        self.obj = candidate


# --- expectation checks (shared shape with a server runner) ------------------


def entry_key(entry: Mapping[str, Any]) -> str:
    key = f"{entry['manager']}:{entry['operation']}"
    if entry.get("subresource"):
        key += f":{entry['subresource']}"
    return key


def resolve(obj: Any, path: ssa_cases.ValuePath) -> Any:
    current = obj
    for element in path:
        if isinstance(element, str):
            if not isinstance(current, dict) or element not in current:
                return ssa_cases.ABSENT
            current = current[element]
            continue
        if not isinstance(current, list):
            return ssa_cases.ABSENT
        matches = [
            item
            for item in current
            if isinstance(item, dict) and all(item.get(k) == v for k, v in element.items())
        ]
        if not matches:
            return ssa_cases.ABSENT
        current = matches[0]
    return current


def is_subset(expected: Any, actual: Any) -> bool:
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            k in actual and is_subset(v, actual[k]) for k, v in expected.items()
        )
    return bool(expected == actual)


def _own_entries(obj: dict[str, Any] | None, known: frozenset[str] | None) -> list[Any]:
    managed = ((obj or {}).get("metadata") or {}).get("managedFields") or []
    return [e for e in managed if known is None or e.get("manager") in known]


def _foreign(obj: dict[str, Any] | None, known: frozenset[str] | None) -> bool:
    managed = ((obj or {}).get("metadata") or {}).get("managedFields") or []
    return len(_own_entries(obj, known)) != len(managed)


def _comparable(obj: dict[str, Any] | None, known: frozenset[str] | None) -> Any:
    """``obj`` without what other managers (server controllers) may change meanwhile."""
    if obj is None:
        return obj
    meta = {k: v for k, v in obj["metadata"].items() if k != "resourceVersion"}
    meta["managedFields"] = _own_entries(obj, known)
    return {**{k: v for k, v in obj.items() if k != "status"}, "metadata": meta}


def check(
    expect: ssa_cases.Expect, outcome: Outcome, *, known: frozenset[str] | None = None
) -> list[str]:
    """Every way ``outcome`` differs from ``expect`` (empty when it matches).

    ``known`` (``Case.known_managers()``): entries of other managers are
    ignored, and so are ``status`` and resourceVersion once such a manager
    has written — a real server's controllers update status concurrently.
    """
    problems: list[str] = []
    if expect.codes:
        if outcome.code not in expect.codes:
            problems.append(f"code {outcome.code} not in {expect.codes}: {outcome.response}")
    elif outcome.code != expect.code:
        problems.append(f"code {outcome.code} != {expect.code}: {outcome.response}")
    message = str(outcome.response.get("message", ""))
    if expect.message is not None and message != expect.message:
        problems.append(f"message {message!r} != {expect.message!r}")
    if expect.message_contains is not None and expect.message_contains not in message:
        problems.append(f"message {message!r} lacks {expect.message_contains!r}")
    causes = (outcome.response.get("details") or {}).get("causes") or []
    if expect.causes is not None:
        got = tuple((c.get("message"), c.get("field")) for c in causes)
        if got != expect.causes:
            problems.append(f"causes {got} != {expect.causes}")
        if any(c.get("reason") != "FieldManagerConflict" for c in causes):
            problems.append(f"cause reasons {causes}")
    if expect.no_causes and causes:
        problems.append(f"unexpected causes {causes}")
    for path, value in expect.values:
        got = resolve(outcome.response, path)
        if got != value and not (value is ssa_cases.ABSENT and got is ssa_cases.ABSENT):
            problems.append(f"response {path}: {got!r} != {value!r}")
    stored = outcome.after or {}
    for path, value in expect.stored_values:
        got = resolve(stored, path)
        if got != value and not (value is ssa_cases.ABSENT and got is ssa_cases.ABSENT):
            problems.append(f"stored {path}: {got!r} != {value!r}")
    relaxed = _foreign(outcome.before, known) or _foreign(outcome.after, known)
    if expect.unchanged and (
        _comparable(outcome.after, known) != _comparable(outcome.before, known)
        if relaxed
        else outcome.after != outcome.before
    ):
        problems.append("stored object changed")
    if expect.rv_changed is not None:
        before_rv = ((outcome.before or {}).get("metadata") or {}).get("resourceVersion")
        after_rv = stored.get("metadata", {}).get("resourceVersion")
        if (before_rv != after_rv) != expect.rv_changed:
            problems.append(f"resourceVersion {before_rv} → {after_rv}")
    managed = _own_entries(stored, known)
    by_key = {entry_key(e): e for e in managed}
    keys = tuple(entry_key(e) for e in managed)
    if expect.entries is not None and keys != expect.entries:
        problems.append(f"entries {keys} != {expect.entries}")
    if keys[: len(expect.entries_prefix)] != expect.entries_prefix:
        problems.append(f"entries {keys} do not start with {expect.entries_prefix}")
    if expect.entry_count is not None and len(keys) != expect.entry_count:
        problems.append(f"{len(keys)} entries, expected {expect.entry_count}: {keys}")
    for key, fields in expect.fields.items():
        got = by_key.get(key, {}).get("fieldsV1")
        if json.dumps(got) != json.dumps(fields):
            problems.append(f"fieldsV1 of {key}: {json.dumps(got)} != {json.dumps(fields)}")
    for key, fields in expect.fields_subset.items():
        got = by_key.get(key, {}).get("fieldsV1")
        if not is_subset(fields, got):
            problems.append(f"fieldsV1 of {key}: {json.dumps(got)} lacks {json.dumps(fields)}")
    for key, timed in expect.timed.items():
        if key not in by_key:
            problems.append(f"no entry {key}")
        elif ("time" in by_key[key]) != timed:
            problems.append(f"entry {key} time presence != {timed}")
    for entry in managed:
        if list(entry)[:3] != ["manager", "operation", "apiVersion"]:
            problems.append(f"entry key order {list(entry)}")
        if entry.get("fieldsType") != "FieldsV1":
            problems.append(f"fieldsType of {entry_key(entry)}")
    return problems
