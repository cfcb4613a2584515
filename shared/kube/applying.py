"""Server-side apply and the other object operations by apiVersion/kind.

``Objects`` resolves each manifest's resource through ``Discovery`` and
sends one request per operation. ``apply`` is a server-side apply
(``application/apply-patch+yaml`` with a field manager); a conflict with
another field manager raises ``errors.ConflictError`` whose
``field_conflicts`` name the contested fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.kube import client, resources


class Objects:
    """Typed-by-GVK access to any object the API server serves."""

    def __init__(self, *, api: client.Client, discovery: resources.Discovery) -> None:
        self.api = api
        self.discovery = discovery

    async def _path(self, obj: Mapping[str, Any], *, subresource: str | None = None) -> str:
        resource = await self.discovery.resolve(obj["apiVersion"], obj["kind"])
        metadata = obj.get("metadata", {})
        return resource.path(
            namespace=metadata.get("namespace"), name=metadata["name"], subresource=subresource
        )

    async def get(
        self, api_version: str, kind: str, name: str, *, namespace: str | None = None
    ) -> dict[str, Any]:
        resource = await self.discovery.resolve(api_version, kind)
        got: dict[str, Any] = await self.api.request(
            "GET", resource.path(namespace=namespace, name=name), verb="get"
        )
        return got

    async def list(
        self, resource: resources.Resource, *, label_selector: str
    ) -> list[dict[str, Any]]:
        """Every object of ``resource`` (in all namespaces) that ``label_selector`` selects.

        Read in pages of 500; each item gets the ``apiVersion`` and ``kind``
        that a list answer leaves out.
        """
        items: list[dict[str, Any]] = []
        query = {"labelSelector": label_selector, "limit": "500"}
        while True:
            page = await self.api.request("GET", resource.path(), query=query, verb="list")
            for item in page.get("items") or []:
                items.append({"apiVersion": resource.api_version, "kind": resource.kind, **item})
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return items
            query = {**query, "continue": token}

    async def apply(
        self,
        obj: dict[str, Any],
        *,
        field_manager: str,
        force: bool = False,
        dry_run: bool = False,
        subresource: str | None = None,
    ) -> dict[str, Any]:
        """Server-side apply ``obj``; returns the object as the server stored it."""
        query = {"fieldManager": field_manager}
        if force:
            query["force"] = "true"
        if dry_run:
            query["dryRun"] = "All"
        applied: dict[str, Any] = await self.api.request(
            "PATCH",
            await self._path(obj, subresource=subresource),
            query=query,
            body=obj,
            content_type=client.APPLY_PATCH,
            verb="patch",
        )
        return applied

    async def patch(
        self,
        obj: Mapping[str, Any],
        body: Any,
        *,
        content_type: str,
        field_manager: str | None = None,
    ) -> dict[str, Any]:
        """Patch ``obj`` with ``body`` (a JSON or merge patch); returns the patched object."""
        patched: dict[str, Any] = await self.api.request(
            "PATCH",
            await self._path(obj),
            query={"fieldManager": field_manager} if field_manager else None,
            body=body,
            content_type=content_type,
            verb="patch",
        )
        return patched

    async def delete(
        self, obj: dict[str, Any], *, propagation: str = "Background"
    ) -> dict[str, Any] | None:
        """Delete ``obj``; returns the server's answer (the object or a Status)."""
        body = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": propagation}
        answer: dict[str, Any] | None = await self.api.request(
            "DELETE", await self._path(obj), body=body, verb="delete"
        )
        return answer
