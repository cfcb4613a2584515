"""The release state machine (pure): Flux's state and action-for-state tables."""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any, Literal

import pytest

from controllers.helm import snapshots, state
from shared.api import helm
from shared.runtime import conditions

T0 = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)


@dataclasses.dataclass(frozen=True)
class Stored:
    """A stored release as the engine's ReleaseRecord presents it."""

    version: int
    status: str = "deployed"
    name: str = "app"
    namespace: str = "apps"
    chart_name: str = "podinfo"
    chart_version: str = "1.0.0"
    app_version: str = ""
    first_deployed: datetime.datetime | None = T0
    last_deployed: datetime.datetime | None = T0
    values_digest: str = "sha256:v1"

    def config_digest(self) -> str:
        return self.values_digest

    def digest(self, *, oci_digest: str = "") -> str:
        return f"sha256:{self.version}-{self.status}-{self.chart_version}{oci_digest}"


DESIRED = state.Desired(
    chart_name="podinfo",
    chart_version="1.0.0",
    config_digest="sha256:v1",
    post_renderers_digest=None,
    common_metadata_digest=None,
)


def release(
    spec: dict[str, Any] | None = None,
    *,
    history: list[Stored] | None = None,
    generation: int = 1,
    observed: int | None = 1,
    test_hooks: dict[int, dict[str, Any]] | None = None,
    **status: Any,
) -> helm.HelmRelease:
    snaps = [
        snapshots.observe(
            r,
            test_hooks={k: helm.TestHookStatus.model_validate(v) for k, v in hooks.items()}
            if (hooks := (test_hooks or {}).get(r.version)) is not None
            else None,
        )
        for r in history or []
    ]
    return helm.HelmRelease.model_validate(
        {
            "metadata": {"name": "app", "namespace": "apps", "generation": generation},
            "spec": {
                "interval": "5m",
                "chartRef": {"kind": "OCIRepository", "name": "podinfo"},
                **(spec or {}),
            },
            "status": {
                "observedGeneration": observed,
                "history": [s.model_dump(by_alias=True, exclude_none=True) for s in snaps],
                **status,
            },
        }
    )


# --- determine ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("obj", "last", "desired", "want"),
    [
        pytest.param(release(), None, DESIRED, state.Status.ABSENT, id="no release"),
        pytest.param(
            release(history=[Stored(1)]),
            Stored(2, status="pending-upgrade"),
            DESIRED,
            state.Status.LOCKED,
            id="pending release is locked",
        ),
        pytest.param(release(), Stored(1), DESIRED, state.Status.UNMANAGED, id="no history"),
        pytest.param(
            release(),
            Stored(1, status="uninstalled"),
            DESIRED,
            state.Status.ABSENT,
            id="uninstalled without history",
        ),
        pytest.param(
            release(history=[Stored(1)]),
            Stored(2),
            DESIRED,
            state.Status.UNMANAGED,
            id="release not observed",
        ),
        pytest.param(
            release(history=[Stored(1, status="failed")]),
            Stored(1, status="failed"),
            DESIRED,
            state.Status.FAILED,
            id="failed",
        ),
        pytest.param(
            release(history=[Stored(1)]), Stored(1), DESIRED, state.Status.IN_SYNC, id="in sync"
        ),
        pytest.param(
            release(history=[Stored(1)]),
            Stored(1),
            dataclasses.replace(DESIRED, chart_version="1.1.0"),
            state.Status.OUT_OF_SYNC,
            id="chart version changed",
        ),
        pytest.param(
            release(history=[Stored(1)]),
            Stored(1),
            dataclasses.replace(DESIRED, config_digest="sha256:v2"),
            state.Status.OUT_OF_SYNC,
            id="values changed",
        ),
        pytest.param(
            release(history=[Stored(1)], generation=2),
            Stored(1),
            dataclasses.replace(DESIRED, post_renderers_digest="sha256:p"),
            state.Status.OUT_OF_SYNC,
            id="post-renderers changed in a new generation",
        ),
        pytest.param(
            release(history=[Stored(1)], generation=1),
            Stored(1),
            dataclasses.replace(DESIRED, post_renderers_digest="sha256:p"),
            state.Status.IN_SYNC,
            id="post-renderers compared only for a new generation",
        ),
        pytest.param(
            release({"test": {"enable": True}}, history=[Stored(1)]),
            Stored(1),
            DESIRED,
            state.Status.UNTESTED,
            id="untested",
        ),
        pytest.param(
            release(
                {"test": {"enable": True}},
                history=[Stored(1)],
                test_hooks={1: {"t": {"phase": "Failed"}}},
                lastAttemptedReleaseAction="install",
            ),
            Stored(1),
            DESIRED,
            state.Status.FAILED,
            id="failed test",
        ),
        pytest.param(
            release(
                {"test": {"enable": True, "ignoreFailures": True}},
                history=[Stored(1)],
                test_hooks={1: {"t": {"phase": "Failed"}}},
                lastAttemptedReleaseAction="install",
            ),
            Stored(1),
            DESIRED,
            state.Status.IN_SYNC,
            id="failed test ignored",
        ),
        pytest.param(
            release(
                {"test": {"enable": True}},
                history=[Stored(1)],
                test_hooks={1: {"t": {"phase": "Succeeded"}}},
            ),
            Stored(1),
            DESIRED,
            state.Status.IN_SYNC,
            id="tested",
        ),
    ],
)
def test_determine(
    obj: helm.HelmRelease, last: Stored | None, desired: state.Desired, want: state.Status
) -> None:
    assert state.determine(obj, last, desired).status == want


