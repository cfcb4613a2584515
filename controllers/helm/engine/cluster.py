"""A release's objects in the cluster: apply, delete, wait — through ``shared.kube``.

``Cluster`` wraps the resource manager (server-side apply with the engine's
field manager, forcing conflicts as Flux does with Helm 4; drift known from
watch caches when a ``LiveSource`` is given) and adds what Helm does on top:

- ``prepare``: namespaced objects without a namespace go to the release's
  namespace, cluster-scoped ones lose any namespace, and every object gets
  Helm's ownership metadata (annotations ``meta.helm.sh/release-name``,
  ``meta.helm.sh/release-namespace``, label ``app.kubernetes.io/managed-by:
  Helm``) so Helm adopts it as the release's;
- ``check_ownership``: without take-over, an existing object that belongs
  to no release or to another one fails the action, with Helm's words;
- ``apply``: server-side through the resource manager's stages, or
  client-side (``clientside``) for releases applied that way;
- ``delete``: objects that left the release, in reverse install order,
  except those annotated ``helm.sh/resource-policy: keep``;
- ``wait_ready`` (kstatus, Jobs included unless told not to) and
  ``wait_deleted``;
- ``kubeconfig``: the same cluster and credentials for the Helm SDK.

Kubernetes errors become ``ClusterError`` with a message fit for a
condition; the actions turn it into the failed revision.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from controllers.helm.engine import clientside, manifests, requests
from shared.kube import (
    applying,
    changesets,
    client,
    errors,
    health,
    inventory,
    resourcemanager,
    resources,
    waiting,
)

RELEASE_NAME = "meta.helm.sh/release-name"
RELEASE_NAMESPACE = "meta.helm.sh/release-namespace"
MANAGED_BY = "app.kubernetes.io/managed-by"
FIELD_MANAGER = "helm-controller"
SERVER_SIDE = "ssa"
CLIENT_SIDE = "csa"


class ClusterError(Exception):
    """A cluster operation failed; ``message`` says which object and why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _ref(obj: Mapping[str, Any]) -> inventory.Ref:
    return inventory.Ref.of(obj)


