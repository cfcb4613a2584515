"""REST handlers: one function per verb, from HTTP request to ``Cluster`` call.

Handlers decode the request (``requests``), call the cluster, and encode
the reply: JSON objects, lists (with ``limit``/``continue`` pagination),
Tables when the Accept header asks for them, ``Warning`` headers, and watch
streams (``watching_http``). Errors are raised as ``ApiError`` and turned
into Status bodies by the server's middleware.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from aiohttp import web

from devcluster.endpoints import requests, tables, watch_stream
from devcluster.fieldmanager import fieldmanager
from devcluster.machinery import errors, objects, selectors
from devcluster.patching import patches
from devcluster.registry import cluster as cluster_mod
from devcluster.registry import scaling
from devcluster.serializers import encoding

Obj = dict[str, Any]
JSON = "application/json"


def dumps(body: Any) -> bytes:
    return encoding.to_json(body)


def reply(
    body: Any, *, status: int = 200, warnings: list[str] | None = None, content_type: str = JSON
) -> web.Response:
    response = web.Response(
        body=dumps(body), status=status, content_type=content_type.split(";")[0]
    )
    if ";" in content_type:
        response.headers["Content-Type"] = content_type
    for warning in warnings or ():
        # RFC 7234 warn-text is a quoted-string: escape backslashes and quotes.
        text = warning.replace("\\", "\\\\").replace('"', '\\"')
        response.headers.add("Warning", f'299 - "{text}"')
    return response


def write_options(request: web.Request) -> cluster_mod.WriteOptions:
    query = request.query
    dry_run = query.getall("dryRun", [])
    for value in dry_run:
        if value != "All":
            raise errors.bad_request(f'unsupported dryRun value "{value}": valid values are "All"')
    validation = query.get("fieldValidation") or "Warn"
    if validation not in ("Strict", "Warn", "Ignore"):
        raise errors.bad_request(
            f"fieldValidation parameter {validation} is invalid; valid options are Ignore, "
            "Warn, Strict"
        )
    return cluster_mod.WriteOptions(
        dry_run=bool(dry_run),
        manager=query.get("fieldManager"),
        field_validation=validation,
        force=requests.flag(query, "force"),
        user_agent=request.headers.get("User-Agent"),
    )


async def read_body(request: web.Request, opts: cluster_mod.WriteOptions) -> Any:
    """The decoded body; duplicate fields are handled per ``fieldValidation``."""
    raw = await request.read()
    if not raw:
        raise errors.bad_request("the request body is empty")
    opts.raw_body = raw
    duplicates: list[str] = []
    body = requests.decode_body(raw, request.headers.get("Content-Type"), duplicates)
    messages = [f'duplicate field "{key}"' for key in duplicates]
    if messages and opts.field_validation == "Strict":
        raise errors.bad_request("strict decoding error: " + ", ".join(messages))
    if opts.field_validation == "Warn":
        opts.warnings.extend(messages)
    return body


def _render_one(
    request: web.Request,
    target: requests.Target,
    obj: Obj,
    *,
    status: int = 200,
    warnings: list[str] | None = None,
) -> web.Response:
    version = tables.negotiate(request.headers.get("Accept"))
    if version is not None:
        body = tables.table(
            target.resource,
            [obj],
            version=version,
            include=request.query.get("includeObject", "Metadata"),
        )
        return reply(
            body,
            status=status,
            warnings=warnings,
            content_type=f"application/json;as=Table;v={version};g=meta.k8s.io",
        )
    return reply(obj, status=status, warnings=warnings)


async def get(
    request: web.Request, state: cluster_mod.Cluster, target: requests.Target
) -> web.Response:
    assert target.name is not None
    obj = state.get(target.resource, target.namespace or "", target.name)
    return _render_one(request, target, obj)


def _continue_token(version: int, after: tuple[str, str]) -> str:
    raw = json.dumps({"v": version, "after": list(after)}).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _parse_continue(token: str) -> tuple[str, str]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        return str(data["after"][0]), str(data["after"][1])
    except (ValueError, KeyError, IndexError, TypeError, binascii.Error) as error:
        raise errors.bad_request("continue key is not valid: invalid continue token") from error


def _check_list_version(text: str | None, match: str | None, current: int) -> None:
    """A list is served from the current state; refuse what that cannot honour."""
    if match and not text:
        raise errors.invalid(
            "meta.k8s.io",
            "ListOptions",
            "",
            [
                (
                    "FieldValueForbidden",
                    "resourceVersionMatch",
                    "Forbidden: resourceVersionMatch is forbidden unless resourceVersion is"
                    " provided",
                )
            ],
        )
    if not text or text == "0":
        return
    try:
        wanted = int(text)
    except ValueError as error:
        raise errors.bad_request(f"invalid resource version: {text}") from error
    if wanted > current:
        raise errors.ApiError(
            504,
            "Timeout",
            f"Too large resource version: {wanted}, current: {current}",
            details={
                "causes": [
                    {"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}
                ],
                "retryAfterSeconds": 1,
            },
        )
    if match == "Exact" and wanted != current:
        raise errors.expired(f"too old resource version: {wanted} ({current})")


async def list_or_watch(
    request: web.Request, state: cluster_mod.Cluster, target: requests.Target
) -> web.StreamResponse:
    query = request.query
    labels = selectors.parse_labels(query.get("labelSelector"))
    fields = selectors.parse_fields(query.get("fieldSelector"))
    if requests.flag(query, "watch"):
        return await watch_stream.serve(request, state, target, labels=labels, fields=fields)
    items = [
        obj
        for obj in state.list(target.resource, target.namespace)
        if selectors.labels_match(labels, obj) and selectors.fields_match(fields, obj)
    ]
    version = state.store.current_version()
    _check_list_version(query.get("resourceVersion"), query.get("resourceVersionMatch"), version)
    token = query.get("continue")
    if token:
        after = _parse_continue(token)
        items = [
            o for o in items if (o["metadata"].get("namespace", ""), o["metadata"]["name"]) > after
        ]
    list_meta: Obj = {"resourceVersion": str(version)}
    limit_text = query.get("limit")
    if limit_text:
        try:
            limit = int(limit_text)
        except ValueError as error:
            raise errors.bad_request(f"invalid limit: {limit_text}") from error
        if 0 < limit < len(items):
            last = items[limit - 1]["metadata"]
            list_meta["continue"] = _continue_token(
                version, (last.get("namespace", ""), last["name"])
            )
            list_meta["remainingItemCount"] = len(items) - limit
            items = items[:limit]
    table_version = tables.negotiate(request.headers.get("Accept"))
    if table_version is not None:
        body = tables.table(
            target.resource,
            items,
            version=table_version,
            include=query.get("includeObject", "Metadata"),
            list_meta=list_meta,
        )
        return reply(
            body, content_type=f"application/json;as=Table;v={table_version};g=meta.k8s.io"
        )
    res = target.resource
    # Built-in list responses carry no kind/apiVersion per item; custom ones do.
    if res.crd is None:
        items = [{k: v for k, v in o.items() if k not in ("apiVersion", "kind")} for o in items]
    return reply(
        {
            "kind": res.list_kind,
            "apiVersion": res.group_version,
            "metadata": list_meta,
            "items": items,
        }
    )


async def create(
    request: web.Request, state: cluster_mod.Cluster, target: requests.Target
) -> web.Response:
    opts = write_options(request)
    body = await read_body(request, opts)
    if target.name is not None:
        raise errors.method_not_allowed()
    namespace = target.namespace or ""
    if target.resource.namespaced and target.namespace is None:
        given = (body.get("metadata") or {}).get("namespace") if isinstance(body, dict) else None
        if not isinstance(given, str) or not given:
            raise errors.method_not_allowed()
        namespace = given
    obj = state.create(target.resource, namespace, body, opts)
    return _render_one(request, target, obj, status=201, warnings=opts.warnings)


async def replace(
    request: web.Request, state: cluster_mod.Cluster, target: requests.Target
) -> web.Response:
    if target.name is None:
        raise errors.method_not_allowed()
    opts = write_options(request)
    body = await read_body(request, opts)
    obj = state.replace(
        target.resource,
        target.namespace or "",
        target.name,
        body,
        opts,
        subresource=target.subresource,
    )
    return _render_one(request, target, obj, warnings=opts.warnings)


async def patch(
    request: web.Request, state: cluster_mod.Cluster, target: requests.Target
) -> web.Response:
    if target.name is None:
        raise errors.method_not_allowed()
    kind = requests.media_type(request.headers.get("Content-Type"))
    if kind not in requests.PATCH_TYPES:
        raise errors.unsupported_media(request.headers.get("Content-Type", ""))
    opts = write_options(request)
    fieldmanager.check_force(opts.force, apply=kind == "application/apply-patch+yaml")
    body = await read_body(request, opts)
    res = target.resource
    namespace = target.namespace or ""
    if kind == "application/apply-patch+yaml":
        obj, created = apply(state, target, body, opts)
        return _render_one(
            request, target, obj, status=201 if created else 200, warnings=opts.warnings
        )
    current = state.get(res, namespace, target.name)
    try:
        if kind == "application/merge-patch+json":
            if not isinstance(body, dict):
                raise errors.bad_request("merge patch must be a JSON object")
            patched = patches.merge_patch(current, body)
        elif kind == "application/json-patch+json":
            patched = patches.json_patch(current, body)
        else:
            if res.crd is not None:
                raise errors.unsupported_media(kind)
            if not isinstance(body, dict):
                raise errors.bad_request("strategic merge patch must be a JSON object")
            patched = patches.strategic_merge_patch(current, body, schema=state.object_type(res))
    except patches.MalformedPatchError as error:
        raise errors.bad_request(str(error)) from error
    except patches.PatchApplyError as error:
        raise errors.ApiError(422, "Invalid", str(error)) from error
    if not isinstance(patched, dict):
        raise errors.bad_request("the patch result is not an object")
    patched = objects.clone(patched)
    metadata = patched.setdefault("metadata", {})
    # A resourceVersion in the patch is a precondition; none means "latest".
    if not metadata.get("resourceVersion"):
        metadata["resourceVersion"] = current["metadata"].get("resourceVersion")
    obj = state.replace(res, namespace, target.name, patched, opts, subresource=target.subresource)
    return _render_one(request, target, obj, warnings=opts.warnings)


def apply(
    state: cluster_mod.Cluster, target: requests.Target, body: Any, opts: cluster_mod.WriteOptions
) -> tuple[Obj, bool]:
    assert target.name is not None
    fieldmanager.check_manager(opts.manager, apply=True)
    if not isinstance(body, dict):
        raise errors.bad_request("the apply configuration must be an object")
    return state.apply(
        target.resource,
        target.namespace or "",
        target.name,
        body,
        opts,
        subresource=target.subresource,
    )


async def delete(
    request: web.Request, state: cluster_mod.Cluster, target: requests.Target
) -> web.Response:
    if target.name is None or target.subresource:
        raise errors.method_not_allowed()
    opts = write_options(request)
    raw = await request.read()
    options: Obj = {}
    if raw:
        decoded = requests.decode_body(raw, request.headers.get("Content-Type"))
        if isinstance(decoded, dict):
            options = decoded
    if request.query.get("propagationPolicy"):
        options["propagationPolicy"] = request.query["propagationPolicy"]
    obj, gone = state.delete(target.resource, target.namespace or "", target.name, options, opts)
    res = target.resource
    if gone and res.crd is None:
        details: Obj = {
            "name": target.name,
            "kind": res.plural,
            "uid": objects.meta(obj).get("uid"),
        }
        if res.group:
            details["group"] = res.group
        return reply(
            {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Success",
                "details": details,
            },
            warnings=opts.warnings,
        )
    return reply(obj, warnings=opts.warnings)


async def delete_collection(
    request: web.Request, state: cluster_mod.Cluster, target: requests.Target
) -> web.Response:
    opts = write_options(request)
    labels = selectors.parse_labels(request.query.get("labelSelector"))
    fields = selectors.parse_fields(request.query.get("fieldSelector"))
    deleted = []
    for obj in state.list(target.resource, target.namespace):
        if selectors.labels_match(labels, obj) and selectors.fields_match(fields, obj):
            meta = obj["metadata"]
            gone, _ = state.delete(
                target.resource, meta.get("namespace", ""), meta["name"], {}, opts
            )
            deleted.append(gone)
    res = target.resource
    return reply(
        {
            "kind": res.list_kind,
            "apiVersion": res.group_version,
            "metadata": {"resourceVersion": str(state.store.current_version())},
            "items": deleted,
        }
    )


async def scale(
    request: web.Request, state: cluster_mod.Cluster, target: requests.Target
) -> web.Response:
    """GET/PUT/PATCH of ``/scale``: a Scale view onto ``spec.replicas``."""
    assert target.name is not None
    res = target.resource
    namespace = target.namespace or ""
    current = state.get(res, namespace, target.name)
    if request.method == "GET":
        return reply(scaling.view(current))
    opts = write_options(request)
    body = await read_body(request, opts)
    if request.method == "PUT":
        if not isinstance(body, dict):
            raise errors.bad_request("the body must be a Scale object")
        wanted = body
    elif request.method == "PATCH":
        kind = requests.media_type(request.headers.get("Content-Type"))
        if kind not in requests.PATCH_TYPES or kind == "application/apply-patch+yaml":
            raise errors.unsupported_media(request.headers.get("Content-Type", ""))
        wanted = scaling.patched_view(current, kind, body)
    else:
        raise errors.method_not_allowed()
    updated = scaling.scaled(current, wanted)
    obj = state.replace(res, namespace, target.name, updated, opts)
    return reply(scaling.view(obj), warnings=opts.warnings)
