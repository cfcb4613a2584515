"""The webhook server: ``POST /hook/<digest>`` → verify → annotate the Receiver's resources.

One request, as Flux's receiver server answers it (empty bodies, the status
says it all), checked in this order and refused before any resource is
touched:

==========  ================================================================
405         not a POST (Headwater: Flux accepts any method)
413         a body over ``MAX_BODY_BYTES`` (3 MiB, as Flux)
503         the Receiver cache is not synced yet
404         no Receiver has this ``status.webhookPath`` (query string included)
503         the Receiver is suspended or not Ready
400         the Secret cannot be read, or the request fails its type's
            verification (``verifying``; generic-oidc: the caller's token,
            ``oidc``)
409         a delivery id already handled within ``REPLAY_WINDOW`` (Headwater)
500         the CEL filters cannot read the body, or a resource entry failed
200         every resource entry was handled (a GitHub ``ping``: none is)
==========  ================================================================

Every refusal a caller or a Receiver's owner can cause is one error-level
log line (Flux's words: "unable to validate payload", "receiver is not
ready", …) with the Receiver's name and namespace; accepted calls log
Flux's info lines. No Kubernetes event is recorded for a refusal: an
unauthenticated caller must not be able to make the controller write to the
API server. The Receiver is found through an index of the informer's cache
by its webhook path, and its Secret through ``tokens.SecretCache``, so a
refused request costs no API call at all.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Sequence
from typing import Any

import pydantic
from aiohttp import typedefs, web

from controllers.notification.receiver import filtering, oidc, requesting, tokens, verifying
from shared.api import meta, notification
from shared.kube import client, errors
from shared.runtime import informers, logging, options

WEBHOOK_PATH_INDEX = "webhookPath"
MAX_BODY_BYTES = 3 * 1024 * 1024
REPLAY_WINDOW = 600.0
"""Seconds a handled delivery id is remembered; a second call with it is refused."""
MAX_REMEMBERED_DELIVERIES = 10_000


def webhook_paths(obj: dict[str, Any]) -> list[str]:
    """The index function: a Receiver's ``status.webhookPath``, when it has one."""
    path = (obj.get("status") or {}).get("webhookPath")
    return [path] if path else []


def _ready(obj: dict[str, Any]) -> bool:
    conditions = (obj.get("status") or {}).get("conditions") or []
    return any(c.get("type") == meta.READY and c.get("status") == "True" for c in conditions)


class Deliveries:
    """Delivery ids handled within a window: claimed before the work, released if it fails."""

    def __init__(self, *, window: float = REPLAY_WINDOW, capacity: int = MAX_REMEMBERED_DELIVERIES):
        self._window = window
        self._capacity = capacity
        self._seen: collections.OrderedDict[str, float] = collections.OrderedDict()

    def claim(self, key: str) -> bool:
        """False when ``key`` was claimed within the window; else remember it and say True."""
        now = time.monotonic()
        while self._seen and next(iter(self._seen.values())) < now - self._window:
            self._seen.popitem(last=False)
        if key in self._seen:
            return False
        while len(self._seen) >= self._capacity:
            self._seen.popitem(last=False)
        self._seen[key] = now
        return True

    def release(self, key: str) -> None:
        self._seen.pop(key, None)


