"""How a HelmRelease's actions are announced: Flux's event metadata, events and log lines.

Every event about a release carries Flux's metadata (the recorder prefixes
the API group, ``helm.toolkit.fluxcd.io/``): the chart version as
``revision``, the config digest as ``token``, and ``app-version`` and
``oci-digest`` when known. A warning is also one log line at error level,
so a failure a user could hit shows as a condition, an event and a log line.
"""

from __future__ import annotations

from shared.api import helm, objects
from shared.runtime import events, logging


def event_metadata(
    chart_version: str, config_digest: str, *, app_version: str = "", oci_digest: str = ""
) -> dict[str, str]:
    """Flux's metadata of a release event (the recorder prefixes the API group)."""
    metadata = {"revision": chart_version, "token": config_digest}
    if app_version:
        metadata["app-version"] = app_version
    if oci_digest:
        metadata["oci-digest"] = oci_digest
    return {key: value for key, value in metadata.items() if value}


def snapshot_metadata(snapshot: helm.Snapshot | None) -> dict[str, str]:
    """The metadata of an event about a recorded revision."""
    if snapshot is None:
        return {}
    return event_metadata(
        snapshot.chart_version,
        snapshot.config_digest,
        app_version=snapshot.app_version or "",
        oci_digest=snapshot.oci_digest or "",
    )


async def announce(
    recorder: events.Recorder,
    obj: helm.HelmRelease,
    *,
    warning: bool,
    reason: str,
    message: str,
    metadata: dict[str, str],
) -> None:
    """One outcome, visible twice more than its condition: an event and a log line.

    A warning logs at error level (the failure's one error line), anything
    else at info level.
    """
    if warning:
        logging.get_logger().error(message, reason=reason, revision=metadata.get("revision"))
    else:
        logging.get_logger().info(message, reason=reason, revision=metadata.get("revision"))
    await recorder.emit(
        objects.dump(obj),
        type_=events.WARNING if warning else events.NORMAL,
        reason=reason,
        message=message,
        metadata=metadata,
    )
