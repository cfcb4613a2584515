"""A small fake registry for what the real one cannot show: tag paging, wrong bytes, tokens.

Distribution 2.8 ignores ``n``/``last`` on tag listing and always serves
correct bytes; and token expiry and revocation are easier to stage here than
with the real registry's token mode (``tests/oci/test_tokenauth.py``). This
aiohttp app, served on 127.0.0.1 by ``serving``, answers the few endpoints a
test needs:

- ``GET /v2/<name>/tags/list`` pages by ``n`` and ``last`` with a ``Link``
  header to the next page, as the distribution spec describes;
- ``GET|HEAD|PUT /v2/<name>/manifests/<ref>`` and ``GET /v2/<name>/blobs/<digest>``
  from in-memory dictionaries, where ``corrupt`` replaces the bytes served
  (the digest header stays that of the real content) and ``chunked`` omits
  ``Content-Length``;
- ``GET /v2/<name>/referrers/<digest>`` answers ``referrers`` (an OCI 1.1
  registry's referrers API: an index of the manifests whose subject is the
  digest); without an entry it answers an empty index;
- with ``bearer=True`` every ``/v2/`` request needs a token issued by
  ``GET /token`` (which checks basic credentials when ``users`` is set and
  answers ``expires_in``); issued tokens and token requests are recorded.
"""

from __future__ import annotations

import base64
import collections.abc
import contextlib
import dataclasses
import hashlib
import secrets

from aiohttp import test_utils, web

Handler = collections.abc.Callable[[web.Request], collections.abc.Awaitable[web.StreamResponse]]


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclasses.dataclass
class FakeRegistry:
    """The fake's content, behaviour switches and what it saw."""

    tags: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    manifests: dict[str, tuple[str, bytes]] = dataclasses.field(default_factory=dict)
    """``<name>:<ref>`` → (media type, bytes)."""
    blobs: dict[str, bytes] = dataclasses.field(default_factory=dict)
    referrers: dict[str, list[dict[str, object]]] = dataclasses.field(default_factory=dict)
    """``<name>:<digest>`` → the descriptors the referrers API lists."""
    corrupt: bool = False
    chunked: bool = False
    bearer: bool = False
    users: dict[str, str] = dataclasses.field(default_factory=dict)
    expires_in: int = 300
    next_link: str | None = None
    """When set, the tag list's ``Link`` points there instead of the next page."""
    token_requests: list[dict[str, str]] = dataclasses.field(default_factory=list)
    issued: dict[str, str] = dataclasses.field(default_factory=dict)
    """token → the scope it was issued for."""
    requests: list[str] = dataclasses.field(default_factory=list)
    host: str = ""

    def add_manifest(self, name: str, ref: str, data: bytes, media_type: str) -> str:
        digest = digest_of(data)
        self.manifests[f"{name}:{ref}"] = (media_type, data)
        self.manifests[f"{name}:{digest}"] = (media_type, data)
        return digest

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._auth])
        app.router.add_get("/token", self._token)
        app.router.add_get(r"/v2/{name:.+}/tags/list", self._tags)
        app.router.add_route("*", r"/v2/{name:.+}/manifests/{ref}", self._manifest)
        app.router.add_get(r"/v2/{name:.+}/blobs/{digest}", self._blob)
        app.router.add_get(r"/v2/{name:.+}/referrers/{digest}", self._referrers)
        return app

    @web.middleware
    async def _auth(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.requests.append(f"{request.method} {request.path_qs}")
        if not self.bearer or request.path == "/token":
            return await handler(request)
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer ") and header[len("Bearer ") :] in self.issued:
            return await handler(request)
        name = request.match_info.get("name") or request.path.split("/")[2]
        challenge = (
            f'Bearer realm="http://{self.host}/token",service="fake-registry",'
            f'scope="repository:{name}:pull"'
        )
        return web.json_response(
            {"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]},
            status=401,
            headers={"WWW-Authenticate": challenge},
        )

    async def _token(self, request: web.Request) -> web.Response:
        self.token_requests.append(dict(request.query))
        if self.users:
            header = request.headers.get("Authorization", "")
            user, _, password = (
                base64.b64decode(header[len("Basic ") :]).decode().partition(":")
                if header.startswith("Basic ")
                else ("", "", "")
            )
            if self.users.get(user) != password or not user:
                return web.json_response({"details": "incorrect username or password"}, status=401)
        token = secrets.token_hex(8)
        self.issued[token] = request.query.get("scope", "")
        return web.json_response({"token": token, "expires_in": self.expires_in})

    async def _tags(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        tags = sorted(self.tags.get(name, []))
        if "last" in request.query:
            tags = [tag for tag in tags if tag > request.query["last"]]
        headers = {}
        if "n" in request.query:
            size = int(request.query["n"])
            if len(tags) > size:
                tags = tags[:size]
                target = self.next_link or f"/v2/{name}/tags/list?n={size}&last={tags[-1]}"
                headers["Link"] = f'<{target}>; rel="next"'
        return web.json_response({"name": name, "tags": tags}, headers=headers)

    async def _manifest(self, request: web.Request) -> web.StreamResponse:
        key = f"{request.match_info['name']}:{request.match_info['ref']}"
        if request.method == "PUT":
            data = await request.read()
            name, ref = request.match_info["name"], request.match_info["ref"]
            digest = self.add_manifest(name, ref, data, request.content_type)
            return web.Response(status=201, headers={"Docker-Content-Digest": digest})
        if key not in self.manifests:
            return web.json_response(
                {"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown"}]},
                status=404,
            )
        media_type, data = self.manifests[key]
        headers = {"Docker-Content-Digest": digest_of(data), "Content-Type": media_type}
        served = data.replace(b"}", b" }", 1) if self.corrupt else data
        if request.method == "HEAD":
            return web.Response(headers={**headers, "Content-Length": str(len(data))})
        return web.Response(body=served, headers=headers)

    async def _referrers(self, request: web.Request) -> web.Response:
        key = f"{request.match_info['name']}:{request.match_info['digest']}"
        index = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": self.referrers.get(key, []),
        }
        return web.json_response(index, content_type="application/vnd.oci.image.index.v1+json")

    async def _blob(self, request: web.Request) -> web.StreamResponse:
        digest = request.match_info["digest"]
        data = self.blobs.get(digest)
        if data is None:
            return web.json_response(
                {"errors": [{"code": "BLOB_UNKNOWN", "message": "blob unknown to registry"}]},
                status=404,
            )
        served = bytes(reversed(data)) if self.corrupt else data
        response = web.StreamResponse(headers={"Docker-Content-Digest": digest})
        if self.chunked:
            response.enable_chunked_encoding()
        else:
            response.content_length = len(served)
        await response.prepare(request)
        for start in range(0, len(served), 1024):
            await response.write(served[start : start + 1024])
        await response.write_eof()
        return response


@contextlib.asynccontextmanager
async def serving(fake: FakeRegistry) -> collections.abc.AsyncIterator[FakeRegistry]:
    """Serve ``fake`` on a free 127.0.0.1 port for the block (``fake.host`` is set)."""
    async with test_utils.TestServer(fake.app(), host="127.0.0.1") as server:
        fake.host = f"127.0.0.1:{server.port}"
        yield fake
