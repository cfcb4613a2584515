"""Remediation and retry settings of a HelmRelease, with Flux's defaults (pure).

The *active* remediation is the one of the last attempted release action
(``status.lastAttemptedReleaseAction``): install remediation uninstalls and
counts ``installFailures``; upgrade remediation rolls back (or uninstalls,
``strategy: uninstall``) and counts ``upgradeFailures``. ``retries`` is how
many failures are retried (negative: no limit); retries are exhausted once
the count exceeds it. ``remediateLastFailure`` defaults to false for
installs and to ``retries > 0`` for upgrades. Under the ``RetryOnFailure``
strategy (``active_retry``) failures are retried after ``retryInterval``
(5m) with no remediation at all; ``--feature-gates=DefaultToRetryOnFailure``
makes it the default for actions with no strategy.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from shared.api import helm, meta

RETRY_ON_FAILURE = "RetryOnFailure"
DEFAULT_RETRY_INTERVAL = 300.0
INSTALL: Literal["install"] = "install"
UPGRADE: Literal["upgrade"] = "upgrade"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Remediation:
    """The remediation of one action kind (see the module docstring)."""

    action: Literal["install", "upgrade"]
    retries: int
    ignore_test_failures: bool | None
    remediate_last_failure_setting: bool | None
    strategy: Literal["rollback", "uninstall"]

    def failure_count(self, status: helm.HelmReleaseStatus) -> int:
        counted = status.install_failures if self.action == INSTALL else status.upgrade_failures
        return counted or 0

    def increment(self, status: helm.HelmReleaseStatus) -> None:
        if self.action == INSTALL:
            status.install_failures = (status.install_failures or 0) + 1
        else:
            status.upgrade_failures = (status.upgrade_failures or 0) + 1

    def exhausted(self, status: helm.HelmReleaseStatus) -> bool:
        return self.retries >= 0 and self.failure_count(status) > self.retries

    def must_ignore_test_failures(self, default: bool) -> bool:
        return default if self.ignore_test_failures is None else self.ignore_test_failures

    def remediate_last_failure(self) -> bool:
        if self.remediate_last_failure_setting is not None:
            return self.remediate_last_failure_setting
        return self.action == UPGRADE and self.retries > 0

    @property
    def uninstall_after_upgrade(self) -> bool:
        return self.action == UPGRADE and self.strategy == "uninstall"


def install_remediation(spec: helm.HelmReleaseSpec) -> Remediation:
    found = (spec.install.remediation if spec.install else None) or helm.InstallRemediation()
    return Remediation(
        action=INSTALL,
        retries=found.retries or 0,
        ignore_test_failures=found.ignore_test_failures,
        remediate_last_failure_setting=found.remediate_last_failure,
        strategy="uninstall",
    )


def upgrade_remediation(spec: helm.HelmReleaseSpec) -> Remediation:
    found = (spec.upgrade.remediation if spec.upgrade else None) or helm.UpgradeRemediation()
    return Remediation(
        action=UPGRADE,
        retries=found.retries or 0,
        ignore_test_failures=found.ignore_test_failures,
        remediate_last_failure_setting=found.remediate_last_failure,
        strategy=found.strategy or "rollback",
    )


def active(obj: helm.HelmRelease) -> Remediation | None:
    """The remediation of the last attempted release action, None before any."""
    attempted = obj.status.last_attempted_release_action if obj.status else None
    if attempted == INSTALL:
        return install_remediation(obj.spec)
    if attempted == UPGRADE:
        return upgrade_remediation(obj.spec)
    return None


def _retry(
    strategy: helm.InstallStrategy | helm.UpgradeStrategy | None, *, default_to_retry: bool
) -> float | None:
    if strategy is None:
        return DEFAULT_RETRY_INTERVAL if default_to_retry else None
    if strategy.name != RETRY_ON_FAILURE:
        return None
    if strategy.retry_interval is None:
        return DEFAULT_RETRY_INTERVAL
    return meta.parse_duration(strategy.retry_interval).total_seconds()


def install_retry(spec: helm.HelmReleaseSpec, *, default_to_retry: bool) -> float | None:
    """Seconds between install retries under RetryOnFailure; None under remediation."""
    return _retry(
        spec.install.strategy if spec.install else None, default_to_retry=default_to_retry
    )


def upgrade_retry(spec: helm.HelmReleaseSpec, *, default_to_retry: bool) -> float | None:
    """Seconds between upgrade retries under RetryOnFailure; None under remediation."""
    return _retry(
        spec.upgrade.strategy if spec.upgrade else None, default_to_retry=default_to_retry
    )


def active_retry(obj: helm.HelmRelease, *, default_to_retry: bool) -> float | None:
    """The retry interval of the last attempted release action's RetryOnFailure strategy."""
    attempted = obj.status.last_attempted_release_action if obj.status else None
    if attempted == INSTALL:
        return install_retry(obj.spec, default_to_retry=default_to_retry)
    if attempted == UPGRADE:
        return upgrade_retry(obj.spec, default_to_retry=default_to_retry)
    return None


def test_ignores_failures(spec: helm.HelmReleaseSpec) -> bool:
    return bool(spec.test and spec.test.ignore_failures)


def tests_enabled(spec: helm.HelmReleaseSpec) -> bool:
    return bool(spec.test and spec.test.enable)


def drift_mode(spec: helm.HelmReleaseSpec) -> str:
    """``enabled``, ``warn`` or ``disabled`` (an empty mode is disabled)."""
    return (spec.drift_detection.mode if spec.drift_detection else None) or "disabled"


def clear_failures(status: helm.HelmReleaseStatus) -> None:
    status.failures = None
    status.install_failures = None
    status.upgrade_failures = None
