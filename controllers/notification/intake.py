"""The event intake: Flux's event JSON in, notifications queued per Provider.

``POST /`` (any path, as Flux's mux serves ``/``) with the JSON every
controller sends (``shared.runtime.events``). Answers, as Flux's event server:

- 405 for another method than POST, 400 when the body is not a valid event,
  413 beyond 3 MiB;
- 429 when the same event (``matching.duplicate_key``) was accepted within
  ``--rate-limit-interval`` (5 minutes): the emitter takes it as delivered;
- 202 otherwise, once the notifications are queued — delivery happens in the
  Providers' own queues (``delivery``), never while the emitter waits.

Alerts and Providers come from informers (they are static objects without a
status). What cannot be delivered — a missing Provider, an unreadable Secret,
a cross-namespace source under ``--no-cross-namespace-refs``, a provider that
keeps failing — is logged once at error level and recorded as a Warning
event on the Alert (``NotificationDispatchFailed``); an expression that does
not compile gives ``InvalidConfig``, an unreadable object for ``matchLabels``
``SourceFetchFailed`` and overwritten metadata keys ``MetadataAppendFailed``.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import functools
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, cast

import pydantic
from aiohttp import typedefs, web

from controllers.notification import delivery, matching, notifiers, providers
from shared.api import notification
from shared.kube import client, errors, resources
from shared.runtime import events, informers, logging

MAX_REQUEST_BYTES = 3 * 1024 * 1024
SOURCES_INDEX = "eventSources"
DEFAULT_RATE_LIMIT_INTERVAL = 300.0


class DuplicateFilter:
    """Keys seen within ``interval`` seconds; a key is free again once it expires."""

    def __init__(self, interval: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._interval = interval
        self._clock = clock
        self._expiries: collections.OrderedDict[str, float] = collections.OrderedDict()

    def admit(self, key: str) -> bool:
        """True the first time ``key`` is seen in the interval, False for a duplicate."""
        now = self._clock()
        # Expiries grow with insertion order, so the expired ones are at the front.
        while self._expiries:
            oldest, expiry = next(iter(self._expiries.items()))
            if expiry > now:
                break
            del self._expiries[oldest]
        if key in self._expiries:
            return False
        self._expiries[key] = now + self._interval
        return True


@dataclasses.dataclass
class _Parsed:
    resource_version: str
    model: Any


def _reference(obj: notification.ObjectReference) -> str:
    return f"{obj.kind}/{obj.namespace}/{obj.name}"


def source_keys(alert: dict[str, Any]) -> list[str]:
    """``<kind>/<namespace>/<name or *>`` of every event source of a raw Alert.

    The intake's index (a source's namespace is the Alert's when unset): an
    event is matched only against the Alerts that name its object or ``*``
    in its kind and namespace, not against every Alert.
    """
    namespace = alert["metadata"].get("namespace", "")
    sources = (alert.get("spec") or {}).get("eventSources") or []
    return [f"{s.get('kind')}/{s.get('namespace') or namespace}/{s.get('name')}" for s in sources]


class Intake:
    """Serves the event intake (see the module docstring)."""

    def __init__(
        self,
        *,
        api: client.Client,
        discovery: resources.Discovery,
        recorder: events.Recorder,
        alerts: informers.Informer,
        providers_informer: informers.Informer,
        dispatcher: delivery.Dispatcher,
        no_cross_namespace_refs: bool = False,
        rate_limit_interval: float = DEFAULT_RATE_LIMIT_INTERVAL,
    ) -> None:
        self._api = api
        self._discovery = discovery
        self._recorder = recorder
        self._alerts = alerts
        alerts.add_index(SOURCES_INDEX, source_keys)
        alerts.add_handler(self._forget)
        providers_informer.add_handler(self._forget)
        self._providers = providers_informer
        self._dispatcher = dispatcher
        self._no_cross_namespace_refs = no_cross_namespace_refs
        self._duplicates = DuplicateFilter(rate_limit_interval)
        self._parsed: dict[str, _Parsed] = {}
        self._log = logging.get_logger(component="event-server")

    def _forget(self, event_type: str, obj: dict[str, Any], _: dict[str, Any] | None) -> None:
        """Drop the parsed model of a deleted Alert or Provider."""
        if event_type == informers.DELETED:
            self._parsed.pop(f"{obj.get('kind')}/{informers.key_of(obj)}", None)

    async def wait_synced(self) -> None:
        """Until the Alerts and Providers are cached: before that every event would be lost."""
        await self._alerts.wait_synced()
        await self._providers.wait_synced()

    def server(self, *, middlewares: Sequence[typedefs.Middleware] = ()) -> web.Server:
        """aiohttp's low-level server for the intake, ``middlewares`` around ``handle``.

        NB: every path is the intake, so an application's router and middleware
        chain would only cost time; this saves about a tenth of the HTTP work
        of an event.
        """
        handler: Callable[[web.BaseRequest], Awaitable[web.StreamResponse]] = self.handle
        for middleware in reversed(middlewares):
            # NB: typed for web.Request; what they read (path, method) a BaseRequest has.
            handler = functools.partial(cast(Any, middleware), handler=handler)

        def request(
            message: Any, payload: Any, protocol: Any, writer: Any, task: Any
        ) -> web.BaseRequest:
            # The body limit is an application setting; here it is the request's own.
            return web.BaseRequest(
                message,
                payload,
                protocol,
                writer,
                task,
                asyncio.get_running_loop(),
                client_max_size=MAX_REQUEST_BYTES,
            )

        return web.Server(handler, request_factory=request)

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        if request.method != "POST":
            return web.Response(status=405, headers={"Allow": "POST"})
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            self._log.error(
                "reading the request body failed",
                error=f"request body exceeds the maximum size of {MAX_REQUEST_BYTES} bytes",
            )
            return web.Response(status=413)
        try:
            event = notification.Event.model_validate_json(body)
        except pydantic.ValidationError as error:
            self._log.error(
                "decoding the request body failed",
                error=str(error.errors(include_url=False, include_input=False)),
            )
            return web.Response(status=400)
        metadata = matching.clean_metadata(event)
        if not self._duplicates.admit(matching.duplicate_key(event, metadata)):
            self._log.debug("Discarding event, rate limiting duplicate events")
            return web.Response(status=429)
        await self.dispatch(event, metadata)
        return web.Response(status=202)

    def _model(
        self,
        obj: dict[str, Any],
        kind: type[pydantic.BaseModel],
        prepare: Callable[[Any], Any] | None = None,
    ) -> Any:
        """``obj`` parsed as ``kind`` (and ``prepare``d), cached by resource version.

        None when the object is invalid. Parsing and preparing once per
        version keeps validation and regex compilation off the per-event path.
        """
        key = f"{obj['kind']}/{informers.key_of(obj)}"
        version = str(obj["metadata"].get("resourceVersion", ""))
        cached = self._parsed.get(key)
        if cached is None or cached.resource_version != version:
            try:
                model: Any = kind.model_validate(obj)
                if prepare is not None:
                    model = prepare(model)
            except pydantic.ValidationError as error:
                # Once per version: the API server's schema makes this rare.
                self._log.error(
                    "invalid object ignored",
                    object=key,
                    error=str(error.errors(include_url=False, include_input=False)),
                )
                model = None
            cached = self._parsed[key] = _Parsed(version, model)
        return cached.model

    @staticmethod
    def _prepare_alert(obj: dict[str, Any]) -> Callable[[notification.Alert], matching.Rule]:
        namespace = obj["metadata"]["namespace"]
        return lambda alert: matching.rule(alert, namespace)

    async def dispatch(self, event: notification.Event, metadata: dict[str, str]) -> None:
        """Queue the notifications of an admitted event with cleaned ``metadata``."""
        candidates = []
        involved = event.involved_object
        prefix = f"{involved.kind}/{involved.namespace}/"
        indexed = {
            informers.key_of(obj): obj
            for name in (involved.name, "*")
            for obj in self._alerts.by_index(SOURCES_INDEX, prefix + str(name))
        }
        for key in sorted(indexed):
            obj = indexed[key]
            rule = self._model(obj, notification.Alert, self._prepare_alert(obj))
            if rule is not None:
                candidates.append((obj, rule))
        labels: dict[str, str] | None = None
        needy = [obj for obj, rule in candidates if matching.needs_labels(rule, event)]
        if needy:
            labels = await self._labels(event, needy)
        matched = 0
        for obj, rule in candidates:
            verdict = matching.matches(rule, event, labels=labels)
            for expression in verdict.invalid:
                await self._warn(
                    obj,
                    notification.INVALID_CONFIG_REASON,
                    f"failed to compile regex: {expression}",
                )
            if verdict.matched:
                if not matched:
                    self._log.info(
                        "dispatching event",
                        eventInvolvedObject=_reference(event.involved_object),
                        message=event.message,
                    )
                matched += 1
                await self._notify(obj, rule.alert, event, metadata)
        if not matched:
            self._log.info(
                "discarding event, no alerts found for the involved object",
                eventInvolvedObject=_reference(event.involved_object),
            )

    async def _labels(
        self, event: notification.Event, alerts: list[dict[str, Any]]
    ) -> dict[str, str] | None:
        obj = event.involved_object
        try:
            resource = await self._discovery.resolve(obj.api_version or "", obj.kind or "")
            found = await self._api.request(
                "GET", resource.path(namespace=obj.namespace, name=obj.name), verb="get"
            )
        except errors.KubeError as error:
            for alert in alerts:
                self._log.error(
                    "error getting the involved object",
                    error=str(error),
                    alert=informers.key_of(alert),
                )
                await self._warn(
                    alert,
                    notification.SOURCE_FETCH_FAILED_REASON,
                    f"error getting source object {_reference(obj)}",
                )
            return None
        return dict(found.get("metadata", {}).get("labels") or {})

    async def _notify(
        self,
        obj: dict[str, Any],
        alert: notification.Alert,
        event: notification.Event,
        metadata: dict[str, str],
    ) -> None:
        namespace = obj["metadata"]["namespace"]
        provider_key = f"{namespace}/{alert.spec.provider_ref.name}"
        context = {
            "alert": informers.key_of(obj),
            "provider": provider_key,
            "eventInvolvedObject": _reference(event.involved_object),
        }
        try:
            job = await self._job(obj, alert, event, metadata, provider_key, context)
        except providers.ProviderError as error:
            await self.report(obj, context, f"failed to dispatch notification for "
                              f"{_reference(event.involved_object)}: {error}")  # fmt: skip
            return
        if job is None:
            return
        if not self._dispatcher.submit(provider_key, job):
            await self.report(
                obj,
                context,
                f"failed to dispatch notification for {_reference(event.involved_object)}: "
                f"the queue of provider '{provider_key}' is full",
            )

    async def _job(
        self,
        obj: dict[str, Any],
        alert: notification.Alert,
        event: notification.Event,
        metadata: dict[str, str],
        provider_key: str,
        context: dict[str, str],
    ) -> delivery.Job | None:
        namespace = obj["metadata"]["namespace"]
        if self._no_cross_namespace_refs and event.involved_object.namespace != namespace:
            raise providers.ProviderError(
                "discarding event, access denied to cross-namespace sources: alert "
                f"'{informers.key_of(obj)}' can't process event from "
                f"'{_reference(event.involved_object)}', cross-namespace references have "
                "been blocked"
            )
        provider_obj = self._providers.get(provider_key)
        if provider_obj is None:
            raise providers.ProviderError(
                f"failed to read provider: provider '{provider_key}' not found"
            )
        provider = self._model(provider_obj, notification.Provider)
        if provider is None:
            raise providers.ProviderError(f"failed to read provider: '{provider_key}' is invalid")
        spec: notification.ProviderSpec = provider.spec
        if spec.suspend:
            return None
        group = matching.object_group(event)
        status_update = (
            metadata.get(f"{group}/{notification.META_COMMIT_STATUS_KEY}")
            == notification.META_COMMIT_STATUS_UPDATE_VALUE
        )
        commit_status = spec.type in notification.COMMIT_STATUS_PROVIDER_TYPES
        if not commit_status and spec.type not in ("generic", "generic-hmac") and status_update:
            return None
        has_commit = bool(metadata.get(matching.EVENT_PREFIX + notification.META_COMMIT_KEY))
        if (
            commit_status
            and not has_commit
            and not status_update
            and event.severity != notification.SEVERITY_ERROR
        ):
            self._log.info(
                "event dropped for commit status providers due to missing commit metadata key",
                alerts=[informers.key_of(obj)],
            )
            return None
        change_request = matching.EVENT_PREFIX + notifiers.CHANGE_REQUEST_KEY
        if spec.type in notification.CHANGE_REQUEST_PROVIDER_TYPES and not metadata.get(
            change_request
        ):
            self._log.info(
                "event dropped for change request providers due to missing change request "
                "metadata key",
                alerts=[informers.key_of(obj)],
            )
            return None
        combined = matching.combine_metadata(alert, event, metadata)
        if combined.conflicts:
            self._log.info(
                "warning: metadata key conflicts detected",
                conflictingKeys=combined.conflicts,
                **context,
            )
            await self._warn(
                obj,
                notification.METADATA_APPEND_FAILED_REASON,
                "metadata key conflicts detected (please refer to the Alert API docs and "
                "Flux RFC 0008 for more information)",
            )
        notified = event.model_copy(update={"metadata": combined.metadata or None})
        return await providers.resolve(
            self._api, provider_obj, spec, notified, alert=obj, context=context
        )

    async def report(self, alert: dict[str, Any], context: dict[str, str], message: str) -> None:
        """A notification that cannot be delivered: one error log line and a Warning event."""
        self._log.error("failed to dispatch notification", error=message, **context)
        await self._warn(alert, notification.NOTIFICATION_DISPATCH_FAILED_REASON, message)

    async def _warn(self, alert: dict[str, Any], reason: str, message: str) -> None:
        await self._recorder.emit(alert, type_=events.WARNING, reason=reason, message=message)

    async def on_delivery_failure(self, job: delivery.Job, message: str) -> None:
        """``delivery.Dispatcher``'s failure report: on the Alert named in the job."""
        alert = self._alerts.get(job.context.get("alert", ""))
        context = job.context
        text = f"failed to send notification for {context.get('eventInvolvedObject')}: {message}"
        if alert is None:
            self._log.error("failed to send notification", error=message, **context)
            return
        await self.report(alert, context, text)
