"""One Helm action for a HelmRelease, and what Flux records of it.

Each function runs one action through the engine (``Actions``: the engine's
install, upgrade, test, rollback, uninstall and unlock) with the options of
the HelmRelease's spec, then records it as Flux's action reconcilers do:

- ``status.history``: every revision the action wrote or changed, observed
  in storage (``snapshots.record``), with the action and the OCI digest;
- counters: ``failures`` for any failed action, ``installFailures`` /
  ``upgradeFailures`` for failed releases (and failed tests that
  remediation does not ignore), reset on success under RetryOnFailure;
- conditions: ``Released`` (install, upgrade, unlock), ``TestSuccess``
  (test; Unknown ``AwaitingTests`` after a release when tests are enabled),
  ``Remediated`` (rollback, uninstall remediation), with Flux's messages;
- an event per outcome with Flux's reason, message and metadata (chart
  version as ``revision``, config digest as ``token``, ``app-version``,
  ``oci-digest``), and, for a failure, one error log line.

A function returns normally when the action left a record in storage (even a
failed one: the state machine decides what follows) and raises
``ActionError`` when it changed nothing, which ends the reconcile.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Awaitable, Sequence
from typing import Any, Literal, Protocol

import helm_python

from controllers.helm import remediation, snapshots, state
from controllers.helm.engine import failures, records, requests
from controllers.helm.engine import storage as engine_storage
from controllers.helm.helmrelease import announcing, options
from shared.api import helm, meta
from shared.runtime import conditions, events

AWAITING_TESTS = "Helm release {release} with chart {chart} is awaiting tests"
INSTALL_FAILURE = "Helm install failed for release {namespace}/{name} with chart {chart}: {error}"
UPGRADE_FAILURE = "Helm upgrade failed for release {namespace}/{name} with chart {chart}: {error}"
TEST_FAILURE = "Helm test failed for release {release} with chart {chart}: {error}"
TEST_SUCCESS = "Helm test succeeded for release {release} with chart {chart}: {hooks}"
ROLLBACK_FAILURE = "Helm rollback to previous release {release} with chart {chart} failed: {error}"
ROLLBACK_SUCCESS = "Helm rollback to previous release {release} with chart {chart} succeeded"
UNINSTALL_FAILURE = (
    "Helm uninstall remediation for release {release} with chart {chart} failed: {error}"
)
UNINSTALL_SUCCESS = "Helm uninstall remediation for release {release} with chart {chart} succeeded"
UNLOCK_FAILURE = (
    "Unlock of Helm release {release} with chart {chart} in {status} state failed: {error}"
)
UNLOCK_SUCCESS = "Unlocked Helm release {release} with chart {chart} in {status} state"
UNINSTALL_REMEDIATION_ACTION = "uninstall-remediation"
ROLLBACK_ACTION = "rollback"


class ActionError(Exception):
    """The action failed and stored nothing; the reconcile ends with this failure."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason


class Actions(Protocol):
    """The engine's actions (``controllers.helm.engine``)."""

    async def install(self, req: requests.InstallRequest) -> records.ReleaseRecord: ...

    async def upgrade(self, req: requests.UpgradeRequest) -> records.ReleaseRecord: ...

    async def test(self, req: requests.TestRequest) -> records.ReleaseRecord: ...

    async def rollback(self, req: requests.RollbackRequest) -> records.ReleaseRecord: ...

    async def uninstall(self, req: requests.UninstallRequest) -> records.ReleaseRecord | None: ...

    async def unlock(self, name: str) -> records.ReleaseRecord | None: ...


@dataclasses.dataclass(kw_only=True)
class Request:
    """What one reconcile releases, and where its outcome goes."""

    obj: helm.HelmRelease
    status: helm.HelmReleaseStatus
    chart: helm_python.Chart
    values: dict[str, Any]
    config_digest: str
    oci_digest: str | None
    release_name: str
    namespace: str
    actions: Actions
    store: engine_storage.ReleaseStore
    recorder: events.Recorder
    default_to_retry: bool
    stored: list[records.ReleaseRecord] | None = None
    """The revisions as the last action's record read them: nothing wrote since."""


# --- recording ----------------------------------------------------------------------------


def _now_duration(started: float) -> str:
    return meta.format_duration(time.monotonic() - started)


def _mark(
    req: Request, type_: str, status: Literal["True", "False", "Unknown"], reason: str, message: str
) -> None:
    req.status.conditions = conditions.set_condition(
        req.status.conditions,
        type_=type_,
        status=status,
        reason=reason,
        message=message,
        generation=req.obj.metadata.generation,
    )