class Handler:
    """Answers webhook requests for the Receivers in ``receivers`` (see the module docstring)."""

    def __init__(
        self,
        *,
        api: client.Client,
        receivers: informers.Informer,
        secret_cache: tokens.SecretCache,
        requester: requesting.Requester,
        deliveries: Deliveries | None = None,
        oidc_verifier: oidc.Verifier | None = None,
    ) -> None:
        self._api = api
        self._receivers = receivers
        self._secrets = secret_cache
        self._requester = requester
        self._deliveries = deliveries or Deliveries()
        self._oidc = oidc_verifier or oidc.Verifier()
        self._models: dict[str, tuple[str, notification.Receiver]] = {}
        self._log = logging.get_logger(component="receiver-server")

    async def handle(self, request: web.Request) -> web.StreamResponse:
        digest = request.raw_path.removeprefix(notification.RECEIVER_WEBHOOK_PATH_PREFIX)
        self._log.info(f"handling request: {digest}")
        if request.method != "POST":
            self._log.error(
                "unable to process request", error=f"method {request.method} is not allowed"
            )
            return web.Response(status=405, headers={"Allow": "POST"})
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            self._log.error(
                "reading the request body failed",
                error=f"request body exceeds the maximum size of {MAX_BODY_BYTES} bytes",
            )
            return web.Response(status=413)
        if not self._receivers.synced:
            self._log.error("unable to process request", error="receivers are not synced yet")
            return web.Response(status=503)
        found = self._receivers.by_index(WEBHOOK_PATH_INDEX, request.raw_path)
        if not found:
            return web.Response(status=404)
        raw = found[0]
        metadata = raw["metadata"]
        log = self._log.bind(
            **{"reconciler kind": "Receiver"},
            name=metadata["name"],
            namespace=metadata["namespace"],
        )
        return await self._handle(request, body, raw, log)

    def _parsed(self, raw: dict[str, Any]) -> notification.Receiver:
        """The Receiver model of a cached object, parsed once per resourceVersion.

        NB: parsing evaluates the spec's CEL rules, which costs more than
        everything else a refused request does.
        """
        metadata = raw["metadata"]
        key, version = informers.key_of(raw), metadata.get("resourceVersion", "")
        known = self._models.get(key)
        if known is None or known[0] != version:
            if len(self._models) > len(self._receivers):
                self._models.clear()
            known = (version, notification.Receiver.model_validate(raw))
            self._models[key] = known
        return known[1]

    async def _handle(
        self, request: web.Request, body: bytes, raw: dict[str, Any], log: Any
    ) -> web.StreamResponse:
        try:
            receiver = self._parsed(raw)
        except pydantic.ValidationError as invalid:
            log.error("unable to process request", error=f"invalid Receiver: {invalid}")
            return web.Response(status=503)
        namespace, name = receiver.metadata.namespace or "", receiver.metadata.name
        if receiver.spec.suspend or not _ready(raw):
            what = "receiver is suspended" if receiver.spec.suspend else "receiver is not ready"
            log.error(what, error="unable to process request")
            return web.Response(status=503)
        secret: Any = {}
        if receiver.spec.secret_ref is not None:
            try:
                secret = await self._secrets.get(
                    self._api,
                    receiver_key=f"{namespace}/{name}",
                    namespace=namespace,
                    secret_name=receiver.spec.secret_ref.name,
                )
            except errors.KubeError as error:
                log.error(
                    "unable to validate payload",
                    error=f"unable to read secret, error: {error.message}",
                )
                return web.Response(status=400)
        claims: dict[str, Any] | None = None
        if receiver.spec.type == "generic-oidc":
            try:
                claims = await self._oidc.verify(
                    receiver.spec.oidc_providers or (), request.headers.get("Authorization")
                )
            except oidc.OIDCError as refused:
                log.error("unable to validate payload", error=str(refused))
                return web.Response(status=400)
            return web.Response(
                status=await self._request_all(receiver, request, body, log, claims)
            )
        try:
            verified = verifying.verify(
                receiver.spec.type,
                verifying.Request(headers=request.headers, body=body),
                secret=secret,
                events=receiver.spec.events or (),
            )
        except verifying.RefusedError as refused:
            log.error("unable to validate payload", error=str(refused))
            return web.Response(status=400)
        if verified.google_identity is not None:
            email, audience = verified.google_identity
            try:
                await self._oidc.verify_google(
                    request.headers.get("Authorization"), email=email, audience=audience
                )
            except oidc.OIDCError as refused:
                log.error(
                    "unable to validate payload",
                    error=f"cannot authenticate GCR request: {refused}",
                )
                return web.Response(status=400)
        if verified.log_message:
            log.info(verified.log_message)
        if verified.ping:
            return web.Response(status=200)
        delivery = f"{namespace}/{name}/{verified.delivery}" if verified.delivery else None
        if delivery is not None and not self._deliveries.claim(delivery):
            log.error(
                "unable to validate payload",
                error=f"delivery {verified.delivery} was already handled",
            )
            return web.Response(status=409)
        status = await self._request_all(receiver, request, verified.payload or body, log)
        if status != 200 and delivery is not None:
            self._deliveries.release(delivery)
        return web.Response(status=status)

    async def _request_all(
        self,
        receiver: notification.Receiver,
        request: web.Request,
        body: bytes,
        log: Any,
        claims: dict[str, Any] | None = None,
    ) -> int:
        spec = receiver.spec
        req: dict[str, Any] = {}
        if spec.resource_filter or any(r.filter for r in spec.resources):
            try:
                req = filtering.request_values(
                    content_type=request.headers.get("Content-Type", ""), body=body
                )
            except ValueError as error:
                log.error("unable to create resource filters", error=str(error))
                return 500
        failed = False
        for ref in spec.resources:
            try:
                await self._requester.request(
                    ref,
                    namespace=receiver.metadata.namespace or "",
                    accepts=filtering.Filter(
                        [spec.resource_filter, ref.filter], req=req, claims=claims
                    ),
                    log=log,
                )
            except requesting.RequestError as error:
                log.error(
                    "unable to request reconciliation",
                    error=str(error),
                    resource=ref.model_dump(by_alias=True, exclude_none=True),
                )
                failed = True
        return 500 if failed else 200


def application(
    handler: Handler, *, middlewares: Sequence[typedefs.Middleware] = ()
) -> web.Application:
    """The aiohttp application: every path under ``/hook/`` goes to ``handler``."""
    app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=middlewares)
    app.router.add_route(
        "*", notification.RECEIVER_WEBHOOK_PATH_PREFIX + "{digest:.*}", handler.handle
    )
    return app


async def serve(
    handler: Handler, *, addr: str, middlewares: Sequence[typedefs.Middleware] = ()
) -> None:
    """Serve ``handler`` on ``addr`` (``[host]:port``) until cancelled."""
    host, port = options.split_addr(addr)
    runner = web.AppRunner(application(handler, middlewares=middlewares), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        logging.get_logger().info("starting webhook receiver server", addr=addr)
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
