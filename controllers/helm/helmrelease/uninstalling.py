"""Uninstalls outside the release loop: a moved release target, a deleted HelmRelease.

``target_changed`` is Flux's ``ReleaseTargetChanged``: the storage
namespace, the release namespace or name, or (with
``chartNameChangeStrategy: Reinstall``, the default) the chart name differ
from the current release. ``retarget`` then uninstalls the release from
where it was and clears the history, the failures and the storage
namespace, so the loop installs where it is now wanted. ``uninstall_deleted``
uninstalls the release of a HelmRelease being deleted (a release already
gone is no error; any other failure keeps the finalizer and is retried).
"""

from __future__ import annotations

from controllers.helm import remediation, snapshots
from controllers.helm.engine import engine as engines
from controllers.helm.engine import failures
from controllers.helm.helmrelease import options
from shared.api import helm
from shared.runtime import logging, results


def target_changed(obj: helm.HelmRelease, status: helm.HelmReleaseStatus, chart_name: str) -> bool:
    """Whether the current release is no longer where ``obj`` wants it."""
    current = snapshots.latest(status.history)
    if not status.storage_namespace or current is None:
        return False
    strategy = (obj.spec.upgrade.chart_name_change_strategy if obj.spec.upgrade else None) or (
        "Reinstall"
    )
    return (
        status.storage_namespace != options.storage_namespace(obj)
        or current.namespace != options.release_namespace(obj)
        or current.name != options.release_name(obj)
        or (current.chart_name != chart_name and strategy == "Reinstall")
    )


async def _uninstall(obj: helm.HelmRelease, engine: engines.Engine, name: str) -> bool:
    """Uninstall release ``name``; False when there was none."""
    try:
        await engine.uninstall(options.uninstall_request(obj, name))
    except failures.ReleaseNotFoundError:
        return False
    except failures.EngineError as failed:
        raise results.ReconcileError(
            f"failed to uninstall release: {failed.message}", reason=helm.UNINSTALL_FAILED_REASON
        ) from failed
    return True


async def retarget(
    obj: helm.HelmRelease, status: helm.HelmReleaseStatus, engine: engines.Engine
) -> None:
    """Uninstall the current release (``engine``: where it is stored) and start over."""
    current = snapshots.latest(status.history)
    logging.get_logger().info(
        "release target configuration changed: running uninstall for current release"
    )
    if current is not None:
        await _uninstall(obj, engine, current.name)
    status.history = None
    remediation.clear_failures(status)
    status.storage_namespace = None


async def uninstall_deleted(
    obj: helm.HelmRelease, status: helm.HelmReleaseStatus, engine: engines.Engine
) -> None:
    """Uninstall the release of a HelmRelease being deleted."""
    current = snapshots.latest(status.history)
    name = current.name if current is not None else options.release_name(obj)
    if await _uninstall(obj, engine, name):
        logging.get_logger().info("uninstalled Helm release for deleted resource")
