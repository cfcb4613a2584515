"""One stored Helm release revision as a value, and its JSON form (pure, no I/O).

``ReleaseRecord`` holds what Helm's ``release.v1.Release`` holds; ``to_json``
and ``from_json`` convert it to and from the JSON object Helm stores, with
Helm's field names and omissions (``omitempty``/``omitzero``) so that the
Helm SDK decodes what the engine writes and the engine decodes what the SDK
wrote. Times are written as Go writes ``time.Time`` (RFC 3339 with trailing
zeros of the fraction trimmed, ``Z`` for UTC); Go's nanoseconds are read to
the microsecond.

The release labels (``labels``) are not part of the JSON: Helm keeps them as
labels of the storage Secret (``storage`` adds and strips them).
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import re
from collections.abc import Mapping, Sequence
from typing import Any

from controllers.helm.engine import digests


class Status(enum.StrEnum):
    """Helm's release statuses, as stored."""

    UNKNOWN = "unknown"
    DEPLOYED = "deployed"
    UNINSTALLED = "uninstalled"
    SUPERSEDED = "superseded"
    FAILED = "failed"
    UNINSTALLING = "uninstalling"
    PENDING_INSTALL = "pending-install"
    PENDING_UPGRADE = "pending-upgrade"
    PENDING_ROLLBACK = "pending-rollback"

    @property
    def pending(self) -> bool:
        """An action on the release is in progress (or was cut off)."""
        return self in (Status.PENDING_INSTALL, Status.PENDING_UPGRADE, Status.PENDING_ROLLBACK)


class HookPhase(enum.StrEnum):
    UNKNOWN = "Unknown"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"


HOOK_EVENTS = (
    "pre-install",
    "post-install",
    "pre-delete",
    "post-delete",
    "pre-upgrade",
    "post-upgrade",
    "pre-rollback",
    "post-rollback",
    "test",
)


@dataclasses.dataclass(frozen=True)
class HookExecution:
    """When a hook last ran and how it ended (``phase`` empty: never ran)."""

    started_at: datetime.datetime | None = None
    completed_at: datetime.datetime | None = None
    phase: str = ""


@dataclasses.dataclass(frozen=True)
class Hook:
    """A chart hook: one manifest run on ``events``, ordered by ``weight``."""

    name: str
    kind: str
    path: str
    manifest: str
    events: tuple[str, ...]
    last_run: HookExecution = HookExecution()
    weight: int = 0
    delete_policies: tuple[str, ...] = ()
    output_log_policies: tuple[str, ...] = ()

    def runs_on(self, event: str) -> bool:
        return event in self.events


@dataclasses.dataclass(frozen=True)
class ReleaseRecord:
    """One revision of a release, as Helm stores it (see the module docstring).

    ``chart`` is Helm's chart object (``metadata``, ``templates``, ``values``,
    ``schema``, ``files``…) kept as JSON, since only its metadata is read.
    """

    name: str
    namespace: str
    version: int
    status: Status
    chart: Mapping[str, Any]
    config: Mapping[str, Any]
    manifest: str
    hooks: tuple[Hook, ...] = ()
    description: str = ""
    notes: str = ""
    first_deployed: datetime.datetime | None = None
    last_deployed: datetime.datetime | None = None
    deleted: datetime.datetime | None = None
    rollback_revision: int = 0
    labels: Mapping[str, str] = dataclasses.field(default_factory=dict)
    apply_method: str = "ssa"

    @property
    def chart_metadata(self) -> Mapping[str, Any]:
        metadata: Mapping[str, Any] = self.chart.get("metadata") or {}
        return metadata

    @property
    def chart_name(self) -> str:
        return str(self.chart_metadata.get("name", ""))

    @property
    def chart_version(self) -> str:
        return str(self.chart_metadata.get("version", ""))

    @property
    def app_version(self) -> str:
        return str(self.chart_metadata.get("appVersion", ""))

    def with_status(self, status: Status, description: str) -> ReleaseRecord:
        """This revision with a new status and description (Helm's ``SetStatus``)."""
        return dataclasses.replace(self, status=status, description=description)

    def config_digest(self) -> str:
        """Flux's ``sha256:<hex>`` digest of the user-supplied values (``configDigest``)."""
        return digests.values_digest(self.config)

    def digest(self, *, oci_digest: str = "") -> str:
        """Flux's snapshot digest of this revision (``status.history[].digest``)."""
        return digests.snapshot_digest(to_json(self), oci_digest=oci_digest)

    def test_hooks(self) -> tuple[Hook, ...]:
        return tuple(hook for hook in self.hooks if hook.runs_on("test"))


# --- times as Go writes and reads them ------------------------------------------------------

_GO_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})$")
_GO_ZERO_YEAR = 1


def format_time(moment: datetime.datetime) -> str:
    """Go's ``time.RFC3339Nano``: fraction without trailing zeros, ``Z`` for UTC."""
    moment = moment.astimezone(datetime.UTC) if moment.tzinfo else moment
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += "." + f"{moment.microsecond:06d}".rstrip("0")
    return text + "Z"


