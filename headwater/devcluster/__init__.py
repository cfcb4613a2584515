"""devcluster: a Kubernetes-API-compatible server for tests and ``headwater dev``.

A server, not a controller: it imports nothing from ``shared.runtime`` or
``controllers``. Real clients (kubectl, Helm's client-go, kubernetes-asyncio)
are the judges of its faithfulness.
"""
