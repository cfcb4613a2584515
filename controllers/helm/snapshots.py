"""``status.history``: the Helm releases made for a HelmRelease, as Flux keeps them (pure).

A snapshot (``helm.Snapshot``) records one release revision as observed in
Helm's storage: name, namespace, version, status, chart, config digest,
times, test hooks and the digest of the whole release record. The history
is kept newest version first. ``truncate`` drops everything older than the
previous successful release (the rollback target), so failures do not pile
up; ``previous`` finds that target. ``observe`` turns a stored release into
a snapshot. The names follow Flux's ``Snapshots`` methods.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Protocol

from shared.api import helm

API_VERSION = "v2"
"""The snapshot format whose ``digest`` can be verified against storage."""
MAX_HISTORY = 5
"""Flux's ``defaultMaxHistory``: snapshots kept when nothing else bounds them."""
DEPLOYED = "deployed"
SUPERSEDED = "superseded"
FAILED = "failed"
UNINSTALLED = "uninstalled"
PENDING = ("pending-install", "pending-upgrade", "pending-rollback")
TEST_FAILED = "Failed"
TEST_SUCCEEDED = "Succeeded"


class Release(Protocol):
    """What the release machinery needs of a stored release (the engine's ``ReleaseRecord``)."""

    @property
    def name(self) -> str: ...
    @property
    def namespace(self) -> str: ...
    @property
    def version(self) -> int: ...
    @property
    def status(self) -> str: ...
    @property
    def chart_name(self) -> str: ...
    @property
    def chart_version(self) -> str: ...
    @property
    def app_version(self) -> str: ...
    @property
    def first_deployed(self) -> datetime.datetime | None: ...
    @property
    def last_deployed(self) -> datetime.datetime | None: ...

    def config_digest(self) -> str: ...

    def digest(self, *, oci_digest: str = "") -> str: ...


def format_time(stamp: datetime.datetime | None) -> str:
    """A time as Kubernetes writes it (UTC, whole seconds); the epoch for none."""
    if stamp is None:
        return "1970-01-01T00:00:00Z"
    return stamp.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def observe(
    release: Release,
    *,
    action: str | None = None,
    oci_digest: str | None = None,
    test_hooks: dict[str, helm.TestHookStatus | None] | None = None,
) -> helm.Snapshot:
    """The snapshot of ``release`` (Flux's ``ObservedToSnapshot(ObserveRelease(...))``)."""
    return helm.Snapshot(
        api_version=API_VERSION,
        digest=release.digest(oci_digest=oci_digest or ""),
        name=release.name,
        namespace=release.namespace,
        version=release.version,
        status=release.status,
        action=action,
        chart_name=release.chart_name,
        chart_version=release.chart_version,
        app_version=release.app_version or None,
        config_digest=release.config_digest(),
        first_deployed=format_time(release.first_deployed),
        last_deployed=format_time(release.last_deployed),
        test_hooks=test_hooks,
        oci_digest=oci_digest,
    )


def targets(snapshot: helm.Snapshot | None, release: Release) -> bool:
    """Whether ``snapshot`` is of the same revision as ``release``."""
    return snapshot is not None and (snapshot.name, snapshot.namespace, snapshot.version) == (
        release.name,
        release.namespace,
        release.version,
    )


def ordered(history: Sequence[helm.Snapshot] | None) -> list[helm.Snapshot]:
    """The history sorted newest version first."""
    return sorted(history or (), key=lambda s: s.version, reverse=True)


def latest(history: Sequence[helm.Snapshot] | None) -> helm.Snapshot | None:
    snapshots = ordered(history)
    return snapshots[0] if snapshots else None


def has_test_in_phase(snapshot: helm.Snapshot | None, phase: str) -> bool:
    hooks = (snapshot.test_hooks if snapshot is not None else None) or {}
    return any(hook is not None and hook.phase == phase for hook in hooks.values())


def has_been_tested(snapshot: helm.Snapshot | None) -> bool:
    """Tests ran to the end: none defined, one failed, or all succeeded."""
    if snapshot is None or snapshot.test_hooks is None:
        return False
    hooks = snapshot.test_hooks
    if not hooks or has_test_in_phase(snapshot, TEST_FAILED):
        return True
    return all(hook is not None and hook.phase == TEST_SUCCEEDED for hook in hooks.values())


def _successful(snapshot: helm.Snapshot, *, ignore_tests: bool) -> bool:
    return snapshot.status in (DEPLOYED, SUPERSEDED) and (
        ignore_tests or not has_test_in_phase(snapshot, TEST_FAILED)
    )


def previous(
    history: Sequence[helm.Snapshot] | None, *, ignore_tests: bool
) -> helm.Snapshot | None:
    """The newest successful release before the latest one: the rollback target."""
    for snapshot in ordered(history)[1:]:
        if _successful(snapshot, ignore_tests=ignore_tests):
            return snapshot
    return None


def truncate(history: Sequence[helm.Snapshot] | None, *, ignore_tests: bool) -> list[helm.Snapshot]:
    """Keep up to the previous successful release; at most ``MAX_HISTORY`` without one."""
    snapshots = ordered(history)
    if len(snapshots) < 2:
        return snapshots
    for index, snapshot in enumerate(snapshots[1:], start=1):
        if _successful(snapshot, ignore_tests=ignore_tests):
            return snapshots[: index + 1]
    return snapshots[:MAX_HISTORY]


def truncate_ignoring_previous(history: Sequence[helm.Snapshot] | None) -> list[helm.Snapshot]:
    """Keep the newest ``MAX_HISTORY`` snapshots (under a retry strategy)."""
    return ordered(history)[:MAX_HISTORY]


def full_release_name(snapshot: helm.Snapshot | None) -> str:
    """``namespace/name.vN`` as Flux writes it in messages."""
    if snapshot is None:
        return ""
    return f"{snapshot.namespace}/{snapshot.name}.v{snapshot.version}"


def versioned_chart_name(snapshot: helm.Snapshot | None) -> str:
    """``chart@version`` as Flux writes it in messages."""
    if snapshot is None:
        return ""
    return f"{snapshot.chart_name}@{snapshot.chart_version}"


def record(history: Sequence[helm.Snapshot] | None, snapshot: helm.Snapshot) -> list[helm.Snapshot]:
    """``snapshot`` put in the history: replacing the one of its revision, else in front.

    A replaced snapshot keeps its test hooks and OCI digest when the new one
    has none (an upgrade superseding it, a rollback marking it); its action
    is the new one's, as Flux re-observes it.
    """
    snapshots = ordered(history)
    for index, old in enumerate(snapshots):
        if (old.name, old.namespace, old.version) == (
            snapshot.name,
            snapshot.namespace,
            snapshot.version,
        ):
            snapshots[index] = snapshot.model_copy(
                update={
                    "test_hooks": snapshot.test_hooks
                    if snapshot.test_hooks is not None
                    else old.test_hooks,
                    "oci_digest": snapshot.oci_digest or old.oci_digest,
                }
            )
            return snapshots
    return ordered([snapshot, *snapshots])
