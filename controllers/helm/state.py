"""Flux's release state machine: from the stored release to the next Helm action (pure).

``determine`` compares the newest release in Helm's storage with the
HelmRelease (its history, the chart and values about to be released, the
post-renderer and common-metadata digests, the test results, drift) and
names the release's ``Status``:

=============  ===========================================================
Absent         nothing in storage, or the latest release was uninstalled
Locked         the latest release is pending-*: a process died mid-action
Unmanaged      a release exists that the history does not know (or whose
               digest changed behind our back)
Failed         the latest release failed, or its tests failed
OutOfSync      deployed, but the chart, values, post-renderers or common
               metadata differ from what is wanted
Untested       deployed and in sync, tests enabled and not run yet
Drifted        deployed and in sync, but the cluster drifted (detection on)
InSync         nothing to do
=============  ===========================================================

``decide`` turns a state into the next ``Action`` (install, upgrade, test,
rollback, uninstall, unlock, drift correction, or none), applying the
remediation rules (``remediation``) and ``reconcile.fluxcd.io/forceAt``.
Like Flux's ``actionForState`` it also tidies the status on the way
(history truncation, Remediated turned into Released once in sync, Drifted)
and refuses with ``Exhausted`` (retries exceeded) or ``MissingTarget`` (no
release to roll back to), both stalls. The reconciler runs the actions in a
loop (``releasing``), re-determining the state after each.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Sequence
from typing import Literal

from controllers.helm import remediation, snapshots
from shared.api import helm, meta
from shared.runtime import conditions


class Status(enum.StrEnum):
    UNKNOWN = "Unknown"
    ABSENT = "Absent"
    UNMANAGED = "Unmanaged"
    OUT_OF_SYNC = "OutOfSync"
    DRIFTED = "Drifted"
    LOCKED = "Locked"
    UNTESTED = "Untested"
    IN_SYNC = "InSync"
    FAILED = "Failed"


class Action(enum.StrEnum):
    """The next action; its value is the name Flux shows (``Running 'install' action …``)."""

    INSTALL = "install"
    UPGRADE = "upgrade"
    TEST = "test"
    ROLLBACK = "rollback"
    UNINSTALL = "uninstall"
    UNLOCK = "unlock"
    CORRECT_DRIFT = "correct cluster drift"


class Kind(enum.StrEnum):
    """Flux's reconciler types: at most one action of a kind per reconcile."""

    RELEASE = "release"
    REMEDIATE = "remediate"
    TEST = "test"
    UNLOCK = "unlock"
    DRIFT_CORRECTION = "drift correction"


KIND_OF = {
    Action.INSTALL: Kind.RELEASE,
    Action.UPGRADE: Kind.RELEASE,
    Action.TEST: Kind.TEST,
    Action.ROLLBACK: Kind.REMEDIATE,
    Action.UNINSTALL: Kind.REMEDIATE,
    Action.UNLOCK: Kind.UNLOCK,
    Action.CORRECT_DRIFT: Kind.DRIFT_CORRECTION,
}


@dataclasses.dataclass(frozen=True)
class State:
    status: Status
    reason: str = ""
    drift: tuple[str, ...] = ()
    """With Drifted: one line per drifted object."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Desired:
    """What the HelmRelease wants released now."""

    chart_name: str
    chart_version: str
    config_digest: str
    post_renderers_digest: str | None
    common_metadata_digest: str | None


class RefusedError(Exception):
    """No action can be taken until the spec changes or a force is requested (a stall)."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason


def determine(
    obj: helm.HelmRelease,
    last: snapshots.Release | None,
    desired: Desired,
    *,
    drift: Callable[[], Sequence[str]] | None = None,
) -> State:
    """The state of ``obj``'s release (see the module docstring).

    ``last`` is the newest release in storage; ``drift`` (called only for
    a deployed, in-sync, tested release with drift detection on) lists the
    drifted objects.
    """
    status = obj.status or helm.HelmReleaseStatus()
    if last is None:
        return State(Status.ABSENT, "no release in storage for object")
    if last.status in snapshots.PENDING:
        return State(Status.LOCKED, f"release with status '{last.status}'")
    current = snapshots.latest(status.history)
    if current is None:
        if last.status == snapshots.UNINSTALLED:
            return State(Status.ABSENT, "found uninstalled release in storage")
        return State(Status.UNMANAGED, "found existing release in storage")
    if current.api_version == snapshots.API_VERSION and current.digest != last.digest(
        oci_digest=current.oci_digest or ""
    ):
        return State(Status.UNMANAGED, "release not observed to be made for object")
    if last.status == snapshots.FAILED:
        return State(Status.FAILED)
    if last.status == snapshots.UNINSTALLED:
        return State(Status.ABSENT, "found uninstalled release in storage")
    if last.status != snapshots.DEPLOYED:
        return State(
            Status.UNKNOWN, f"unable to determine state for release with status '{last.status}'"
        )
    if (last.chart_name, last.chart_version) != (desired.chart_name, desired.chart_version):
        return State(Status.OUT_OF_SYNC, "release chart changed")
    if current.config_digest != desired.config_digest:
        return State(Status.OUT_OF_SYNC, "release config values changed")
    if status.observed_generation != obj.metadata.generation:
        # NB: as in Flux, only a new generation can change these digests.
        if desired.post_renderers_digest != status.observed_post_renderers_digest:
            return State(Status.OUT_OF_SYNC, "postrenderers digest has changed")
        if desired.common_metadata_digest != status.observed_common_metadata_digest:
            return State(Status.OUT_OF_SYNC, "common metadata digest has changed")
    if remediation.tests_enabled(obj.spec):
        if not snapshots.has_been_tested(current):
            return State(Status.UNTESTED)
        active = remediation.active(obj)
        ignore = remediation.test_ignores_failures(obj.spec)
        if (
            active is not None
            and not active.must_ignore_test_failures(ignore)
            and snapshots.has_test_in_phase(current, snapshots.TEST_FAILED)
        ):
            return State(Status.FAILED, "release has test in failed phase")
    if drift is not None and remediation.drift_mode(obj.spec) != "disabled":
        drifted = tuple(drift())
        if drifted:
            return State(Status.DRIFTED, drift=drifted)
    return State(Status.IN_SYNC)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Decision:
    action: Action | None
    log: str = ""
    """Why, for the log line (Flux's ``msgWithReason``)."""


