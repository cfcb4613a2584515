"""The devcluster HTTP server: routing, middleware, lifecycle.

``run`` opens the store, builds the ``Cluster``, serves HTTP (or HTTPS with
a bearer token), writes the kubeconfig only once requests are accepted, then
starts the controller manager (simulated kubelet, garbage collector) as a
supervised child process that is a client of its own API (``controllerprocess``),
and when ``stop`` is set stops that child by PID before closing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import logging
import pathlib
import secrets
import ssl
from collections.abc import Awaitable, Callable

from aiohttp import web

from devcluster.auth import authorizing, identities, rbacpolicy, reviews, tokens
from devcluster.controllers import controllerprocess
from devcluster.endpoints import discovery, gnostic, handlers, openapi, openapiv2, requests
from devcluster.machinery import errors
from devcluster.registry import cluster as cluster_mod
from devcluster.schemas import resources
from devcluster.serializers import encoding
from devcluster.server import kubeconfig
from devcluster.storage import storage
from devcluster.structuredmerge import typeinfo

log = logging.getLogger("devcluster")
BODY_LIMIT = 3 * 1024 * 1024
VERSION = {
    "major": "1",
    "minor": "37",
    "emulationMajor": "1",
    "emulationMinor": "37",
    "minCompatibilityMajor": "1",
    "minCompatibilityMinor": "36",
    "gitVersion": "v1.37.1+devcluster",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "python",
    "compiler": "python",
    "platform": "linux/amd64",
}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclasses.dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 0
    kubeconfig: pathlib.Path | None = None
    data_dir: pathlib.Path | None = None
    tls: bool = False
    simulate_delay: float = 0.3
    token: str | None = None
    controllers: bool = True
    watch_history: int = 20000
    # "AlwaysAllow" (every request as the admin) or "RBAC" (``authorizing``).
    authorization_mode: str = "AlwaysAllow"


class Server:
    """Routes requests to discovery, OpenAPI and REST handlers of one ``Cluster``."""

    def __init__(
        self,
        state: cluster_mod.Cluster,
        *,
        token: str | None,
        address: str,
        issuer: tokens.Issuer | None = None,
        rbac: bool = False,
        ca: bytes = b"",
    ) -> None:
        self.state = state
        self.token = token
        self.address = address
        self.tokens = issuer or tokens.Issuer()
        self.gate = (
            authorizing.Gate(state, token=token, issuer=self.tokens, ca=ca) if rbac else None
        )
        self._openapi: dict[str, tuple[str, bytes]] = {}
        # /openapi/v2 by media type: (identity of the served resources, body).
        self._openapi_v2: dict[str, tuple[str, bytes]] = {}
        self._openapi_v2_lock = asyncio.Lock()

    def app(self) -> web.Application:
        app = web.Application(client_max_size=BODY_LIMIT, middlewares=[self._guard])
        app.router.add_route("*", "/{tail:.*}", self.dispatch)
        return app

    @web.middleware
    async def _guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            health = request.path in ("/healthz", "/livez", "/readyz")
            if self.gate is not None and not health:
                try:
                    self.gate.admit(request)
                except identities.ImpersonationError as error:
                    return authorizing.impersonation_failure(request, error)
            elif self.token is not None and not health:
                given = request.headers.get("Authorization", "")
                if not secrets.compare_digest(given.encode(), f"Bearer {self.token}".encode()):
                    raise errors.unauthorized()
            return await handler(request)
        except errors.ApiError as error:
            return handlers.reply(error.status(), status=error.code)
        except web.HTTPRequestEntityTooLarge:
            too_large = errors.too_large(BODY_LIMIT)
            return handlers.reply(too_large.status(), status=too_large.code)
        except web.HTTPException:
            raise
        except (ConnectionResetError, asyncio.CancelledError):
            raise
        except Exception as failure:
            log.exception("request failed: %s %s", request.method, request.path_qs)
            internal = errors.internal(repr(failure))
            return handlers.reply(internal.status(), status=internal.code)

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.path.rstrip("/") or "/"
        method = request.method
        if path in ("/healthz", "/livez", "/readyz"):
            return web.Response(text="ok")
        if method == "GET" and path == "/openapi/v2":
            return await self._serve_openapi_v2(request)
        if method == "GET":
            found = self._non_resource(request, path)
            if found is not None:
                return found
        target = requests.parse_path(self.state.registry, path)
        if target is None:
            raise errors.no_resource(path)
        if target.resource.key in resources.REVIEWS:
            return await reviews.create(request, target, gate=self.gate)
        if target.subresource == "finalize" and method != "PUT":
            raise errors.method_not_allowed()
        if target.resource.verbs != resources.VERBS and not target.subresource:
            verb = {"GET": "list" if target.name is None else "get", "POST": "create"}.get(
                method, method.lower()
            )
            if verb not in target.resource.verbs:
                raise errors.method_not_allowed()
        response = await self._rest(request, target)
        if self.gate is not None and method not in ("GET", "HEAD") and response.status < 300:
            self.gate.after_write(target)
        return response

    async def _rest(self, request: web.Request, target: requests.Target) -> web.StreamResponse:
        method = request.method
        if target.subresource == "scale":
            return await handlers.scale(request, self.state, target)
        if target.subresource == "token":
            return await tokens.create(request, self.state, target, self.tokens)
        if method == "GET":
            if target.name is None:
                return await handlers.list_or_watch(request, self.state, target)
            return await handlers.get(request, self.state, target)
        if method == "POST":
            return await handlers.create(request, self.state, target)
        if method == "PUT":
            return await handlers.replace(request, self.state, target)
        if method == "PATCH":
            return await handlers.patch(request, self.state, target)
        if method == "DELETE":
            if target.name is None:
                return await handlers.delete_collection(request, self.state, target)
            return await handlers.delete(request, self.state, target)
        raise errors.method_not_allowed()

    def _non_resource(self, request: web.Request, path: str) -> web.StreamResponse | None:
        registry = self.state.registry
        accept = request.headers.get("Accept")
        if path == "/version":
            return handlers.reply(VERSION)
        if path == "/":
            return handlers.reply({"paths": self._root_paths()})
        if path in ("/api", "/apis"):
            aggregated = discovery.negotiate_aggregated(accept)
            if aggregated is not None:
                body = discovery.aggregated(registry, legacy=path == "/api", version=aggregated)
                return handlers.reply(
                    body, content_type=discovery.aggregated_content_type(aggregated)
                )
            if path == "/api":
                return handlers.reply(discovery.api_versions(self.address))
            return handlers.reply(discovery.group_list(registry))
        if path == "/openapi/v3":
            hashes = {key: self._hash(key) for key in self._openapi_keys()}
            return handlers.reply(openapi.index(registry, hashes))
        if path.startswith("/openapi/v3/"):
            key = path[len("/openapi/v3/") :]
            document = self._openapi_document(key)
            if document is None:
                raise errors.no_resource(path)
            return web.Response(body=document, content_type="application/json")
        segments = path.strip("/").split("/")
        if segments[0] == "api" and len(segments) == 2:
            doc = discovery.resource_list(registry, "", segments[1])
        elif segments[0] == "apis" and len(segments) == 2:
            doc = discovery.group(registry, segments[1])
        elif segments[0] == "apis" and len(segments) == 3:
            doc = discovery.resource_list(registry, segments[1], segments[2])
        else:
            return None
        if doc is None:
            raise errors.no_resource(path)
        return handlers.reply(doc)

    def _root_paths(self) -> list[str]:
        paths = [
            "/api",
            "/api/v1",
            "/apis",
            "/healthz",
            "/livez",
            "/openapi/v2",
            "/openapi/v3",
            "/readyz",
            "/version",
        ]
        for group, versions in self.state.registry.group_versions().items():
            if group:
                paths.append(f"/apis/{group}")
                paths.extend(f"/apis/{group}/{version}" for version in versions)
        return sorted(paths)

    def _openapi_keys(self) -> list[str]:
        keys: list[str] = []
        for group, versions in self.state.registry.group_versions().items():
            keys.extend(f"apis/{group}/{v}" if group else f"api/{v}" for v in versions)
        return keys

    def _gv(self, key: str) -> tuple[str, str] | None:
        parts = key.split("/")
        if len(parts) == 2 and parts[0] == "api":
            return "", parts[1]
        if len(parts) == 3 and parts[0] == "apis":
            return parts[1], parts[2]
        return None

    def _hash(self, key: str) -> str:
        """Changes exactly when the document would (CRD versions of the group-version)."""
        gv = self._gv(key)
        if gv is None:
            return ""
        identity = [
            (r.plural, (r.crd or {}).get("metadata", {}).get("resourceVersion"))
            for r in sorted(self.state.registry.in_group_version(*gv), key=lambda r: r.plural)
        ]
        return hashlib.sha256(json.dumps([key, identity]).encode()).hexdigest()[:32].upper()

    def _openapi_document(self, key: str) -> bytes | None:
        gv = self._gv(key)
        if gv is None:
            return None
        digest = self._hash(key)
        cached = self._openapi.get(key)
        if cached is not None and cached[0] == digest:
            return cached[1]
        doc = openapi.document(self.state.registry, *gv)
        if doc is None:
            return None
        body = encoding.to_json(doc)
        self._openapi[key] = (digest, body)
        return body

    def _identity(self) -> str:
        """Changes exactly when ``/openapi/v2`` would: served resources and CRD versions."""
        identity = sorted(
            (r.group, r.version, r.plural, (r.crd or {}).get("metadata", {}).get("resourceVersion"))
            for r in self.state.registry.all()
        )
        return hashlib.sha256(json.dumps(identity).encode()).hexdigest()[:32].upper()

    async def _serve_openapi_v2(self, request: web.Request) -> web.Response:
        """``/openapi/v2`` as JSON or gnostic protobuf, with an ETag, as the API server has it."""
        media = openapiv2.negotiate(request.headers.get("Accept"))
        if media is None:
            # NB: the API server's OpenAPI handler answers a bare 406, no Status body.
            return web.Response(status=406, headers={"Vary": "Accept"})
        body = await self._openapi_v2_body(media)
        etag = '"' + openapi.digest(body) + '"'
        headers = {"ETag": etag, "Vary": "Accept"}
        if etag in (tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")):
            return web.Response(status=304, headers=headers)
        return web.Response(body=body, content_type=media, headers=headers)

    async def _openapi_v2_body(self, media: str) -> bytes:
        # NB: one build at a time; a request waiting here finds the fresh cache.
        async with self._openapi_v2_lock:
            identity = self._identity()
            cached = self._openapi_v2.get(media)
            if cached is not None and cached[0] == identity:
                return cached[1]
            doc = openapiv2.document(self.state.registry)
            if media == openapiv2.JSON:
                body = encoding.to_json(doc)
            else:
                # The protobuf encoder is pure Python (~0.3 s for the whole
                # document): keep the event loop serving meanwhile. ``doc`` is
                # this build's own, so another thread may read it.
                body = await asyncio.to_thread(gnostic.encode, doc)
            self._openapi_v2[media] = (identity, body)
            return body


async def run(
    settings: Settings,
    *,
    stop: asyncio.Event,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve until ``stop`` is set; ``on_ready(base_url)`` once requests are accepted."""
    store = storage.open_storage(settings.data_dir)
    state = cluster_mod.Cluster(
        store=store, catalog=typeinfo.load_builtin(), watch_history=settings.watch_history
    )
    token = settings.token
    ssl_context: ssl.SSLContext | None = None
    credentials: kubeconfig.Credentials | None = None
    if settings.tls:
        credentials = kubeconfig.self_signed(settings.host)
        ssl_context = credentials.server_context()
        token = token or secrets.token_urlsafe(24)
    scheme = "https" if settings.tls else "http"
    rbac = settings.authorization_mode == "RBAC"
    if rbac:
        rbacpolicy.ensure_bootstrap(state)
        rbacpolicy.aggregate(state)
    server = Server(
        state,
        token=token,
        address=f"{settings.host}:{settings.port}",
        issuer=tokens.Issuer(key=_signing_key(settings.data_dir)),
        rbac=rbac,
        ca=credentials.cert.read_bytes() if credentials is not None else b"",
    )
    runner = web.AppRunner(server.app(), access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port, ssl_context=ssl_context)
    await site.start()
    port = _bound_port(runner, settings.port)
    base_url = f"{scheme}://{settings.host}:{port}"
    server.address = f"{settings.host}:{port}"
    supervising: asyncio.Task[None] | None = None
    try:
        if settings.kubeconfig is not None:
            kubeconfig.write(
                settings.kubeconfig, server=base_url, token=token, credentials=credentials
            )
        if settings.controllers:
            launch = controllerprocess.Launch(
                base_url=base_url,
                token=token,
                ca_file=credentials.cert if credentials is not None else None,
                simulate_delay=settings.simulate_delay,
            )
            supervisor = controllerprocess.Supervisor(launch)
            supervising = asyncio.create_task(supervisor.run(stop))
            state.collector_running = True
        if on_ready is not None:
            on_ready(base_url)
        log.info("devcluster serving on %s", base_url)
        await stop.wait()
    finally:
        if supervising is not None:
            if not stop.is_set():
                # Failing, not stopping: cancelling still stops the child.
                supervising.cancel()
            await asyncio.gather(supervising, return_exceptions=True)
        await runner.cleanup()
        store.close()
        if credentials is not None:
            credentials.cleanup()


def _signing_key(data_dir: pathlib.Path | None) -> bytes | None:
    """The service-account signing key kept with the state, so tokens outlive a restart."""
    if data_dir is None:
        return None
    return storage.private_random_bytes(data_dir / "service-account.key", size=32)


def _bound_port(runner: web.AppRunner, fallback: int) -> int:
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            return int(address[1])
    return fallback
