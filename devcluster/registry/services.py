"""What the API server allocates for Services: cluster IPs and node ports.

A created Service of type ClusterIP, NodePort or LoadBalancer gets a free
``spec.clusterIP`` (and ``clusterIPs``) from 10.96.0.0/12 unless it asks for
one or for ``None`` (headless); NodePort and LoadBalancer ports get a free
``nodePort`` in 30000-32767. Updates keep what was allocated when the new
object leaves it out (clients that never set it, like Helm's legacy ready
checker, rely on it being there).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

Obj = dict[str, Any]
_NETWORK = ipaddress.ip_network("10.96.0.0/12")
_NODE_PORTS = range(30000, 32768)


def _used(services: Iterable[Obj]) -> tuple[set[str], set[int]]:
    addresses: set[str] = set()
    ports: set[int] = set()
    for service in services:
        spec = service.get("spec") or {}
        addresses.update(spec.get("clusterIPs") or [])
        if spec.get("clusterIP"):
            addresses.add(str(spec["clusterIP"]))
        for port in spec.get("ports") or []:
            if isinstance(port, dict) and isinstance(port.get("nodePort"), int):
                ports.add(port["nodePort"])
    return addresses, ports


def allocate(service: Obj, existing: Iterable[Obj]) -> None:
    """Fill the Service's cluster IP and node ports (in place), avoiding ``existing``."""
    spec = service.get("spec")
    if not isinstance(spec, dict):
        return
    kind = spec.get("type") or "ClusterIP"
    if kind == "ExternalName":
        return
    addresses, ports = _used(existing)
    if not spec.get("clusterIP"):
        # The first addresses are the API server's and DNS's, as in a real cluster.
        for host in _NETWORK.hosts():
            text = str(host)
            if int(host) - int(_NETWORK.network_address) > 10 and text not in addresses:
                spec["clusterIP"] = text
                break
    if spec.get("clusterIP") and not spec.get("clusterIPs"):
        spec["clusterIPs"] = [spec["clusterIP"]]
    if kind in ("NodePort", "LoadBalancer"):
        free = (p for p in _NODE_PORTS if p not in ports)
        for port in spec.get("ports") or []:
            if isinstance(port, dict) and not port.get("nodePort"):
                port["nodePort"] = next(free)


def keep_allocated(old: Obj, new: Obj) -> None:
    """Carry the old allocations into ``new`` (in place) where it leaves them out."""
    old_spec = old.get("spec") or {}
    spec = new.get("spec")
    if not isinstance(spec, dict):
        return
    for field in ("clusterIP", "clusterIPs"):
        if not spec.get(field) and old_spec.get(field):
            spec[field] = old_spec[field]
    old_ports = {
        (p.get("port"), p.get("protocol", "TCP")): p.get("nodePort")
        for p in old_spec.get("ports") or []
        if isinstance(p, dict)
    }
    if spec.get("type") in ("NodePort", "LoadBalancer"):
        for port in spec.get("ports") or []:
            if isinstance(port, dict) and not port.get("nodePort"):
                kept = old_ports.get((port.get("port"), port.get("protocol", "TCP")))
                if kept:
                    port["nodePort"] = kept