def test_determine_verifies_the_digest_with_the_oci_digest() -> None:
    obj = release()
    assert obj.status is not None
    obj.status.history = [snapshots.observe(Stored(1), oci_digest="sha256:abc")]
    assert state.determine(obj, Stored(1), DESIRED).status == state.Status.IN_SYNC
    obj.status.history = [snapshots.observe(Stored(1), oci_digest="sha256:abc")]
    obj.status.history[0].digest = Stored(1).digest()
    assert state.determine(obj, Stored(1), DESIRED).status == state.Status.UNMANAGED


def test_determine_drift_only_when_detection_is_on() -> None:
    calls: list[int] = []

    def drift() -> list[str]:
        calls.append(1)
        return ["ConfigMap/apps/app changed (data.key)"]

    off = release(history=[Stored(1)])
    assert state.determine(off, Stored(1), DESIRED, drift=drift).status == state.Status.IN_SYNC
    assert calls == []
    on = release({"driftDetection": {"mode": "warn"}}, history=[Stored(1)])
    found = state.determine(on, Stored(1), DESIRED, drift=drift)
    assert found.status == state.Status.DRIFTED
    assert found.drift == ("ConfigMap/apps/app changed (data.key)",)


# --- decide ---------------------------------------------------------------------------------


def always_ok(_: helm.Snapshot | None) -> Literal["ok"]:
    return "ok"


def _decide(
    obj: helm.HelmRelease,
    status: state.Status,
    *,
    force: bool = False,
    check: Literal["ok", "missing", "corrupt"] = "ok",
    default_to_retry: bool = False,
) -> state.Action | None:
    return state.decide(
        obj,
        state.State(status),
        force=force,
        default_to_retry=default_to_retry,
        rollback_check=lambda _: check,
    ).action


UPGRADE_RETRIES = {"upgrade": {"remediation": {"retries": 2}}}
ROLLBACK_HISTORY = [Stored(2, status="failed"), Stored(1, status="superseded")]