class Cluster:
    """The engine's view of one cluster (see the module docstring)."""

    def __init__(
        self,
        *,
        api: client.Client,
        live: resourcemanager.LiveSource | None = None,
        field_manager: str = FIELD_MANAGER,
        poll_interval: float = 2.0,
        discovery: resources.Discovery | None = None,
    ) -> None:
        self.api = api
        # NB: a discovery shared between engines of one cluster asks each group once.
        self.discovery = discovery if discovery is not None else resources.Discovery(api)
        self.objects = applying.Objects(api=api, discovery=self.discovery)
        self.manager = resourcemanager.ResourceManager(
            objects=self.objects,
            live=live,
            field_manager=field_manager,
            group=requests.HELM_GROUP,
        )
        self.poll_interval = poll_interval

    async def prepare(
        self,
        objects: Iterable[Mapping[str, Any]],
        *,
        release: str,
        namespace: str,
        ownership: bool = True,
    ) -> list[dict[str, Any]]:
        """The objects as the release applies them (hooks: without ``ownership``)."""
        prepared: list[dict[str, Any]] = []
        for obj in objects:
            desired = copy.deepcopy(dict(obj))
            metadata = desired.setdefault("metadata", {})
            try:
                resource = await self.discovery.resolve(desired["apiVersion"], desired["kind"])
            except errors.NotFoundError:
                resource = None  # NB: a CRD of the same release may serve it after its stage
            except (KeyError, errors.KubeError) as error:
                raise ClusterError(f"cannot resolve {_ref(desired)}: {error}") from error
            if resource is None or resource.namespaced:
                metadata["namespace"] = metadata.get("namespace") or namespace
            else:
                metadata.pop("namespace", None)
            if not ownership:
                prepared.append(desired)
                continue
            metadata["annotations"] = {
                **(metadata.get("annotations") or {}),
                RELEASE_NAME: release,
                RELEASE_NAMESPACE: namespace,
            }
            metadata["labels"] = {**(metadata.get("labels") or {}), MANAGED_BY: "Helm"}
            prepared.append(desired)
        return prepared

    async def check_ownership(
        self, objects: Sequence[Mapping[str, Any]], *, release: str, namespace: str
    ) -> None:
        """Refuse objects that exist and belong to no release or another (Helm's words)."""
        for obj in objects:
            live = await self.get(obj)
            if live is None:
                continue
            metadata = live.get("metadata") or {}
            annotations = metadata.get("annotations") or {}
            wrong = [
                f'annotation validation error: key "{key}" must equal "{want}": '
                f'current value is "{annotations.get(key, "")}"'
                for key, want in ((RELEASE_NAME, release), (RELEASE_NAMESPACE, namespace))
                if annotations.get(key) != want
            ]
            if wrong:
                raise ClusterError(
                    f"{_ref(obj)} exists and cannot be imported into the current release: "
                    f"invalid ownership metadata; {'; '.join(wrong)}"
                )

    async def get(self, obj: Mapping[str, Any]) -> dict[str, Any] | None:
        ref = _ref(obj)
        try:
            return await self.objects.get(
                str(obj.get("apiVersion", "")), ref.kind, ref.name, namespace=ref.namespace or None
            )
        except errors.NotFoundError:
            return None
        except errors.KubeError as error:
            raise ClusterError(f"cannot read {ref}: {error.message}") from error

    async def apply(
        self,
        objects: Sequence[Mapping[str, Any]],
        *,
        origin: requests.Origin,
        force: bool = False,
        within: float,
        method: str = SERVER_SIDE,
        previous: Sequence[Mapping[str, Any]] = (),
    ) -> changesets.ChangeSet:
        """Apply ``objects``; what each became, or ``ClusterError`` on failure.

        Server-side apply (``ssa``) goes through the resource manager's
        stages; client-side apply (``csa``) creates or merge-patches each
        object in install order (``clientside``), ``previous`` telling which
        fields the release dropped.
        """
        owner = changesets.Owner(
            name=origin.name, namespace=origin.namespace, group=requests.HELM_GROUP
        )
        if method == CLIENT_SIDE:
            try:
                return await clientside.apply(
                    self.objects,
                    sort_for_install(objects),
                    previous=previous,
                    manager=self.manager.field_manager,
                    force=force,
                    within=within,
                )
            except clientside.ClientSideError as error:
                raise ClusterError(str(error)) from error
            except (errors.KubeError, TimeoutError) as error:
                raise ClusterError(f"apply failed: {error}") from error
        try:
            return await self.manager.apply_all(
                objects,
                owner=owner,
                force=force,
                wait_interval=self.poll_interval,
                wait_timeout=within,
            )
        except resourcemanager.ApplyError as error:
            raise ClusterError(str(error)) from error
        except waiting.WaitError as error:
            raise ClusterError(error.message) from error
        except (errors.KubeError, TimeoutError) as error:
            raise ClusterError(f"apply failed: {error}") from error

    async def create_namespace(self, name: str) -> None:
        """Create the namespace unless it exists (Helm's ``createNamespace``)."""
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        if await self.get(body) is not None:
            return
        try:
            await self.api.request("POST", "/api/v1/namespaces", body=body, verb="create")
        except errors.AlreadyExistsError:
            return
        except errors.KubeError as error:
            raise ClusterError(f"cannot create namespace {name}: {error.message}") from error

    async def delete(
        self, objects: Sequence[Mapping[str, Any]], *, propagation: str = "Background"
    ) -> list[inventory.Ref]:
        """Delete ``objects`` but kept ones, in reverse install order; returns what was deleted."""
        ordered = list(reversed(sort_for_install(objects)))
        deleted: list[inventory.Ref] = []
        failed: list[str] = []
        for obj in ordered:
            if manifests.kept(obj):
                continue
            try:
                await self.objects.delete(dict(obj), propagation=propagation.capitalize())
                deleted.append(_ref(obj))
            except errors.NotFoundError:
                continue
            except errors.KubeError as error:
                failed.append(f"{_ref(obj)}: {error.message}")
        if failed:
            raise ClusterError(f"failed to delete: {'; '.join(failed)}")
        return deleted

    async def wait_ready(
        self,
        objects: Sequence[Mapping[str, Any]],
        *,
        within: float,
        jobs: bool = True,
        readers: tuple[health.Reader, ...] = (),
    ) -> None:
        """Wait until every object is Current (``readers``, then kstatus); Jobs when ``jobs``."""
        refs = [
            _ref(obj)
            for obj in objects
            if jobs or not (obj.get("kind") == "Job" and _ref(obj).group == "batch")
        ]
        try:
            await self.manager.wait(
                refs, interval=self.poll_interval, within=within, readers=readers
            )
        except waiting.WaitError as error:
            raise ClusterError(error.message) from error

    async def wait_deleted(self, refs: Sequence[inventory.Ref], *, within: float) -> None:
        try:
            await self.manager.wait_for_termination(
                refs, interval=self.poll_interval, within=within
            )
        except waiting.WaitError as error:
            raise ClusterError(f"timed out waiting for deletion: {error.message}") from error
        except errors.KubeError as error:
            raise ClusterError(f"cannot tell whether objects are gone: {error.message}") from error

    async def kubeconfig(self) -> str:
        """A kubeconfig for the Helm SDK reaching this cluster as the engine's client does.

        Built per call: a bearer token from an exec plugin may have been
        refreshed since the last one. Impersonation carries over (``as``).
        """
        connection = self.api.configuration
        cluster_entry: dict[str, Any] = {"server": self.api.host}
        if connection.ca_file:
            cluster_entry["certificate-authority"] = connection.ca_file
        if connection.ca_data:
            cluster_entry["certificate-authority-data"] = _b64(connection.ca_data)
        if connection.insecure_skip_tls_verify:
            cluster_entry["insecure-skip-tls-verify"] = True
        if connection.tls_server_name:
            cluster_entry["tls-server-name"] = connection.tls_server_name
        user: dict[str, Any] = {}
        if connection.cert_file:
            user["client-certificate"] = connection.cert_file
        if connection.cert_data:
            user["client-certificate-data"] = _b64(connection.cert_data)
        if connection.key_file:
            user["client-key"] = connection.key_file
        if connection.key_data:
            user["client-key-data"] = _b64(connection.key_data)
        authorization = await connection.authorization() or ""
        if authorization.startswith("Bearer "):
            user["token"] = authorization.removeprefix("Bearer ").strip()
        elif connection.username is not None and connection.password is not None:
            user["username"], user["password"] = connection.username, connection.password
        if self.api.impersonated_user:
            user["as"] = self.api.impersonated_user
        document = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "target", "cluster": cluster_entry}],
            "users": [{"name": "engine", "user": user}],
            "contexts": [{"name": "target", "context": {"cluster": "target", "user": "engine"}}],
            "current-context": "target",
        }
        return json.dumps(document)

    async def status(self, obj: Mapping[str, Any]) -> health.Result:
        return await self.manager.status(_ref(obj))

    async def sleep(self) -> None:
        await asyncio.sleep(self.poll_interval)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def sort_for_install(objects: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Objects in Helm's install order of kinds (unknown kinds last, alphabetically)."""
    return sorted(objects, key=lambda obj: manifests.kind_key(str(obj.get("kind", ""))))