RollbackCheck = Callable[[helm.Snapshot | None], Literal["ok", "missing", "corrupt"]]
"""Whether a snapshot is still in storage unchanged (``ok``), gone, or changed."""

UPGRADE_SUCCESS = "Helm upgrade succeeded for release {release} with chart {chart}"
INSTALL_SUCCESS = "Helm install succeeded for release {release} with chart {chart}"


def _with_reason(message: str, reason: str) -> str:
    return f"{message}: {reason}" if reason else message


def _replace_remediated(status: helm.HelmReleaseStatus, generation: int | None) -> None:
    """Remediated=True becomes Released=True UpgradeSucceeded (the current release is wanted)."""
    remediated = conditions.get(status.conditions, helm.REMEDIATED_CONDITION)
    if remediated is None or remediated.status != "True":
        return
    current = snapshots.latest(status.history)
    message = UPGRADE_SUCCESS.format(
        release=snapshots.full_release_name(current), chart=snapshots.versioned_chart_name(current)
    )
    kept = conditions.delete(status.conditions, helm.RELEASED_CONDITION)
    status.conditions = [
        c.model_copy(
            update={
                "type": helm.RELEASED_CONDITION,
                "reason": helm.UPGRADE_SUCCEEDED_REASON,
                "message": message,
                "observed_generation": generation,
            }
        )
        if c.type == helm.REMEDIATED_CONDITION
        else c
        for c in kept
    ]


def decide(
    obj: helm.HelmRelease,
    state: State,
    *,
    force: bool,
    default_to_retry: bool,
    rollback_check: RollbackCheck,
) -> Decision:
    """The next action for ``state`` (see the module docstring); mutates ``obj.status``."""
    status = obj.status = obj.status or helm.HelmReleaseStatus()
    generation = obj.metadata.generation
    spec = obj.spec
    test_ignore = remediation.test_ignores_failures(spec)
    active = remediation.active(obj)
    retrying = remediation.active_retry(obj, default_to_retry=default_to_retry) is not None
    match state.status:
        case Status.IN_SYNC:
            if retrying:
                status.history = snapshots.truncate_ignoring_previous(status.history)
            else:
                ignore = active.must_ignore_test_failures(test_ignore) if active else test_ignore
                status.history = snapshots.truncate(status.history, ignore_tests=ignore)
            if force:
                return Decision(
                    action=Action.UPGRADE,
                    log="forcing upgrade for in-sync release: force requested through annotation",
                )
            _replace_remediated(status, generation)
            _mark_in_sync(status, generation)
            if remediation.drift_mode(spec) != "disabled":
                status.conditions = conditions.mark_false(
                    status.conditions,
                    helm.DRIFTED_CONDITION,
                    reason=helm.NO_DRIFT_DETECTED_REASON,
                    message="No drift detected against the cluster state",
                    generation=generation,
                )
            return Decision(action=None, log="release in-sync with desired state")
        case Status.LOCKED:
            return Decision(action=Action.UNLOCK, log=_with_reason("release locked", state.reason))
        case Status.ABSENT:
            why = _with_reason("release not installed", state.reason)
            if remediation.install_remediation(spec).exhausted(status) and not force:
                raise RefusedError(
                    "exceeded maximum retries: cannot install release",
                    reason=helm.RETRIES_EXCEEDED_REASON,
                )
            return Decision(action=Action.INSTALL, log=why)
        case Status.UNMANAGED:
            status.history = None
            return Decision(
                action=Action.UPGRADE,
                log=_with_reason("release not managed by controller", state.reason),
            )
        case Status.OUT_OF_SYNC:
            why = _with_reason("release out-of-sync with desired state", state.reason)
            if remediation.upgrade_remediation(spec).exhausted(status) and not force:
                raise RefusedError(
                    "exceeded maximum retries: cannot upgrade release",
                    reason=helm.RETRIES_EXCEEDED_REASON,
                )
            return Decision(action=Action.UPGRADE, log=why)
        case Status.DRIFTED:
            return _drifted(obj, state)
        case Status.UNTESTED:
            _replace_remediated(status, generation)
            return Decision(action=Action.TEST, log="release has not been tested")
        case Status.FAILED:
            return _failed(
                obj,
                state,
                active=active,
                retrying=retrying,
                force=force,
                rollback_check=rollback_check,
            )
    raise RefusedError(f"unknown release status: {state.status}", reason=helm.STATE_ERROR_REASON)