async def _record(
    req: Request,
    own: records.ReleaseRecord | None,
    *,
    action: str | None,
    touched: str | None,
    stored: list[records.ReleaseRecord] | None = None,
) -> None:
    """Put what an action stored in ``status.history`` (Flux's release observers).

    ``own`` is the action's revision (recorded with ``action`` and the OCI
    digest); every other revision in the history whose stored state changed
    since it was observed is recorded again with ``touched`` as its action
    (Helm supersedes, uninstalls or fails older revisions on the way).
    ``stored`` is the storage as the action left it when that is known (an
    install over no history leaves its own revision alone); else it is listed.
    """
    if stored is None:
        stored = await req.store.history(req.release_name)
    req.stored = stored
    history = list(req.status.history or [])
    for record in stored:
        if own is not None and record.version == own.version:
            continue
        known = next((s for s in history if snapshots.targets(s, record)), None)
        if known is None or known.digest == record.digest(oci_digest=known.oci_digest or ""):
            continue
        history = snapshots.record(
            history, snapshots.observe(record, action=touched, oci_digest=known.oci_digest)
        )
    if own is not None:
        final = next((r for r in stored if r.version == own.version), own)
        history = snapshots.record(
            history, snapshots.observe(final, action=action, oci_digest=req.oci_digest)
        )
    req.status.history = history or None


def _failure_text(error: failures.EngineError) -> str:
    if isinstance(error, failures.ReleaseFailedError) and error.reason:
        return error.reason.strip()
    return error.message.strip()


def current_snapshot(req: Request) -> helm.Snapshot | None:
    """The newest snapshot of the history."""
    return snapshots.latest(req.status.history)


def _names(snapshot: helm.Snapshot | None) -> dict[str, str]:
    return {
        "release": snapshots.full_release_name(snapshot),
        "chart": snapshots.versioned_chart_name(snapshot),
    }


async def _attempt(
    call: Awaitable[records.ReleaseRecord | None],
) -> tuple[records.ReleaseRecord | None, failures.EngineError | None]:
    """Run an engine action: its record (a failed one's too, when stored) and its error."""
    try:
        return await call, None
    except failures.ReleaseFailedError as failed:
        return failed.record, failed
    except failures.EngineError as failed:
        return None, failed


async def _outcome(
    req: Request,
    type_: str,
    status: Literal["True", "False", "Unknown"],
    reason: str,
    message: str,
    *,
    metadata: dict[str, str],
    failed: bool,
) -> None:
    """An action's outcome: its condition, event and log line (a failure counted)."""
    if failed:
        req.status.failures = (req.status.failures or 0) + 1
    _mark(req, type_, status, reason, message)
    await announcing.announce(
        req.recorder, req.obj, warning=failed, reason=reason, message=message, metadata=metadata
    )


async def _release(
    req: Request,
    *,
    action: Literal["install", "upgrade"],
    run: Any,
    alone: bool = False,
) -> None:
    """Install or upgrade (Flux's ``Install`` and ``Upgrade`` action reconcilers)."""
    status = req.status
    status.last_attempted_release_action = action
    if action == remediation.INSTALL:
        status.history = None
    status.conditions = conditions.delete(status.conditions, helm.TEST_SUCCESS_CONDITION)
    status.conditions = conditions.delete(status.conditions, helm.REMEDIATED_CONDITION)
    started = time.monotonic()
    record, error = await _attempt(run)
    status.last_attempted_release_action_duration = _now_duration(started)
    if record is not None:
        await _record(req, record, action=action, touched=None, stored=[record] if alone else None)
    chart = f"{req.chart.name}@{req.chart.version}"
    app_version = str(req.chart.metadata.get("appVersion") or "")
    if error is not None:
        template = INSTALL_FAILURE if action == remediation.INSTALL else UPGRADE_FAILURE
        message = template.format(
            namespace=req.namespace, name=req.release_name, chart=chart,
            error=_failure_text(error),
        )  # fmt: skip
        reason = (
            helm.INSTALL_FAILED_REASON
            if action == remediation.INSTALL
            else helm.UPGRADE_FAILED_REASON
        )
        metadata = announcing.event_metadata(
            req.chart.version, req.config_digest, app_version=app_version,
            oci_digest=req.oci_digest or "",
        )  # fmt: skip
        await _outcome(
            req, helm.RELEASED_CONDITION, "False", reason, message, metadata=metadata, failed=True
        )
        if record is None:
            raise ActionError(message, reason=reason)
        active = (
            remediation.install_remediation(req.obj.spec)
            if action == remediation.INSTALL
            else remediation.upgrade_remediation(req.obj.spec)
        )
        active.increment(status)
        return
    current = current_snapshot(req)
    reason, template = (
        (helm.INSTALL_SUCCEEDED_REASON, state.INSTALL_SUCCESS)
        if action == remediation.INSTALL
        else (helm.UPGRADE_SUCCEEDED_REASON, state.UPGRADE_SUCCESS)
    )
    message = template.format(**_names(current))
    _mark(req, helm.RELEASED_CONDITION, "True", reason, message)
    if remediation.tests_enabled(req.obj.spec) and not snapshots.has_been_tested(current):
        _mark(
            req,
            helm.TEST_SUCCESS_CONDITION,
            "Unknown",
            helm.AWAITING_TESTS_REASON,
            AWAITING_TESTS.format(**_names(current)),
        )
    retry = (
        remediation.install_retry if action == remediation.INSTALL else remediation.upgrade_retry
    )(req.obj.spec, default_to_retry=req.default_to_retry)
    if retry is not None:
        remediation.clear_failures(status)
    await announcing.announce(
        req.recorder,
        req.obj,
        warning=False,
        reason=reason,
        message=message,
        metadata=announcing.snapshot_metadata(current),
    )