def parse_time(text: Any) -> datetime.datetime | None:
    """A Go ``time.Time`` JSON string; None for empty or Go's zero time."""
    if not isinstance(text, str) or not text:
        return None
    match = _GO_TIME.match(text)
    if match is None:
        raise ValueError(f"not an RFC 3339 time: {text!r}")
    base, fraction, zone = match.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    offset = "+00:00" if zone == "Z" else zone
    moment = datetime.datetime.fromisoformat(f"{base}.{micro:06d}{offset}")
    if moment.year == _GO_ZERO_YEAR:
        return None
    return moment.astimezone(datetime.UTC)


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


# --- JSON ------------------------------------------------------------------------------------


def _put(target: dict[str, Any], key: str, value: Any) -> None:
    """Go's ``omitempty``/``omitzero``: leave out empty strings, zero, empty lists and None."""
    if value in ("", 0, None) or (isinstance(value, Sequence | Mapping) and not value):
        return
    target[key] = value


def _time(target: dict[str, Any], key: str, moment: datetime.datetime | None) -> None:
    if moment is not None:
        target[key] = format_time(moment)


def hook_to_json(hook: Hook) -> dict[str, Any]:
    """Helm's ``Hook`` JSON object, fields in Go's order."""
    out: dict[str, Any] = {}
    _put(out, "name", hook.name)
    _put(out, "kind", hook.kind)
    _put(out, "path", hook.path)
    _put(out, "manifest", hook.manifest)
    _put(out, "events", list(hook.events))
    run: dict[str, Any] = {}
    _time(run, "started_at", hook.last_run.started_at)
    _time(run, "completed_at", hook.last_run.completed_at)
    run["phase"] = hook.last_run.phase
    out["last_run"] = run
    _put(out, "weight", hook.weight)
    _put(out, "delete_policies", list(hook.delete_policies))
    _put(out, "output_log_policies", list(hook.output_log_policies))
    return out


def hook_from_json(data: Mapping[str, Any]) -> Hook:
    run = data.get("last_run") or {}
    return Hook(
        name=str(data.get("name", "")),
        kind=str(data.get("kind", "")),
        path=str(data.get("path", "")),
        manifest=str(data.get("manifest", "")),
        events=tuple(data.get("events") or ()),
        last_run=HookExecution(
            started_at=parse_time(run.get("started_at")),
            completed_at=parse_time(run.get("completed_at")),
            phase=str(run.get("phase") or ""),
        ),
        weight=int(data.get("weight") or 0),
        delete_policies=tuple(data.get("delete_policies") or ()),
        output_log_policies=tuple(data.get("output_log_policies") or ()),
    )


def info_to_json(record: ReleaseRecord) -> dict[str, Any]:
    """Helm's ``Info`` JSON object, fields in Go's order."""
    info: dict[str, Any] = {}
    _time(info, "first_deployed", record.first_deployed)
    _time(info, "last_deployed", record.last_deployed)
    _time(info, "deleted", record.deleted)
    _put(info, "description", record.description)
    _put(info, "status", str(record.status))
    _put(info, "rollback_revision", record.rollback_revision)
    _put(info, "notes", record.notes)
    return info


def to_json(record: ReleaseRecord) -> dict[str, Any]:
    """Helm's ``Release`` JSON object (without labels), fields in Go's order."""
    out: dict[str, Any] = {}
    _put(out, "name", record.name)
    out["info"] = info_to_json(record)
    out["chart"] = dict(record.chart)
    _put(out, "config", dict(record.config))
    _put(out, "manifest", record.manifest)
    _put(out, "hooks", [hook_to_json(hook) for hook in record.hooks])
    _put(out, "version", record.version)
    _put(out, "namespace", record.namespace)
    _put(out, "apply_method", record.apply_method)
    return out


def from_json(data: Mapping[str, Any], *, labels: Mapping[str, str] | None = None) -> ReleaseRecord:
    """The record of Helm's release JSON; ``ValueError`` when it is not one."""
    if not isinstance(data, Mapping) or not data.get("name"):
        raise ValueError("not a Helm release: no name")
    info = data.get("info") or {}
    try:
        status = Status(info.get("status") or "unknown")
    except ValueError:
        status = Status.UNKNOWN
    return ReleaseRecord(
        name=str(data["name"]),
        namespace=str(data.get("namespace", "")),
        version=int(data.get("version") or 0),
        status=status,
        chart=dict(data.get("chart") or {}),
        config=dict(data.get("config") or {}),
        manifest=str(data.get("manifest", "")),
        hooks=tuple(hook_from_json(hook) for hook in data.get("hooks") or ()),
        description=str(info.get("description", "")),
        notes=str(info.get("notes", "")),
        first_deployed=parse_time(info.get("first_deployed")),
        last_deployed=parse_time(info.get("last_deployed")),
        deleted=parse_time(info.get("deleted")),
        rollback_revision=int(info.get("rollback_revision") or 0),
        labels=dict(labels or {}),
        apply_method=str(data.get("apply_method", "")),
    )