def _mark_in_sync(status: helm.HelmReleaseStatus, generation: int | None) -> None:
    """After a failure, an in-sync release is Released again (Flux's in-sync branch)."""
    released = conditions.get(status.conditions, helm.RELEASED_CONDITION)
    if released is None or released.status == "True":
        return
    formats = {
        helm.INSTALL_FAILED_REASON: (helm.INSTALL_SUCCEEDED_REASON, INSTALL_SUCCESS),
        helm.UPGRADE_FAILED_REASON: (helm.UPGRADE_SUCCEEDED_REASON, UPGRADE_SUCCESS),
    }
    if released.reason not in formats:
        return
    reason, message = formats[released.reason]
    current = snapshots.latest(status.history)
    status.conditions = conditions.mark_true(
        status.conditions,
        helm.RELEASED_CONDITION,
        reason=reason,
        message=message.format(
            release=snapshots.full_release_name(current),
            chart=snapshots.versioned_chart_name(current),
        ),
        generation=generation,
    )


def drift_message(obj: helm.HelmRelease, drift: Sequence[str]) -> str:
    current = snapshots.latest(obj.status.history if obj.status else None)
    return (
        f"Cluster state of release {snapshots.full_release_name(current)} has drifted "
        "from the desired state:\n" + "\n".join(drift)
    )


def _drifted(obj: helm.HelmRelease, state: State) -> Decision:
    status = obj.status or helm.HelmReleaseStatus()
    status.conditions = conditions.mark_true(
        status.conditions,
        helm.DRIFTED_CONDITION,
        reason=helm.DRIFT_DETECTED_REASON,
        message=drift_message(obj, state.drift),
        generation=obj.metadata.generation,
    )
    if remediation.drift_mode(obj.spec) == "enabled":
        return Decision(action=Action.CORRECT_DRIFT, log="detected changes in cluster state")
    return Decision(action=None, log="detected changes in cluster state")


def _failed(
    obj: helm.HelmRelease,
    state: State,
    *,
    active: remediation.Remediation | None,
    retrying: bool,
    force: bool,
    rollback_check: RollbackCheck,
) -> Decision:
    status = obj.status or helm.HelmReleaseStatus()
    why = _with_reason("release is in a failed state", state.reason)
    if retrying:
        status.history = snapshots.truncate_ignoring_previous(status.history)
        return Decision(action=Action.UPGRADE, log=why)
    if active is None or active.failure_count(status) <= 0 or force:
        return Decision(action=Action.UPGRADE, log=why)
    if active.exhausted(status) and not active.remediate_last_failure():
        raise RefusedError(
            "exceeded maximum retries: cannot remediate failed release",
            reason=helm.RETRIES_EXCEEDED_REASON,
        )
    ignore = active.must_ignore_test_failures(remediation.test_ignores_failures(obj.spec))
    status.history = snapshots.truncate(status.history, ignore_tests=ignore)
    if active.strategy == "uninstall":
        return Decision(action=Action.UNINSTALL, log=why)
    verdict = rollback_check(snapshots.previous(status.history, ignore_tests=ignore))
    if verdict == "missing":
        raise RefusedError(
            "Failed to perform remediation: missing target release for rollback: "
            "cannot remediate failed release",
            reason=helm.MISSING_ROLLBACK_TARGET_REASON,
        )
    if verdict == "corrupt":
        return Decision(
            action=Action.UPGRADE,
            log="unable to verify previous release in storage to roll back to",
        )
    return Decision(action=Action.ROLLBACK, log=why)


def exhausted_message(obj: helm.HelmRelease) -> str:
    """Flux's Stalled message once retries are exhausted."""
    status = obj.status or helm.HelmReleaseStatus()
    active = remediation.active(obj)
    count = active.failure_count(status) if active else 0
    return f"Failed to {status.last_attempted_release_action} after {count} attempt(s)"


def timeout_of(obj: helm.HelmRelease, action: Action) -> float:
    """The timeout of ``action``: its own, else ``spec.timeout``, else 5m."""
    spec = obj.spec
    default = spec.timeout or "5m"
    own = {
        Action.INSTALL: spec.install.timeout if spec.install else None,
        Action.UPGRADE: spec.upgrade.timeout if spec.upgrade else None,
        Action.TEST: spec.test.timeout if spec.test else None,
        Action.ROLLBACK: spec.rollback.timeout if spec.rollback else None,
        Action.UNINSTALL: spec.uninstall.timeout if spec.uninstall else None,
    }.get(action)
    return meta.parse_duration(own or default).total_seconds()