@pytest.mark.parametrize(
    ("obj", "status", "options", "want"),
    [
        (release(history=[Stored(1)]), state.Status.IN_SYNC, {}, None),
        (release(history=[Stored(1)]), state.Status.IN_SYNC, {"force": True}, state.Action.UPGRADE),
        (release(), state.Status.LOCKED, {}, state.Action.UNLOCK),
        (release(), state.Status.ABSENT, {}, state.Action.INSTALL),
        (release(installFailures=1), state.Status.ABSENT, {"force": True}, state.Action.INSTALL),
        (release(history=[Stored(1)]), state.Status.UNMANAGED, {}, state.Action.UPGRADE),
        (release(history=[Stored(1)]), state.Status.OUT_OF_SYNC, {}, state.Action.UPGRADE),
        (
            release(upgradeFailures=1),
            state.Status.OUT_OF_SYNC,
            {"force": True},
            state.Action.UPGRADE,
        ),
        (release(history=[Stored(1)]), state.Status.UNTESTED, {}, state.Action.TEST),
        (release(installFailures=1), state.Status.FAILED, {}, state.Action.UPGRADE),
        (
            release(lastAttemptedReleaseAction="upgrade", upgradeFailures=0),
            state.Status.FAILED,
            {},
            state.Action.UPGRADE,
        ),
        (
            release(lastAttemptedReleaseAction="upgrade", upgradeFailures=1),
            state.Status.FAILED,
            {"force": True},
            state.Action.UPGRADE,
        ),
        (
            release(
                {"install": {"remediation": {"retries": 3}}},
                lastAttemptedReleaseAction="install",
                installFailures=2,
                history=[Stored(1, status="failed")],
            ),
            state.Status.FAILED,
            {},
            state.Action.UNINSTALL,
        ),
        (
            release(
                {"install": {"strategy": {"name": "RetryOnFailure"}}},
                lastAttemptedReleaseAction="install",
                installFailures=2,
            ),
            state.Status.FAILED,
            {},
            state.Action.UPGRADE,
        ),
        (
            release(
                UPGRADE_RETRIES,
                lastAttemptedReleaseAction="upgrade",
                upgradeFailures=1,
                history=ROLLBACK_HISTORY,
            ),
            state.Status.FAILED,
            {},
            state.Action.ROLLBACK,
        ),
        (
            release(
                {"upgrade": {"remediation": {"retries": 2, "strategy": "uninstall"}}},
                lastAttemptedReleaseAction="upgrade",
                upgradeFailures=1,
                history=ROLLBACK_HISTORY,
            ),
            state.Status.FAILED,
            {},
            state.Action.UNINSTALL,
        ),
        (
            release(
                {"upgrade": {"strategy": {"name": "RetryOnFailure"}}},
                lastAttemptedReleaseAction="upgrade",
                upgradeFailures=1,
                history=ROLLBACK_HISTORY,
            ),
            state.Status.FAILED,
            {},
            state.Action.UPGRADE,
        ),
        (
            release(lastAttemptedReleaseAction="upgrade", upgradeFailures=1),
            state.Status.FAILED,
            {"default_to_retry": True},
            state.Action.UPGRADE,
        ),
        (
            release(
                UPGRADE_RETRIES,
                lastAttemptedReleaseAction="upgrade",
                upgradeFailures=1,
                history=ROLLBACK_HISTORY,
            ),
            state.Status.FAILED,
            {"check": "corrupt"},
            state.Action.UPGRADE,
        ),
        (
            release(
                {"upgrade": {"remediation": {"retries": 1}}},
                lastAttemptedReleaseAction="upgrade",
                upgradeFailures=2,
                history=ROLLBACK_HISTORY,
            ),
            state.Status.FAILED,
            {},
            state.Action.ROLLBACK,
        ),
    ],
    ids=[
        "in-sync: nothing",
        "in-sync with force: upgrade",
        "locked: unlock",
        "absent: install",
        "absent out of retries with force: install",
        "unmanaged: upgrade",
        "out-of-sync: upgrade",
        "out-of-sync out of retries with force: upgrade",
        "untested: test",
        "failed without active remediation: upgrade",
        "failed without failure count: upgrade",
        "failed out of retries with force: upgrade",
        "failed install with retries left: uninstall",
        "failed install under RetryOnFailure: upgrade",
        "failed upgrade with retries left: rollback",
        "failed upgrade with uninstall strategy: uninstall",
        "failed upgrade under RetryOnFailure: upgrade",
        "failed upgrade, DefaultToRetryOnFailure: upgrade",
        "failed upgrade, rollback target changed: upgrade",
        "failed upgrade out of retries, remediateLastFailure by default: rollback",
    ],
)
def test_decide(
    obj: helm.HelmRelease, status: state.Status, options: dict[str, Any], want: state.Action | None
) -> None:
    assert _decide(obj, status, **options) == want


@pytest.mark.parametrize(
    ("obj", "status", "check", "reason"),
    [
        (release(installFailures=1), state.Status.ABSENT, "ok", helm.RETRIES_EXCEEDED_REASON),
        (release(upgradeFailures=1), state.Status.OUT_OF_SYNC, "ok", helm.RETRIES_EXCEEDED_REASON),
        (
            release(lastAttemptedReleaseAction="upgrade", upgradeFailures=1),
            state.Status.FAILED,
            "ok",
            helm.RETRIES_EXCEEDED_REASON,
        ),
        (
            release(
                UPGRADE_RETRIES,
                lastAttemptedReleaseAction="upgrade",
                upgradeFailures=1,
                history=[Stored(2, status="failed")],
            ),
            state.Status.FAILED,
            "missing",
            helm.MISSING_ROLLBACK_TARGET_REASON,
        ),
    ],
    ids=["install exhausted", "upgrade exhausted", "remediation exhausted", "no rollback target"],
)
def test_decide_refuses(
    obj: helm.HelmRelease,
    status: state.Status,
    check: Literal["ok", "missing", "corrupt"],
    reason: str,
) -> None:
    with pytest.raises(state.RefusedError) as refused:
        _decide(obj, status, check=check)
    assert refused.value.reason == reason


