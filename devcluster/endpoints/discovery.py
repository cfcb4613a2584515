"""Discovery documents: aggregated (apidiscovery.k8s.io v2/v2beta1) and legacy.

kubectl and client-go ask ``/api`` and ``/apis`` for the aggregated form
first (``Accept: application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList``,
Helm also offers v2beta1) and use it only when the reply's Content-Type names
exactly the variant served; otherwise they read the legacy documents
(``APIVersions``, ``APIGroupList``, one ``APIResourceList`` per group-version).
All are built from the registry on each request, so a CRD appears as soon as
it is stored.
"""

from __future__ import annotations

from typing import Any

from devcluster.registry import scaling
from devcluster.schemas import resources

AGGREGATED = "apidiscovery.k8s.io"
_SUBRESOURCE_VERBS = ["get", "patch", "update"]


def negotiate_aggregated(accept: str | None) -> str | None:
    """The aggregated version (``v2``/``v2beta1``) the Accept header asks for first, if any."""
    for part in (accept or "").split(","):
        params = dict(item.strip().split("=", 1) for item in part.split(";")[1:] if "=" in item)
        if (
            params.get("g") == AGGREGATED
            and params.get("as") == "APIGroupDiscoveryList"
            and params.get("v") in ("v2", "v2beta1")
        ):
            return params["v"]
    return None


def aggregated_content_type(version: str) -> str:
    return f"application/json;g={AGGREGATED};v={version};as=APIGroupDiscoveryList"


def _resource_entry(res: resources.Resource) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "resource": res.plural,
        "responseKind": {"group": res.group, "version": res.version, "kind": res.kind},
        "scope": "Namespaced" if res.namespaced else "Cluster",
        "singularResource": res.singular,
        "verbs": list(res.verbs),
    }
    if res.short_names:
        entry["shortNames"] = list(res.short_names)
    if res.categories:
        entry["categories"] = list(res.categories)
    subresources = []
    if res.has_status:
        subresources.append(
            {
                "subresource": "status",
                "responseKind": {"group": res.group, "version": res.version, "kind": res.kind},
                "verbs": _SUBRESOURCE_VERBS,
            }
        )
    if res.key in scaling.SCALABLE:
        subresources.append(
            {
                "subresource": "scale",
                "responseKind": {"group": "autoscaling", "version": "v1", "kind": "Scale"},
                "verbs": _SUBRESOURCE_VERBS,
            }
        )
    if res.key == "/serviceaccounts":
        subresources.append(
            {
                "subresource": "token",
                "responseKind": {
                    "group": "authentication.k8s.io",
                    "version": "v1",
                    "kind": "TokenRequest",
                },
                "verbs": ["create"],
            }
        )
    if subresources:
        entry["subresources"] = subresources
    return entry


def aggregated(registry: resources.Registry, *, legacy: bool, version: str) -> dict[str, Any]:
    """``APIGroupDiscoveryList`` of the core group (``legacy``) or of every named group."""
    items = []
    for group, versions in registry.group_versions().items():
        if (group == "") != legacy:
            continue
        items.append(
            {
                "metadata": {"name": group} if group else {},
                "versions": [
                    {
                        "version": v,
                        "resources": [
                            _resource_entry(r)
                            for r in sorted(
                                registry.in_group_version(group, v), key=lambda r: r.plural
                            )
                        ],
                        "freshness": "Current",
                    }
                    for v in versions
                ],
            }
        )
    return {
        "kind": "APIGroupDiscoveryList",
        "apiVersion": f"{AGGREGATED}/{version}",
        "metadata": {},
        "items": items,
    }


def api_versions(server_address: str) -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


def _group(group: str, versions: list[str]) -> dict[str, Any]:
    entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"name": group, "versions": entries, "preferredVersion": entries[0]}


def group_list(registry: resources.Registry) -> dict[str, Any]:
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [_group(g, vs) for g, vs in registry.group_versions().items() if g],
    }


def group(registry: resources.Registry, name: str) -> dict[str, Any] | None:
    versions = registry.group_versions().get(name)
    if not versions or not name:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(name, versions)}


def resource_list(registry: resources.Registry, group: str, version: str) -> dict[str, Any] | None:
    served = sorted(registry.in_group_version(group, version), key=lambda r: r.plural)
    if not served:
        return None
    entries: list[dict[str, Any]] = []
    for res in served:
        entry: dict[str, Any] = {
            "name": res.plural,
            "singularName": res.singular,
            "namespaced": res.namespaced,
            "kind": res.kind,
            "verbs": list(res.verbs),
        }
        if res.short_names:
            entry["shortNames"] = list(res.short_names)
        if res.categories:
            entry["categories"] = list(res.categories)
        entries.append(entry)
        if res.has_status:
            entries.append(
                {
                    "name": f"{res.plural}/status",
                    "singularName": "",
                    "namespaced": res.namespaced,
                    "kind": res.kind,
                    "verbs": _SUBRESOURCE_VERBS,
                }
            )
    for res in served:
        if res.key == "/serviceaccounts":
            entries.append(
                {
                    "name": f"{res.plural}/token",
                    "singularName": "",
                    "namespaced": res.namespaced,
                    "group": "authentication.k8s.io",
                    "version": "v1",
                    "kind": "TokenRequest",
                    "verbs": ["create"],
                }
            )
        if res.key in scaling.SCALABLE:
            entries.append(
                {
                    "name": f"{res.plural}/scale",
                    "singularName": "",
                    "namespaced": res.namespaced,
                    "group": "autoscaling",
                    "version": "v1",
                    "kind": "Scale",
                    "verbs": _SUBRESOURCE_VERBS,
                }
            )
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": entries,
    }
