"""What a HelmRelease applied, read as Flux's CLI reads it: from Helm's release storage.

``applied`` finds the storage Secret of the release's latest snapshot
(``status.history[0]``: ``sh.helm.release.v1.<name>.v<version>`` in
``status.storageNamespace``), decodes it with the Helm engine's own codec
(``controllers.helm.engine.storage``, so the CLI and helm-controller cannot
disagree on Helm's format) and returns the objects of its manifest, hooks
excluded as Helm keeps them apart. A namespaced object written without a
namespace gets the release's. When the install or upgrade CRD policy is not
``Skip``, the CRDs carrying the HelmRelease's owner labels are added, as
Flux adds them. A HelmRelease that targets another cluster
(``spec.kubeConfig``), has no snapshot yet, or whose Secret is gone
applied nothing that can be read here: an empty list.

``owner`` reads the owner labels helm-controller puts on every object it
applies (``helm.toolkit.fluxcd.io/name`` and ``/namespace``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from headwater.cli import session
from shared.kube import client, errors, inventory, manifests, resources

GROUP = "helm.toolkit.fluxcd.io"
OWNER_NAME = f"{GROUP}/name"
OWNER_NAMESPACE = f"{GROUP}/namespace"
_CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


def owner(labels: Mapping[str, str], default_namespace: str) -> tuple[str, str] | None:
    """The (namespace, name) of the HelmRelease that applied an object, or None."""
    name = labels.get(OWNER_NAME)
    if not name:
        return None
    return labels.get(OWNER_NAMESPACE) or default_namespace, name


def _installs_crds(spec: Mapping[str, Any]) -> bool:
    policies = [((spec.get(action) or {}).get("crds") or "") for action in ("install", "upgrade")]
    return any(policy not in ("", "Skip") for policy in policies)


async def _manifest(api: client.Client, hr: Mapping[str, Any]) -> tuple[str, str] | None:
    """The latest release's manifest and namespace, or None when there is none to read."""
    from controllers.helm.engine import failures, storage

    status = hr.get("status") or {}
    history = status.get("history") or []
    storage_namespace = status.get("storageNamespace")
    if not history or not storage_namespace:
        return None
    latest = history[0]
    path = resources.SECRETS.path(
        namespace=storage_namespace, name=storage.secret_name(latest["name"], latest["version"])
    )
    try:
        secret = await api.request("GET", path)
    except errors.NotFoundError:
        return None
    try:
        record = storage.from_secret(secret)
    except failures.StorageError as error:
        name = hr["metadata"]["name"]
        raise session.CliError(
            f"cannot decode the Helm storage of HelmRelease {name}: {error}"
        ) from error
    return record.manifest, str(latest.get("namespace") or record.namespace)


async def _crds(api: client.Client, hr: Mapping[str, Any]) -> list[inventory.Ref]:
    metadata = hr["metadata"]
    selector = f"{OWNER_NAME}={metadata['name']},{OWNER_NAMESPACE}={metadata['namespace']}"
    listing = await api.request("GET", _CRDS, query={"labelSelector": selector})
    return [
        inventory.Ref(group="apiextensions.k8s.io", kind="CustomResourceDefinition", namespace="",
                      name=item["metadata"]["name"])
        for item in listing.get("items") or ()
    ]  # fmt: skip


async def applied(
    api: client.Client, hr: Mapping[str, Any], discovery: resources.Discovery
) -> list[inventory.Ref]:
    """The objects the HelmRelease ``hr`` applied (see the module docstring)."""
    spec = hr.get("spec") or {}
    if spec.get("kubeConfig"):
        return []
    found = await _manifest(api, hr)
    if found is None:
        return []
    manifest, release_namespace = found
    try:
        documents = manifests.load_all(manifest)
    except manifests.ManifestError as error:
        raise session.CliError(
            f"the release manifest of HelmRelease {hr['metadata']['name']} is not YAML: {error}"
        ) from error
    refs: list[inventory.Ref] = []
    for document in documents:
        ref = inventory.Ref.of(document)
        if not ref.namespace:
            try:
                resource = await discovery.resolve(ref.api_version, ref.kind)
            except errors.NotFoundError:
                resource = None
            if resource is not None and resource.namespaced:
                ref = inventory.Ref(group=ref.group, kind=ref.kind, namespace=release_namespace,
                                    name=ref.name, version=ref.version)  # fmt: skip
        refs.append(ref)
    if _installs_crds(spec):
        known = {ref.key for ref in refs}
        refs += [crd for crd in await _crds(api, hr) if crd.key not in known]
    return refs