def test_in_sync_replaces_stale_remediated_with_released() -> None:
    obj = release(history=[Stored(1)])
    assert obj.status is not None
    obj.status.conditions = conditions.mark_true(
        None, helm.REMEDIATED_CONDITION, reason="RollbackSucceeded", message="x", generation=1
    )
    assert _decide(obj, state.Status.IN_SYNC) is None
    released = conditions.get(obj.status.conditions, helm.RELEASED_CONDITION)
    assert conditions.get(obj.status.conditions, helm.REMEDIATED_CONDITION) is None
    assert released is not None
    assert released.status == "True"
    assert released.reason == helm.UPGRADE_SUCCEEDED_REASON
    assert (
        released.message
        == "Helm upgrade succeeded for release apps/app.v1 with chart podinfo@1.0.0"
    )


def test_in_sync_turns_install_failed_into_succeeded() -> None:
    obj = release(history=[Stored(1)])
    assert obj.status is not None
    obj.status.conditions = conditions.mark_false(
        None, helm.RELEASED_CONDITION, reason=helm.INSTALL_FAILED_REASON, message="x", generation=1
    )
    _decide(obj, state.Status.IN_SYNC)
    released = conditions.get(obj.status.conditions, helm.RELEASED_CONDITION)
    assert released is not None
    assert released.reason == helm.INSTALL_SUCCEEDED_REASON


def test_drift_marks_drifted_and_corrects_only_when_enabled() -> None:
    drift = state.State(
        state.Status.DRIFTED, drift=("Deployment/apps/app changed (spec.replicas)",)
    )
    for mode, want in (("enabled", state.Action.CORRECT_DRIFT), ("warn", None)):
        obj = release({"driftDetection": {"mode": mode}}, history=[Stored(1)])
        decision = state.decide(
            obj, drift, force=False, default_to_retry=False, rollback_check=always_ok
        )
        assert decision.action == want
        assert obj.status is not None
        drifted = conditions.get(obj.status.conditions, helm.DRIFTED_CONDITION)
        assert drifted is not None
        assert drifted.status == "True"
        assert drifted.message == (
            "Cluster state of release apps/app.v1 has drifted from the desired state:\n"
            "Deployment/apps/app changed (spec.replicas)"
        )


def test_failed_truncates_history_to_the_rollback_target() -> None:
    obj = release(
        UPGRADE_RETRIES,
        lastAttemptedReleaseAction="upgrade",
        upgradeFailures=1,
        history=[
            Stored(4, status="failed"),
            Stored(3, status="failed"),
            Stored(2, status="superseded"),
            Stored(1, status="superseded"),
        ],
    )
    targets: list[helm.Snapshot | None] = []

    def check(target: helm.Snapshot | None) -> Literal["ok"]:
        targets.append(target)
        return "ok"

    state.decide(obj, state.State(state.Status.FAILED), force=False, default_to_retry=False,
                 rollback_check=check)  # fmt: skip
    assert obj.status is not None
    assert [s.version for s in obj.status.history or []] == [4, 3, 2]
    assert [t.version if t else None for t in targets] == [2]


def test_snapshot_helpers() -> None:
    untested = snapshots.observe(Stored(1))
    assert not snapshots.has_been_tested(untested)
    none = untested.model_copy(update={"test_hooks": {}})
    assert snapshots.has_been_tested(none)
    running = untested.model_copy(
        update={"test_hooks": {"a": helm.TestHookStatus(phase="Running")}}
    )
    assert not snapshots.has_been_tested(running)
    assert snapshots.full_release_name(untested) == "apps/app.v1"
    assert snapshots.versioned_chart_name(untested) == "podinfo@1.0.0"
    superseded = snapshots.observe(Stored(1, status="superseded"))
    recorded = snapshots.record([none], superseded)
    assert recorded[0].status == "superseded"
    assert recorded[0].test_hooks == {}
    assert recorded[0].action is None
    assert [s.version for s in snapshots.record(recorded, snapshots.observe(Stored(2)))] == [2, 1]