async def install(req: Request, *, stored: Sequence[records.ReleaseRecord] | None = None) -> None:
    """Install; ``stored`` is the release's history as just read (empty: none to list)."""
    request = options.install_request(req.obj, req.chart, req.values)
    alone = stored is not None and not stored
    request = dataclasses.replace(request, no_history=alone)
    await _release(req, action=remediation.INSTALL, run=req.actions.install(request), alone=alone)


async def upgrade(req: Request) -> None:
    request = options.upgrade_request(req.obj, req.chart, req.values)
    await _release(req, action=remediation.UPGRADE, run=req.actions.upgrade(request))


def _selected(name: str, filters: Sequence[helm.Filter]) -> bool:
    """Flux's test filter: excluded names never; with includes, only those."""
    included = [f.name for f in filters if not f.exclude]
    if any(f.exclude and f.name == name for f in filters):
        return False
    return not included or name in included


def test_hooks(
    record: records.ReleaseRecord, filters: Sequence[helm.Filter]
) -> dict[str, helm.TestHookStatus | None]:
    """The test hooks of ``record`` selected by ``filters``, as Flux's snapshot keeps them."""
    hooks: dict[str, helm.TestHookStatus | None] = {}
    for hook in record.test_hooks():
        if not _selected(hook.name, filters):
            continue
        run = hook.last_run
        hooks[hook.name] = helm.TestHookStatus(
            last_started=snapshots.format_time(run.started_at) if run.started_at else None,
            last_completed=(snapshots.format_time(run.completed_at) if run.completed_at else None),
            phase=run.phase or None,
        )
    return hooks


async def test(req: Request) -> None:
    """Run the release's tests (Flux's ``Test`` action reconciler)."""
    status = req.status
    current = current_snapshot(req)
    if current is None:
        raise ActionError("no latest release: required for test", reason=helm.TEST_FAILED_REASON)
    request = options.test_request(req.obj)
    filters = request.filters
    record, error = await _attempt(req.actions.test(request))
    if record is not None and snapshots.targets(current, record):
        tested = snapshots.observe(
            record,
            action=current.action,
            oci_digest=current.oci_digest,
            test_hooks=test_hooks(record, filters),
        )
        status.history = snapshots.record(status.history, tested)
    elif record is not None and error is None:
        error = failures.EngineError(
            f"release mismatch: tested release {record.namespace}/{record.name}.v"
            f"{record.version} != current release {snapshots.full_release_name(current)}"
        )
    current = current_snapshot(req)
    metadata = announcing.snapshot_metadata(current)
    if error is not None:
        message = TEST_FAILURE.format(**_names(current), error=_failure_text(error))
        await _outcome(
            req, helm.TEST_SUCCESS_CONDITION, "False", helm.TEST_FAILED_REASON, message,
            metadata=metadata, failed=True,
        )  # fmt: skip
        if not snapshots.has_been_tested(current):
            raise ActionError(message, reason=helm.TEST_FAILED_REASON)
        active = remediation.active(req.obj)
        ignore = remediation.test_ignores_failures(req.obj.spec)
        if active is not None and not active.must_ignore_test_failures(ignore):
            active.increment(status)
        return
    count = len((current.test_hooks if current else None) or {})
    hooks = (
        f"{count} test hook{'s' if count > 1 else ''} completed successfully"
        if count
        else "no test hooks"
    )
    message = TEST_SUCCESS.format(**_names(current), hooks=hooks)
    await _outcome(
        req, helm.TEST_SUCCESS_CONDITION, "True", helm.TEST_SUCCEEDED_REASON, message,
        metadata=metadata, failed=False,
    )  # fmt: skip


