"""Which Alerts an event matches, and the notification each one sends (pure, no I/O).

Flux's rules, in the order its event server applies them:

- ``clean_metadata``: of the metadata an emitter sent, only keys under the
  involved object's API group or ``event.toolkit.fluxcd.io/`` are kept, and the
  group's ``checksum`` and ``digest`` are dropped.
- ``duplicate_key``: events within the rate-limit interval with the same key
  are duplicates. The key is the involved object's name, namespace and kind,
  the message, and the group's ``originRevision``, ``revision`` and ``token``
  metadata (neither severity nor reason).
- An Alert matches when it is not suspended, one of its ``eventSources`` names
  the object (kind, namespace — the Alert's when empty —, name or ``*``, and
  every ``matchLabels`` label on the live object), the severity passes
  (``info`` takes every event, ``error`` only errors), the message matches one
  ``inclusionList`` expression (when there is one) and none of the
  ``exclusionList``. Expressions are Go RE2 syntax, compiled with google-re2;
  one that does not compile never matches and is reported.
- ``combine_metadata``: the notification's metadata is the event group's
  keys (annotations of the object), then the Alert's ``eventMetadata``, then
  ``summary``, then the emitter's own keys, prefixes stripped; later sources
  win and every overwritten key is reported as a conflict. The ``token`` is
  never sent.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
from collections.abc import Mapping

import re2

from shared.api import meta, notification

EVENT_PREFIX = meta.EVENT_METADATA_PREFIX
SUMMARY_KEY = "summary"

_FROM_ANNOTATIONS = "involved object annotations"
_FROM_EVENT_METADATA = "Alert object .spec.eventMetadata"
_FROM_SUMMARY = "Alert object .spec.summary"
_FROM_EMITTER = "involved object controller metadata"


def object_group(event: notification.Event) -> str:
    """The API group of the event's object ("" for the core group)."""
    api_version = event.involved_object.api_version or ""
    return api_version.rpartition("/")[0]


def clean_metadata(event: notification.Event) -> dict[str, str]:
    """The metadata the intake keeps (see the module docstring)."""
    prefix = object_group(event) + "/"
    excluded = {
        f"{prefix}{notification.META_CHECKSUM_KEY}",
        f"{prefix}{notification.META_DIGEST_KEY}",
    }
    return {
        key: value
        for key, value in (event.metadata or {}).items()
        if key.lower() not in excluded and (key.startswith(EVENT_PREFIX) or key.startswith(prefix))
    }


def duplicate_key(event: notification.Event, metadata: Mapping[str, str]) -> str:
    """The rate-limit key of an event with cleaned ``metadata``: a hex sha256."""
    obj = event.involved_object
    parts = [
        "event",
        f"name={obj.name or ''}",
        f"namespace={obj.namespace or ''}",
        f"kind={obj.kind or ''}",
        f"message={event.message}",
    ]
    group = object_group(event)
    for key in (
        notification.META_ORIGIN_REVISION_KEY,
        notification.META_REVISION_KEY,
        notification.META_TOKEN_KEY,
    ):
        value = metadata.get(f"{group}/{key}")
        if value is not None:
            parts.append(f"{key}={value}")
    return hashlib.sha256("/".join(parts).encode()).hexdigest()


@functools.lru_cache(maxsize=1024)
def _compile(expression: str) -> re2._Regexp | None:
    # NB: a bytes pattern keeps RE2's UTF-8 semantics and spares the wrapper's
    # per-call offset translation of a str search (about three times cheaper).
    try:
        return re2.compile(expression.encode())
    except re2.error:
        return None


@dataclasses.dataclass(frozen=True)
class Verdict:
    """Whether an Alert takes an event, and the expressions that did not compile."""

    matched: bool
    invalid: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class _Source:
    kind: str
    namespace: str
    name: str
    labels: tuple[tuple[str, str], ...] | None


@dataclasses.dataclass(frozen=True)
class Rule:
    """An Alert prepared for matching: sources resolved, expressions compiled once.

    Built by ``rule`` when the Alert (in ``namespace``) changes, so matching an
    event compiles nothing and walks plain tuples.
    """

    alert: notification.Alert
    namespace: str
    sources: tuple[_Source, ...]
    inclusions: tuple[tuple[str, re2._Regexp | None], ...]
    exclusions: tuple[tuple[str, re2._Regexp | None], ...]
    active: bool
    errors_only: bool


