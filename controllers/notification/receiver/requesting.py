"""Asking a Receiver's resources to reconcile: the ``requestedAt`` annotation.

For each ``spec.resources`` entry, in the Receiver's namespace unless the
entry names another (refused under ``--no-cross-namespace-refs``): by name,
or with name ``*`` every object of the kind matching ``matchLabels``. Each
selected object that passes the CEL filters gets
``reconcile.fluxcd.io/requestedAt`` set to the current time (RFC 3339 with
nanoseconds, UTC) by one JSON merge patch of its metadata; its controller
reconciles it at once and echoes the value in
``status.lastHandledReconcileAt``.

``apiVersion`` may be left out for the kinds Flux knows a default for
(``DEFAULT_API_VERSIONS``). Failures raise ``RequestError`` with Flux's
messages; a label selection that matches nothing is logged at error level
and is not a failure (as in Flux).
"""

from __future__ import annotations

import datetime
from typing import Any

from controllers.notification.receiver import filtering
from shared.api import meta, notification
from shared.kube import client, errors, resources

DEFAULT_API_VERSIONS = {
    "Bucket": "source.toolkit.fluxcd.io/v1",
    "HelmChart": "source.toolkit.fluxcd.io/v1",
    "HelmRepository": "source.toolkit.fluxcd.io/v1",
    "GitRepository": "source.toolkit.fluxcd.io/v1",
    "OCIRepository": "source.toolkit.fluxcd.io/v1",
    "ImageRepository": "image.toolkit.fluxcd.io/v1",
    "ArtifactGenerator": "source.extensions.fluxcd.io/v1beta1",
}
"""Kinds whose ``apiVersion`` a resource entry may omit (Flux's list)."""


class RequestError(Exception):
    """A resource entry could not be asked to reconcile; the message is Flux's."""


def requested_at() -> str:
    """The annotation value: now, RFC 3339 with nanoseconds in UTC (a fresh value each call)."""
    now = datetime.datetime.now(datetime.UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond:06d}000Z"


def _selector(labels: dict[str, str]) -> str:
    return ",".join(f"{key}={value}" for key, value in sorted(labels.items()))


def _go_map(labels: dict[str, str]) -> str:
    """Labels as Go prints a map (``map[a:b c:d]``), as in Flux's messages."""
    return "map[" + " ".join(f"{k}:{v}" for k, v in sorted(labels.items())) + "]"


class Requester:
    """Annotates the resources of Receivers (see the module docstring)."""

    def __init__(
        self,
        *,
        api: client.Client,
        discovery: resources.Discovery,
        no_cross_namespace_refs: bool,
    ) -> None:
        self._api = api
        self._discovery = discovery
        self._no_cross_namespace_refs = no_cross_namespace_refs

    async def request(
        self,
        ref: notification.ReceiverResource,
        *,
        namespace: str,
        accepts: filtering.Filter,
        log: Any,
    ) -> None:
        """Annotate what ``ref`` selects (``namespace``: the Receiver's); ``RequestError``."""
        if ref.namespace:
            if self._no_cross_namespace_refs and ref.namespace != namespace:
                raise RequestError("cross-namespace references are not allowed")
            namespace = ref.namespace
        api_version = ref.api_version or DEFAULT_API_VERSIONS.get(ref.kind)
        if not api_version:
            raise RequestError(f'apiVersion must be specified for kind "{ref.kind}"')
        try:
            resource = await self._discovery.resolve(api_version, ref.kind)
        except errors.KubeError as error:
            raise RequestError(
                f"unable to find {ref.kind} in {api_version}: {error.message}"
            ) from error
        if ref.name == "*":
            await self._by_labels(ref, resource, namespace=namespace, accepts=accepts, log=log)
            return
        if accepts:
            try:
                found = await self._api.request(
                    "GET", resource.path(namespace=namespace, name=ref.name), verb="get"
                )
            except errors.KubeError as error:
                raise RequestError(
                    f'unable to read {ref.kind} "{namespace}/{ref.name}" error: {error.message}'
                ) from error
            await self._annotate(resource, found, accepts=accepts, log=log)
            return
        # NB: without a filter no read is needed: the patch itself fails on a
        # missing object, so one request per resource.
        stub = {"kind": ref.kind, "metadata": {"name": ref.name, "namespace": namespace}}
        await self._annotate(resource, stub, accepts=accepts, log=log, missing_is_read=True)

    async def _by_labels(
        self,
        ref: notification.ReceiverResource,
        resource: resources.Resource,
        *,
        namespace: str,
        accepts: filtering.Filter,
        log: Any,
    ) -> None:
        if ref.match_labels is None:
            raise RequestError("matchLabels field not set when using wildcard '*' as name")
        log.debug(
            f'annotate resources by matchLabel for kind "{ref.kind}" in "{namespace}"',
            matchLabels=ref.match_labels,
        )
        try:
            listed = await self._api.request(
                "GET",
                resource.path(namespace=namespace),
                query={"labelSelector": _selector(ref.match_labels)},
                verb="list",
            )
        except errors.KubeError as error:
            raise RequestError(
                f'failed listing resources in namespace "{namespace}" by matching labels '
                f'"{_go_map(ref.match_labels)}": {error.message}'
            ) from error
        items = listed.get("items") or []
        if not items:
            log.error(
                "error annotating resources",
                error=f'no "{ref.kind}" resources found with matching labels '
                f'"{_go_map(ref.match_labels)}"\' in "{namespace}" namespace',
            )
            return
        for item in items:
            item.setdefault("kind", ref.kind)
            await self._annotate(resource, item, accepts=accepts, log=log)

    async def _annotate(
        self,
        resource: resources.Resource,
        obj: dict[str, Any],
        *,
        accepts: filtering.Filter,
        log: Any,
        missing_is_read: bool = False,
    ) -> None:
        metadata = obj["metadata"]
        kind, name, namespace = obj["kind"], metadata["name"], metadata.get("namespace") or ""
        described = f"'{kind}/{name}.{namespace}'"
        if accepts:
            res = {"apiVersion": resource.api_version, "kind": kind, "metadata": metadata}
            try:
                accepted = accepts.accepts(res)
            except filtering.FilterError as error:
                raise RequestError(str(error)) from error
            if not accepted:
                log.debug(
                    f"resource {described} NOT annotated because CEL expression returned false"
                )
                return
        body = {"metadata": {"annotations": {meta.RECONCILE_REQUEST_ANNOTATION: requested_at()}}}
        try:
            await self._api.request(
                "PATCH",
                resource.path(namespace=namespace, name=name),
                body=body,
                content_type=client.MERGE_PATCH,
                verb="patch",
            )
        except errors.NotFoundError as error:
            if missing_is_read:
                raise RequestError(
                    f'unable to read {kind} "{namespace}/{name}" error: {error.message}'
                ) from error
            raise self._annotate_failed(described, kind, namespace, name, error) from error
        except errors.KubeError as error:
            raise self._annotate_failed(described, kind, namespace, name, error) from error
        log.info(f"resource {described} annotated")

    @staticmethod
    def _annotate_failed(
        described: str, kind: str, namespace: str, name: str, error: errors.KubeError
    ) -> RequestError:
        return RequestError(
            f"failed to annotate resource: {described}: unable to annotate {kind} "
            f'"{namespace}/{name}" error: {error.message}'
        )