async def rollback(req: Request) -> None:
    """Roll back to the previous successful release (Flux's ``RollbackRemediation``)."""
    status = req.status
    spec = req.obj.spec
    current = current_snapshot(req)
    ignore = remediation.upgrade_remediation(spec).must_ignore_test_failures(
        remediation.test_ignores_failures(spec)
    )
    previous = snapshots.previous(status.history, ignore_tests=ignore)
    if previous is None or current is None:
        raise ActionError(
            "missing target release for rollback: required to rollback",
            reason=helm.MISSING_ROLLBACK_TARGET_REASON,
        )
    request = options.rollback_request(req.obj, previous.version)
    record, error = await _attempt(req.actions.rollback(request))
    await _record(req, record, action=None, touched=ROLLBACK_ACTION)
    metadata = announcing.snapshot_metadata(previous)
    if error is not None:
        message = ROLLBACK_FAILURE.format(**_names(previous), error=_failure_text(error))
        await _outcome(
            req, helm.REMEDIATED_CONDITION, "False", helm.ROLLBACK_FAILED_REASON, message,
            metadata=metadata, failed=True,
        )  # fmt: skip
        latest = current_snapshot(req)
        if latest is None or latest.digest == current.digest:
            raise ActionError(message, reason=helm.ROLLBACK_FAILED_REASON)
        return
    message = ROLLBACK_SUCCESS.format(**_names(previous))
    await _outcome(
        req, helm.REMEDIATED_CONDITION, "True", helm.ROLLBACK_SUCCEEDED_REASON, message,
        metadata=metadata, failed=False,
    )  # fmt: skip


async def uninstall_remediation(req: Request) -> None:
    """Uninstall the failed release (Flux's ``UninstallRemediation``)."""
    status = req.status
    current = current_snapshot(req)
    if current is None:
        raise ActionError(
            "no latest release: required to uninstall", reason=helm.UNINSTALL_FAILED_REASON
        )
    record, error = await _attempt(
        req.actions.uninstall(options.uninstall_request(req.obj, current.name))
    )
    if record is not None and snapshots.targets(current, record):
        status.history = snapshots.record(
            status.history,
            snapshots.observe(
                record, action=UNINSTALL_REMEDIATION_ACTION, oci_digest=current.oci_digest
            ),
        )
    latest = current_snapshot(req)
    if error is None and latest is not None and latest.digest == current.digest:
        error = failures.EngineError("uninstall completed with error: no storage update")
    metadata = announcing.snapshot_metadata(latest)
    if error is not None:
        message = UNINSTALL_FAILURE.format(**_names(latest), error=_failure_text(error))
        await _outcome(
            req, helm.REMEDIATED_CONDITION, "False", helm.UNINSTALL_FAILED_REASON, message,
            metadata=metadata, failed=True,
        )  # fmt: skip
        if latest is None or latest.digest == current.digest:
            raise ActionError(message, reason=helm.UNINSTALL_FAILED_REASON)
        return
    message = UNINSTALL_SUCCESS.format(**_names(latest))
    await _outcome(
        req, helm.REMEDIATED_CONDITION, "True", helm.UNINSTALL_SUCCEEDED_REASON, message,
        metadata=metadata, failed=False,
    )  # fmt: skip


async def unlock(req: Request, locked: records.ReleaseRecord) -> None:
    """Mark a release left pending by a killed process as failed (Flux's ``Unlock``)."""
    status = req.status
    known = next((s for s in status.history or () if snapshots.targets(s, locked)), None)
    oci = known.oci_digest if known else None
    names = _names(snapshots.observe(locked, oci_digest=oci))
    metadata = announcing.event_metadata(
        locked.chart_version, locked.config_digest(), app_version=locked.app_version,
        oci_digest=oci or "",
    )  # fmt: skip
    try:
        record = await req.actions.unlock(req.release_name)
    except failures.EngineError as failed:
        message = UNLOCK_FAILURE.format(**names, status=locked.status, error=failed.message)
        await _outcome(
            req, helm.RELEASED_CONDITION, "False", helm.PENDING_RELEASE_REASON, message,
            metadata=metadata, failed=True,
        )  # fmt: skip
        raise ActionError(message, reason=helm.PENDING_RELEASE_REASON) from failed
    if record is not None and known is not None:
        status.history = snapshots.record(
            status.history, snapshots.observe(record, action=known.action, oci_digest=oci)
        )
    message = UNLOCK_SUCCESS.format(**names, status=locked.status)
    await _outcome(
        req, helm.RELEASED_CONDITION, "False", helm.PENDING_RELEASE_REASON, message,
        metadata=metadata, failed=False,
    )  # fmt: skip