def rule(alert: notification.Alert, namespace: str) -> Rule:
    """``alert`` (in ``namespace``) prepared for ``matches``."""
    spec = alert.spec
    return Rule(
        alert=alert,
        namespace=namespace,
        sources=tuple(
            _Source(
                kind=source.kind,
                namespace=source.namespace or namespace,
                name=source.name,
                labels=None if source.match_labels is None else tuple(source.match_labels.items()),
            )
            for source in spec.event_sources
        ),
        inclusions=tuple((e, _compile(e)) for e in spec.inclusion_list or ()),
        exclusions=tuple((e, _compile(e)) for e in spec.exclusion_list or ()),
        active=not spec.suspend,
        errors_only=spec.event_severity == notification.SEVERITY_ERROR,
    )


def _names(source: _Source, obj: notification.ObjectReference) -> bool:
    return (
        obj.namespace == source.namespace
        and obj.kind == source.kind
        and source.name in ("*", obj.name)
    )


def needs_labels(prepared: Rule, event: notification.Event) -> bool:
    """Whether deciding ``prepared`` needs the labels of the event's object."""
    obj = event.involved_object
    return any(s.labels is not None and _names(s, obj) for s in prepared.sources)


def matches(
    prepared: Rule, event: notification.Event, *, labels: Mapping[str, str] | None
) -> Verdict:
    """Whether the Alert of ``prepared`` takes ``event``; ``labels`` are its object's.

    ``labels`` is None when they were not read (no source needs them) or the
    object is gone: a source with ``matchLabels`` then does not match.
    """
    if not prepared.active or (
        prepared.errors_only and event.severity != notification.SEVERITY_ERROR
    ):
        return Verdict(False)
    obj = event.involved_object
    for source in prepared.sources:
        if _names(source, obj) and (
            source.labels is None
            or (labels is not None and all(labels.get(k) == v for k, v in source.labels))
        ):
            break
    else:
        return Verdict(False)
    message = event.message.encode()
    invalid: list[str] = []
    included = not prepared.inclusions
    for expression, compiled in prepared.inclusions:
        if compiled is None:
            invalid.append(expression)
        elif compiled.search(message):
            included = True
            break
    if not included:
        return Verdict(False, tuple(invalid))
    for expression, compiled in prepared.exclusions:
        if compiled is None:
            invalid.append(expression)
        elif compiled.search(message):
            return Verdict(False, tuple(invalid))
    return Verdict(True, tuple(invalid))


@dataclasses.dataclass(frozen=True)
class Combined:
    """A notification's metadata and the keys more than one source set."""

    metadata: dict[str, str]
    conflicts: dict[str, str]  # key -> the sources, comma-separated


def combine_metadata(
    alert: notification.Alert, event: notification.Event, metadata: Mapping[str, str]
) -> Combined:
    """The metadata a notification carries (see the module docstring)."""
    combined: dict[str, str] = {}
    sources: dict[str, str] = {}
    conflicts: dict[str, str] = {}

    def put(key: str, value: str, source: str) -> None:
        combined[key] = value
        if key in sources:
            conflicts[key] = sources[key] = f"{sources[key]}, {source}"
        else:
            sources[key] = source

    for key, value in metadata.items():
        if key.startswith(EVENT_PREFIX):
            put(key[len(EVENT_PREFIX) :], value, _FROM_ANNOTATIONS)
    for key, value in (alert.spec.event_metadata or {}).items():
        put(key, value, _FROM_EVENT_METADATA)
    if alert.spec.summary:
        put(SUMMARY_KEY, alert.spec.summary, _FROM_SUMMARY)
    prefix = object_group(event) + "/"
    token = prefix + notification.META_TOKEN_KEY
    for key, value in metadata.items():
        if key.startswith(prefix) and key != token:
            put(key[len(prefix) :], value, _FROM_EMITTER)
    return Combined(combined, dict(sorted(conflicts.items())))
